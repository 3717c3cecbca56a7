#!/usr/bin/env bash
# The pair, runtime changes (issue 9): `lvsnode controller add-node` while
# the daemon runs goes through its API, is persisted before the answer, and
# survives a restart (SIGTERM and start) and a SIGKILL and start; the config
# file is not rewritten. Control: a real server added behind the daemon's
# back with ipvsadm is not desired state: a restart takes it out again.
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"
. "${LAB_GUEST:-/lab/guest}/pair.sh"

SVC="-t $LAB_VIP4:$LAB_PORT"
topo_up 2
rs_agent_start rs1
rs_agent_start rs2
{
	lv_head
	cat <<YAML
  - service: tcp $LAB_VIP4:$LAB_PORT
    scheduler: rr
    nodes:
      - {address: 10.0.0.11, method: dr}
YAML
} >"$LAB_WORK/director.yaml"
cp "$LAB_WORK/director.yaml" "$LAB_WORK/director.yaml.orig"
lv_start "$LAB_WORK/director.yaml"
check "rs1 in the service" wait_for 10 ipvs_has "$SVC" 10.0.0.11:80 1

step "add-node rs2 through the daemon"
lv_ctl add-node -t "$LAB_VIP4:$LAB_PORT" -r 10.0.0.12:80 -g -w 2
check "rs2 in the kernel at weight 2" wait_for 5 ipvs_has "$SVC" 10.0.0.12:80 2
check "the daemon holds rs2 (status --json: $(node_health 10.0.0.12))" test -n "$(node_health 10.0.0.12)"
check "the config file is not rewritten" cmp -s "$LAB_WORK/director.yaml" "$LAB_WORK/director.yaml.orig"
check "rs2 is in the state file" grep 10.0.0.12 "$LAB_STATE_DIR/director.json"

step "restart (SIGTERM, start) with rs2 deleted from the kernel meanwhile"
lv_stop
check "controller run exited 0 on SIGTERM (got $LV_RC)" test "$LV_RC" = 0
ip netns exec director ipvsadm -d -t "$LAB_VIP4:$LAB_PORT" -r 10.0.0.12:80
lv_start "$LAB_WORK/director.yaml"
check "rs2 back at weight 2 after the restart" wait_for 10 ipvs_has "$SVC" 10.0.0.12:80 2

step "SIGKILL and start"
lv_kill
lv_start "$LAB_WORK/director.yaml"
check "rs2 still at weight 2" wait_for 10 ipvs_has "$SVC" 10.0.0.12:80 2
answers=$(curl_vip v4 4 | tr '\n' ' ')
info "answers: $answers"
check "traffic alternates over rs1 and rs2" check_alternates $answers

step "control: a real server added with ipvsadm behind the daemon's back"
ip netns exec director ipvsadm -a -t "$LAB_VIP4:$LAB_PORT" -r 10.0.0.13:80 -g -w 1
check "control: it is in the kernel" ipvs_has "$SVC" 10.0.0.13:80
lv_stop
lv_start "$LAB_WORK/director.yaml"
check "control: a restart takes it out (not desired state)" wait_for 10 bash -c \
	". $LAB_GUEST/topo.sh; . $LAB_GUEST/pair.sh; ! ipvs_has '$SVC' 10.0.0.13:80"
check "rs2 (added through the API) stays" ipvs_has "$SVC" 10.0.0.12:80 2
lv_stop
