#!/usr/bin/env bash
# The pair, a runtime change touches only what it changed (issue 9,
# "Runtime change"): `controller add-node|drain-node|undrain-node|
# remove-node` through the daemon is in IPVS when the command returns,
# read from and written to the kernel for the one service it touched (one
# GET_SERVICE, one real server dump): the kernel's GET_SERVICE answers a
# managed service (add-node to it), ESRCH for a missing one (add-node
# creating a service) and a foreign one (refused, not managed, untouched).
# Drift in another managed service is left to the full pass: it survives
# the changes and SIGHUP repairs it (control: the full pass does repair
# it). (A drain in progress polls with full passes: drains come after.)
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"
. "${LAB_GUEST:-/lab/guest}/pair.sh"

VIP="-t $LAB_VIP4:$LAB_PORT"
OTHER="-t 10.0.0.101:80"
FOREIGN="-t 10.0.0.200:443"
topo_up 2
ip netns exec director ipvsadm -A $FOREIGN -s wlc
ip netns exec director ipvsadm -a $FOREIGN -r 10.0.0.99:443 -g -w 7
foreign() { ip netns exec director ipvsadm -Ln $FOREIGN; }
foreign >"$LAB_WORK/foreign.before"
cat >"$LAB_WORK/director.yaml" <<YAML
state_file: $LAB_STATE_DIR/director.json
metrics: 127.0.0.1:9110
resync: 1h
services:
  - service: tcp $LAB_VIP4:$LAB_PORT
    scheduler: rr
    nodes: [{address: 10.0.0.11, method: dr}]
  - service: tcp 10.0.0.101:80
    scheduler: rr
    nodes: [{address: 10.0.0.11, method: dr}]
YAML
lv_start "$LAB_WORK/director.yaml"
both_up() { ipvs_has "$VIP" 10.0.0.11:80 1 && ipvs_has "$OTHER" 10.0.0.11:80 1; }
check "rs1 in both managed services" wait_for 10 both_up
ip netns exec director ipvsadm -e $OTHER -r 10.0.0.11:80 -g -w 5
check "drift in the other managed service: rs1 at weight 5 (configured 1)" ipvs_has "$OTHER" 10.0.0.11:80 5

step "add-node to a managed service (the kernel answers GET_SERVICE)"
lv_ctl add-node -t "$LAB_VIP4:$LAB_PORT" -r 10.0.0.12:80 -g -w 2 | sed 's/^/    /'
check "rs2 at weight 2 in the kernel when the command returns" ipvs_has "$VIP" 10.0.0.12:80 2
check "the drift in the service it did not touch is still there (weight 5)" ipvs_has "$OTHER" 10.0.0.11:80 5
info "daemon: $(grep 'msg="runtime change"' "$PAIR_W/controller.log" | tail -1 | grep -o 'services=.*')"
check "the change touched one service" grep -q 'msg="runtime change" services=1 ' "$PAIR_W/controller.log"

step "add-node creating a service (the kernel answers ESRCH to GET_SERVICE)"
check "tcp 10.0.0.102:80 is not in the kernel (control)" test -z "$(ip netns exec director ipvsadm -Ln -t 10.0.0.102:80 2>/dev/null || true)"
lv_ctl add-node -t 10.0.0.102:80 -r 10.0.0.11 -g | sed 's/^/    /'
check "the new service with rs1 in the kernel when the command returns" ipvs_has "-t 10.0.0.102:80" 10.0.0.11:80 1

step "add-node to a foreign service (GET_SERVICE finds it: not the daemon's)"
set +e
msg=$(lv_ctl add-node -t 10.0.0.200:443 -r 10.0.0.12 -g 2>&1)
rc=$?
set -e
info "$msg"
check "refused, exit 1, one line" test "$rc" = 1 -a "$(wc -l <<<"$msg")" = 1
check "saying it is not managed" grep -q "not managed" <<<"$msg"

check "the drift is still there after three changes (weight 5)" ipvs_has "$OTHER" 10.0.0.11:80 5
foreign >"$LAB_WORK/foreign.after"
check "the foreign service is as it was" cmp -s "$LAB_WORK/foreign.before" "$LAB_WORK/foreign.after"

step "SIGHUP: the full pass repairs the drift (control)"
kill -HUP "$LV_PID"
check "rs1 back at weight 1 in the other service" wait_for 10 ipvs_has "$OTHER" 10.0.0.11:80 1

step "drain-node --keep --no-wait, then undrain-node"
lv_ctl drain-node -t "$LAB_VIP4:$LAB_PORT" -r 10.0.0.12:80 --keep --no-wait | sed 's/^/    /'
check "rs2 at weight 0 when the command returns" ipvs_has "$VIP" 10.0.0.12:80 0
lv_ctl undrain-node -t "$LAB_VIP4:$LAB_PORT" -r 10.0.0.12:80 | sed 's/^/    /'
check "rs2 back at its configured weight 2 when undrain-node returns" ipvs_has "$VIP" 10.0.0.12:80 2
set +e
msg=$(lv_ctl undrain-node --api none -t "$LAB_VIP4:$LAB_PORT" -r 10.0.0.12:80 2>&1)
rc=$?
set -e
check "undrain-node without the daemon: exit 2 ($msg)" test "$rc" = 2

step "remove-node"
lv_ctl remove-node -t "$LAB_VIP4:$LAB_PORT" -r 10.0.0.12:80 | sed 's/^/    /'
check "rs2 gone from the kernel when the command returns" test -z "$(ipvs_weight "$VIP" 10.0.0.12:80)"
foreign >"$LAB_WORK/foreign.after"
check "the foreign service is still as it was" cmp -s "$LAB_WORK/foreign.before" "$LAB_WORK/foreign.after"

lv_stop
check "controller run exited 0 on SIGTERM (got $LV_RC)" test "$LV_RC" = 0
