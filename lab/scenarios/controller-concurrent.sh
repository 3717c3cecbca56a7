#!/usr/bin/env bash
# Two restores at once end in one of the two tables, never a mix: the
# controller's commands that change the table take a lock
# (/run/lvsnode/controller.<netns inode>.lock) and the second one, having waited, reads
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

# drain-node holds the lock only around its changes: an add-node on another
# service and a second drain run at once during its wait, and timeouts
# (show) never waits. Before the fix, add-node waited out the whole drain.
step "a drain's wait does not hold the lock"
D ipvsadm -C
ip -n conc link add d0 type dummy
ip -n conc addr add 10.0.0.1/24 dev d0
ip -n conc link set d0 up
ip -n conc addr add 10.0.0.100/32 dev lo
for p in 80 82; do
	D ipvsadm -A -t 10.0.0.100:$p -s rr
	D ipvsadm -a -t 10.0.0.100:$p -r 10.0.0.11:$p -g -w 1
done
D ipvsadm -A -t 10.0.0.100:81 -s rr
# A connection to the DR real server 10.0.0.11 (nobody answers: it stays
# in SYN_RECV on the director's table as an inactive entry).
(in_ns conc busybox nc -w 8 10.0.0.100 80 </dev/null >/dev/null 2>&1 || true) &
(in_ns conc busybox nc -w 8 10.0.0.100 82 </dev/null >/dev/null 2>&1 || true) &
sleep 0.5
D ipvsadm -Ln | sed 's/^/    /'
D lvsnode controller drain-node -t 10.0.0.100:80 -r 10.0.0.11 --timeout 6s --force >"$W/dr80" 2>&1 &
d1=$!
sleep 1
t0=$(now_ms)
d2_t0=$t0
D lvsnode controller drain-node -t 10.0.0.100:82 -r 10.0.0.11 --timeout 6s --force >"$W/dr82" 2>&1 &
d2=$!
D lvsnode controller add-node -t 10.0.0.100:81 -r 10.0.0.12 >"$W/add81" 2>&1
add_ms=$(($(now_ms) - t0))
t0=$(now_ms)
D lvsnode controller timeouts >/dev/null
to_ms=$(($(now_ms) - t0))
wait $d1
wait $d2
d2_ms=$(($(now_ms) - d2_t0))
info "add-node during the drain: ${add_ms} ms: $(tr '\n' ' ' <"$W/add81")"
info "timeouts during the drain: ${to_ms} ms"
info "drain :80: $(tr '\n' ' ' <"$W/dr80")"
info "drain :82: ${d2_ms} ms: $(tr '\n' ' ' <"$W/dr82")"
# The control: the drains really waited (their connections outlived 1 s).
check "the first drain waited for its connection" grep -q 'removing anyway (--force)' "$W/dr80"
# add-node may wait a moment for a drain that is setting weight 0 or
# removing (the lock covers those changes), never for a drain's 6 s wait.
check "add-node did not wait out a drain (${add_ms} ms, the drains wait 6 s)" test "$add_ms" -lt 3000
# Its own wait is 6 s; behind the first drain's lock it would be 11 s.
check "the second drain did not wait for the first" test "$d2_ms" -lt 9500
check "both drained real servers removed, the added one there" \
	test "$(D ipvsadm -S -n | grep -c '^-a')" = 1
