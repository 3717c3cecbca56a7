#!/usr/bin/env bash
# Two restores at once end in one of the two tables, never a mix: the
# controller's commands that change the table take a lock
# (/run/lvsnode/controller.lock) and the second one, having waited, reads
# the table the first one left and converges from there.
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"

W=${LAB_WORK:-/tmp}
ip netns add conc
ip -n conc link set lo up
D() { in_ns conc "$@"; }

# rules FILE RIP-BYTE WEIGHT: 600 services x 4 real servers, the same
# services in both files with other real servers and weights, plus services
# only in one of them.
rules() {
	awk -v r="$2" -v w="$3" 'BEGIN {
		for (i = 0; i < 600; i++) {
			vip = sprintf("10.1.%d.%d:80", int(i / 200), i % 200 + 1)
			printf "-A -t %s -s wrr\n", vip
			for (j = 1; j <= 4; j++) printf "-a -t %s -r 10.%d.%d.%d:80 -g -w %d\n", vip, r, int(i / 200), j, w
		}
		printf "-A -u 10.9.%d.1:53 -s rr\n", r
	}' | sort >"$1"
}
rules "$W/a" 2 1
rules "$W/b" 3 2

for round in 1 2 3; do
	step "round $round: restore A and restore B at the same time"
	D ipvsadm -C
	for x in a b; do
		(
			rc=0
			in_ns conc lvsnode controller restore <"$W/$x" >"$W/$x.out" 2>"$W/$x.err" || rc=$?
			echo "$rc" >"$W/$x.rc"
		) &
	done
	wait
	info "A: exit $(cat "$W/a.rc") $(tail -n1 "$W/a.err")"
	info "B: exit $(cat "$W/b.rc") $(tail -n1 "$W/b.err")"
	check "both exit 0" test "$(cat "$W/a.rc")$(cat "$W/b.rc")" = 00
	# The control: the two really overlapped, and one waited for the other.
	check "one of them waited for the lock" grep -qh '^waiting for another lvsnode controller command to finish (pid ' "$W/a.err" "$W/b.err"
	D ipvsadm -S -n | sort >"$W/got"
	if cmp -s "$W/got" "$W/a"; then
		ok "the table is A ($(wc -l <"$W/got") rules)"
	elif cmp -s "$W/got" "$W/b"; then
		ok "the table is B ($(wc -l <"$W/got") rules)"
	else
		info "$(diff "$W/a" "$W/got" | head -5)"
		fail "the table is a mix of A and B"
	fi
done
