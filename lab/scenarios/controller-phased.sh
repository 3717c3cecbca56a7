#!/usr/bin/env bash
# A restore the kernel refuses half-way never leaves less than it found.
#
# 1. The kernel handles every message of one sendmsg even after refusing
#    one (the fact ipvs.Fake models): a restore whose line 3 asks for an mh
#    service, with ip_vs_mh made unloadable, sends lines 2-5 in one batch;
#    the service on line 5, after the refusal, is made.
# 2. So a removal in that batch would have been made too: restore sends
#    removals only after every addition and edit was acknowledged. :7000,
#    which the input drops, and the real server of :7001 it drops, are
#    still there; the output names each change's outcome and what still
#    differs after reading the table again.
# 3. Once the module loads again, the same restore converges.
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"

W=${LAB_WORK:-/tmp}
ip netns add phased
ip -n phased link set lo up
D() { in_ns phased "$@"; }
L() { in_ns phased lvsnode controller "$@"; }

step "the kernel has :7000 and :7001, each with a real server"
cat >"$W/old" <<'RULES'
-A -t 10.0.0.1:7000 -s rr
-a -t 10.0.0.1:7000 -r 10.0.0.11:7000 -g -w 1
-A -t 10.0.0.1:7001 -s rr
-a -t 10.0.0.1:7001 -r 10.0.0.11:7001 -g -w 1
RULES
L restore <"$W/old" | sed 's/^/    /'
D ipvsadm -S -n >"$W/before"
check "4 rules" test "$(wc -l <"$W/before")" -eq 4

step "make ip_vs_mh unloadable (rmmod, and hide the module file)"
mod=$(modinfo -n ip_vs_mh)
rmmod ip_vs_mh 2>/dev/null || true
mv "$mod" "$W/ip_vs_mh.ko.hidden"
trap 'mv "$W/ip_vs_mh.ko.hidden" "$mod" 2>/dev/null || true' EXIT
if modprobe ip_vs_mh 2>/dev/null; then fail "ip_vs_mh still loads"; fi
ok "modprobe ip_vs_mh fails"

cat >"$W/next" <<'RULES'
-A -t 10.0.0.1:7001 -s rr
-a -t 10.0.0.1:7001 -r 10.0.0.12:7001 -g -w 1
-A -t 10.0.0.1:7002 -s mh
-a -t 10.0.0.1:7002 -r 10.0.0.12:7002 -g -w 1
-A -t 10.0.0.1:7003 -s wrr
RULES
step "restore an input whose line 3 the kernel refuses"
set +e
L restore <"$W/next" >"$W/out" 2>"$W/err"
rc=$?
set -e
sed 's/^/    /' "$W/out"
info "exit $rc: $(cat "$W/err")"
check "exit 1" test "$rc" = 1
check "the error names line 3 and the scheduler" grep -q 'then: line 3: add service TCP 10.0.0.1:7002: scheduler or persistence engine not available' "$W/err"
D ipvsadm -S -n >"$W/after"
sed 's/^/    /' "$W/after"

step "the kernel went on with the batch after the refusal (what ipvs.Fake models)"
check "line 5's service, after the refused line 3 in the same sendmsg, was made" grep -qx -e '-A -t 10.0.0.1:7003 -s wrr' "$W/after"
check "line 2's real server, before it, was made" grep -qx -e '-a -t 10.0.0.1:7001 -r 10.0.0.12:7001 -g -w 1' "$W/after"
check "line 4's real server was refused (no service)" grep -q 'refused: line 4: add real server 10.0.0.12:7002 to TCP 10.0.0.1:7002' "$W/out"
check "the output says line 5's change took effect" grep -qx 'applied: add service TCP 10.0.0.1:7003 (missing)' "$W/out"

step "nothing the kernel had was removed"
while read -r rule; do
	grep -qxF -e "$rule" "$W/after" || fail "lost: $rule"
done <"$W/before"
ok "every rule of before is still there (:7000 and its real server, :7001's old real server)"
check "the removals were not sent" grep -qx 'not sent: remove service TCP 10.0.0.1:7000 (not in the desired table)' "$W/out"
check "what still differs is printed" grep -q '^the table read again still differs from the input by 4 changes:' "$W/out"

step "with ip_vs_mh back, the same restore converges"
mv "$W/ip_vs_mh.ko.hidden" "$mod"
check "modprobe ip_vs_mh loads it again" modprobe ip_vs_mh
L restore <"$W/next" | sed 's/^/    /'
D ipvsadm -S -n | sort >"$W/final"
sort "$W/next" >"$W/want"
if ! diff -u "$W/want" "$W/final"; then fail "table differs from the input"; fi
ok "ipvsadm -S -n is the input, :7000 removed now"
