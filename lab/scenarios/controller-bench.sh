#!/usr/bin/env bash
# Benchmark (figures, not a timed pass/fail): 1,000 services x 10 real
# servers = 11,000 rules, loaded into an empty table by `ipvsadm -R` and by
# `lvsnode controller restore`, in the same VM run, alternating, two rounds.
# Then a second identical restore, which must make zero changes, and
# listing/clearing for comparison. It fails only on wrong results (rule
# counts, tables differing, a second restore that changes something).
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"

W=${LAB_WORK:-/tmp}
ip netns add bench
ip -n bench link set lo up
B() { in_ns bench "$@"; }

# ms CMD...: run CMD (stdout to $W/cmd.out), print its wall time in ms.
ms() {
	local t0=${EPOCHREALTIME/./} t1
	"$@" >"$W/cmd.out"
	t1=${EPOCHREALTIME/./}
	echo $(((t1 - t0) / 1000))
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "inf" }'; }

step "rules: 1,000 DR services x 10 real servers"
awk 'BEGIN {
	for (i = 0; i < 1000; i++) {
		vip = sprintf("10.1.%d.%d:80", int(i / 250), i % 250 + 1)
		printf "-A -t %s -s wrr\n", vip
		for (r = 1; r <= 10; r++) printf "-a -t %s -r 10.2.%d.%d:80 -g -w %d\n", vip, int(i / 250), r, r
	}
}' >"$W/rules"
check "11,000 rules" test "$(wc -l <"$W/rules")" -eq 11000

count() { B ipvsadm -S -n | wc -l; }
declare -a T_IPVSADM T_LVS
for round in 1 2; do
	step "round $round: ipvsadm -R, then lvsnode controller restore (each into an empty table)"
	B ipvsadm -C
	T_IPVSADM[round]=$(ms B ipvsadm -R <"$W/rules")
	check "ipvsadm -R loaded 11,000 rules" test "$(count)" -eq 11000
	B ipvsadm -S -n >"$W/by-ipvsadm"
	B ipvsadm -C
	T_LVS[round]=$(ms B lvsnode controller restore <"$W/rules")
	info "$(cat "$W/cmd.out")"
	B ipvsadm -S -n >"$W/by-lvsnode"
	cmp -s "$W/by-ipvsadm" "$W/by-lvsnode" || fail "the two tables differ"
	ok "same 11,000-rule table either way"
	info "ipvsadm -R: ${T_IPVSADM[round]} ms   lvsnode restore: ${T_LVS[round]} ms   ratio $(ratio "${T_LVS[round]}" "${T_IPVSADM[round]}")"
done

step "second identical restore (table already loaded)"
T_SECOND=$(ms B lvsnode controller restore <"$W/rules")
info "$(cat "$W/cmd.out")"
grep '^restore: 0 changes' "$W/cmd.out" >/dev/null || fail "second restore changed something"
ok "zero changes"

step "listing and clearing, for comparison"
T_LIST_IPVSADM=$(ms B ipvsadm -Ln)
T_LIST_LVS=$(ms B lvsnode controller list)
T_SAVE_IPVSADM=$(ms B ipvsadm -S -n)
T_SAVE_LVS=$(ms B lvsnode controller save)
cp "$W/cmd.out" "$W/saved"
cmp -s "$W/by-ipvsadm" "$W/saved" || fail "lvsnode save differs from ipvsadm -S -n"
T_CLEAR_LVS=$(ms B lvsnode controller clear)
check "clear emptied the table" test "$(count)" -eq 0

best() { if [ "$1" -le "$2" ]; then echo "$1"; else echo "$2"; fi; }
BI=$(best "${T_IPVSADM[1]}" "${T_IPVSADM[2]}")
BL=$(best "${T_LVS[1]}" "${T_LVS[2]}")
echo
echo "BENCH controller restore, 1,000 services x 10 real servers (11,000 rules), QEMU TCG, same VM run"
printf 'BENCH %-40s %8s ms  (rounds: %s, %s)\n' "ipvsadm -R" "$BI" "${T_IPVSADM[1]}" "${T_IPVSADM[2]}"
printf 'BENCH %-40s %8s ms  (rounds: %s, %s)\n' "lvsnode controller restore" "$BL" "${T_LVS[1]}" "${T_LVS[2]}"
printf 'BENCH %-40s %8s     (lvsnode / ipvsadm, best of 2)\n' "ratio restore" "$(ratio "$BL" "$BI")"
printf 'BENCH %-40s %8s ms  (0 changes)\n' "second identical restore" "$T_SECOND"
printf 'BENCH %-40s %8s     (second / first restore)\n' "ratio second/first" "$(ratio "$T_SECOND" "$BL")"
printf 'BENCH %-40s %8s ms  vs ipvsadm -Ln %s ms\n' "lvsnode controller list" "$T_LIST_LVS" "$T_LIST_IPVSADM"
printf 'BENCH %-40s %8s ms  vs ipvsadm -S -n %s ms\n' "lvsnode controller save" "$T_SAVE_LVS" "$T_SAVE_IPVSADM"
printf 'BENCH %-40s %8s ms\n' "lvsnode controller clear" "$T_CLEAR_LVS"
