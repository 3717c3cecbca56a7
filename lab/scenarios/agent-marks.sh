#!/usr/bin/env bash
# Issue 7, faults 1 and 6 on the lab's real kernel (Debian 6.1): lvsnode's
# marks are enough to tear its items down without the state file (the IPv6
# VIP through the address protocol IFA_PROTO=76, which this kernel keeps;
# iproute2 6.1 cannot show it, so the proof is that teardown finds it while
# a look-alike without the mark stays), and the route check can fail: no
# IPv6 route of lvsnode's (the kernel's own comes and goes with the address)
# and a replaced proto-76 IPv4 route is reported and repaired.
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"

S="--state-file $LAB_STATE_DIR/rs1.json"
A() { ip netns exec rs1 lvsnode agent "$@"; }
has() { ip -n rs1 addr show dev lo | grep "inet6\{0,1\} $1/" >/dev/null; }
lacks() { ! has "$1"; }
# route_has FAMILY DST WORDS: the main table's routes to DST include WORDS.
route_has() { ip -n rs1 "$1" route show table main "$2" | grep "$3" >/dev/null; }

step "topology; apply both VIPs on rs1; someone else's fd00::9 beside them"
topo_up 1
info "kernel $(uname -r)"
A apply $S --vip "$LAB_VIP4" --vip "$LAB_VIP6" | sed 's/^/    /'
ip -n rs1 addr add fd00::9/128 dev lo

step "fault 6: no IPv6 route of lvsnode's; the kernel's lives with the address"
check "no proto 76 IPv6 route" test -z "$(ip -n rs1 -6 route show table all proto 76)"
check "the kernel's route for $LAB_VIP6" route_has -6 "$LAB_VIP6" "dev lo proto kernel"
ip -n rs1 -6 addr del "$LAB_VIP6/128" dev lo
check "gone with the address" test -z "$(ip -n rs1 -6 route show table main "$LAB_VIP6")"
rc=0; A status $S >/dev/null || rc=$?
check "status reports the deleted IPv6 VIP (exit $rc)" test "$rc" = 1
A apply $S --vip "$LAB_VIP4" --vip "$LAB_VIP6" >/dev/null

step "fault 6: a same-prefix route of someone else's does not hide a deleted proto-76 route"
ip -n rs1 route del "$LAB_VIP4/32" dev lo proto 76
ip -n rs1 route add "$LAB_VIP4/32" dev lo proto static metric 10
rc=0; A status $S >/dev/null || rc=$?
check "status reports the route (exit $rc)" test "$rc" = 1
A apply $S --vip "$LAB_VIP4" --vip "$LAB_VIP6" | sed 's/^/    /'
check "proto 76 route back" route_has -4 "$LAB_VIP4" "proto 76"

step "fault 1: the state file is lost; apply re-adopts, teardown removes by the marks"
mv "$LAB_STATE_DIR/rs1.json" "$LAB_WORK/rs1.json.moved"
A apply $S --vip "$LAB_VIP4" --vip "$LAB_VIP6" >"$LAB_WORK/readopt.txt"
sed 's/^/    /' "$LAB_WORK/readopt.txt"
check "apply re-adopted the IPv6 VIP (IFA_PROTO kept by $(uname -r))" grep -q "re-adopted address $LAB_VIP6/128" "$LAB_WORK/readopt.txt"
check "apply re-adopted the IPv4 VIP and its route" test "$(grep -c re-adopted "$LAB_WORK/readopt.txt")" = 3
mv "$LAB_STATE_DIR/rs1.json" "$LAB_WORK/rs1.json.moved2"
A teardown $S | sed 's/^/    /'
check "IPv4 VIP removed" lacks "$LAB_VIP4"
check "IPv6 VIP removed" lacks "$LAB_VIP6"
check "no proto 76 route left" test -z "$(ip -n rs1 route show table all proto 76)"
check "control: someone else's fd00::9 (no mark) left alone" has fd00::9
check "control: the static route left alone" route_has -4 "$LAB_VIP4" "proto static"
