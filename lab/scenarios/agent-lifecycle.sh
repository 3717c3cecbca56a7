#!/usr/bin/env bash
# The agent's one-shot commands on a real kernel: apply is idempotent and
# declarative, status exits 1 on drift (text and --json), --interface covers
# the NIC, and teardown removes only what lvsnode added and restores the
# sysctls' original values (not just 0), leaving a hand-made address alone.
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"

S="--state-file $LAB_STATE_DIR/rs1.json"
A() { ip netns exec rs1 lvsnode agent "$@"; }
sys() { ns_sysctl rs1 "net.ipv4.conf.$1"; }
vips_on_lo() { ip -n rs1 addr show dev lo | grep -c "inet6\{0,1\} fd00::100/\|inet 10.0.0.100/" || true; }

step "topology; rs1 starts with arp_announce=1 on all (a site value to restore later)"
topo_up 2
in_ns rs1 sh -c 'echo 1 >/proc/sys/net/ipv4/conf/all/arp_announce'
ip -n rs1 addr add 10.0.0.200/32 dev lo # someone else's address: never touched
info "rs1 before: all.arp_ignore=$(sys all.arp_ignore) all.arp_announce=$(sys all.arp_announce)"

step "status before any apply"
rc=0
A status $S --vip "$LAB_VIP4" >/dev/null 2>&1 || rc=$?
check "status exits 1 when nothing is applied yet (got $rc)" test "$rc" = 1

step "apply --vip $LAB_VIP4 --vip $LAB_VIP6 --interface eth0"
A apply $S --vip "$LAB_VIP4" --vip "$LAB_VIP6" --interface eth0 | sed 's/^/    /'
check "both VIPs on lo" test "$(vips_on_lo)" = 2
check "all: arp_ignore=1 arp_announce=2" test "$(sys all.arp_ignore)$(sys all.arp_announce)" = 12
check "lo: arp_ignore=1 arp_announce=2" test "$(sys lo.arp_ignore)$(sys lo.arp_announce)" = 12
check "eth0 (--interface): arp_ignore=1 arp_announce=2" test "$(sys eth0.arp_ignore)$(sys eth0.arp_announce)" = 12
routes=$(ip -n rs1 route show table main proto 76 | grep -c "$LAB_VIP4" || true)
check "host route for $LAB_VIP4 (proto 76)" test "$routes" = 1
check "status exits 0" A status $S

step "apply again: idempotent"
out=$(A apply $S --vip "$LAB_VIP4" --vip "$LAB_VIP6" --interface eth0)
echo "$out" | sed 's/^/    /'
check "second apply changed nothing" test -z "$(echo "$out" | grep -E '^(set|added|removed)' || true)"
check "still exactly 2 VIPs on lo" test "$(vips_on_lo)" = 2

step "drift: delete $LAB_VIP4 by hand"
ip -n rs1 addr del "$LAB_VIP4/32" dev lo
rc=0
A status $S >"$LAB_WORK/status.txt" 2>&1 || rc=$?
sed 's/^/    /' "$LAB_WORK/status.txt"
check "status exits 1 on drift (got $rc)" test "$rc" = 1
check "status names the missing address" grep -q "$LAB_VIP4/32.*DRIFT" "$LAB_WORK/status.txt"
rc=0
A status $S --json >"$LAB_WORK/status.json" 2>&1 || rc=$?
check "status --json exits 1 too (got $rc)" test "$rc" = 1
check "status --json has an item with ok false" grep -q '"ok": false' "$LAB_WORK/status.json"

step "apply with only $LAB_VIP4: repairs it and drops $LAB_VIP6 (declarative)"
A apply $S --vip "$LAB_VIP4" --interface eth0 | sed 's/^/    /'
check "$LAB_VIP4 back on lo" rs_has_vip rs1 "$LAB_VIP4"
check "$LAB_VIP6 removed" test "$(ip -n rs1 addr show dev lo | grep -c 'fd00::100/' || true)" = 0

step "teardown"
A teardown $S | sed 's/^/    /'
check "no VIP left on lo" test "$(vips_on_lo)" = 0
check "no proto 76 route left" test -z "$(ip -n rs1 route show table main proto 76)"
check "hand-made 10.0.0.200 untouched" rs_has_vip rs1 10.0.0.200
info "rs1 after: all.arp_ignore=$(sys all.arp_ignore) all.arp_announce=$(sys all.arp_announce) eth0=$(sys eth0.arp_ignore)/$(sys eth0.arp_announce)"
check "all.arp_ignore restored to 0" test "$(sys all.arp_ignore)" = 0
check "all.arp_announce restored to the site value 1" test "$(sys all.arp_announce)" = 1
check "lo and eth0 restored to 0/0" test "$(sys lo.arp_ignore)$(sys lo.arp_announce)$(sys eth0.arp_ignore)$(sys eth0.arp_announce)" = 0000
check "teardown again is a no-op that succeeds" A teardown $S

step "bad input exits 2 and touches nothing"
rc=0
A apply $S --vip 10.0.0.300 >/dev/null 2>&1 || rc=$?
check "apply --vip 10.0.0.300 exits 2 (got $rc)" test "$rc" = 2
check "and set no sysctl" test "$(sys all.arp_ignore)" = 0
