#!/usr/bin/env bash
# The pair, restarts (issue 9): SIGKILL of `lvsnode controller run` leaves
# IPVS as it was, and a restart (which reads its state file: desired state,
# each real server's health) changes nothing: the table, sampled
# continuously through the kill and the restart, never differs, rs2 (down:
# httpd stopped) stays at weight 0 and rs1 at weight 1 (no "initial: down"
# flap), and a service the daemon does not manage is untouched. Control: a
# weight changed by hand before a restart is repaired by it, and the same
# sampler sees that change (so it can see one).
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"
. "${LAB_GUEST:-/lab/guest}/pair.sh"

SVC="-t $LAB_VIP4:$LAB_PORT"
topo_up 2
rs_agent_start rs1
rs_agent_start rs2
httpd_stop rs2
step "an unmanaged service (ipvsadm) and the daemon's: http check on :80, a second service without check"
ip netns exec director ipvsadm -A -t 10.0.0.200:443 -s sh
ip netns exec director ipvsadm -a -t 10.0.0.200:443 -r 10.0.0.11:443 -g -w 7
{
	lv_head
	cat <<YAML
  - service: tcp $LAB_VIP4:$LAB_PORT
    scheduler: rr
    check: {type: http, path: /, interval: 200ms, timeout: 200ms, rise: 2, fall: 2}
    nodes:
      - {address: 10.0.0.11, method: dr}
      - {address: 10.0.0.12, method: dr}
  - service: tcp $LAB_VIP4:8080
    scheduler: wlc
    nodes:
      - {address: 10.0.0.11, method: dr, weight: 3}
YAML
} >"$LAB_WORK/director.yaml"
lv_start "$LAB_WORK/director.yaml"
check "rs1 up, rs2 down (weight 0)" wait_for 10 bash -c \
	". $LAB_GUEST/topo.sh; . $LAB_GUEST/pair.sh; ipvs_has '$SVC' 10.0.0.11:80 1 && ipvs_has '$SVC' 10.0.0.12:80 0"
sleep 1
ipvs_table >"$LAB_WORK/before"
info "$(tr '\n' '|' <"$LAB_WORK/before")"

step "SIGKILL the daemon and start it again while sampling the table"
table_watch 8 "$LAB_WORK/seen" &
watch=$!
sleep 1
lv_kill
sleep 1
check "after SIGKILL: the table is as it was" bash -c "ipvsadm_t=\$(ip netns exec director ipvsadm -S -n | sort); [ \"\$ipvsadm_t\" = \"\$(cat $LAB_WORK/before)\" ]"
lv_start "$LAB_WORK/director.yaml"
wait "$watch"
n=$(cat "$LAB_WORK/seen.count")
info "distinct tables seen over 8 s: $n"
if [ "$n" != 1 ] || ! cmp -s "$LAB_WORK/before" "$LAB_WORK/seen.0"; then
	for f in "$LAB_WORK"/seen.[0-9]*; do diff "$LAB_WORK/before" "$f" || true; done
	fail "the kill or the restart changed IPVS"
fi
ok "one table throughout the kill and the restart, the one before"
check "the restarted daemon wrote no change (lvsnode_reconcile_changes_total $(lv_metric lvsnode_reconcile_changes_total))" \
	test "$(lv_metric lvsnode_reconcile_changes_total)" = 0
check "status after restart: rs2 down, restored ($(node_health 10.0.0.12))" test "$(node_health 10.0.0.12)" = down

step "control: a weight changed by hand before a restart is repaired by it"
lv_kill
ip netns exec director ipvsadm -e -t "$LAB_VIP4:8080" -r 10.0.0.11:8080 -g -w 9
table_watch 6 "$LAB_WORK/ctl" &
watch=$!
sleep 0.5
lv_start "$LAB_WORK/director.yaml"
wait "$watch"
n=$(cat "$LAB_WORK/ctl.count")
info "control: distinct tables seen: $n"
check "control: the sampler saw the repair (weight 9 -> 3)" test "$n" -ge 2
check "control: weight 3 again" ipvs_has "-t $LAB_VIP4:8080" 10.0.0.11:8080 3
check "the unmanaged service is untouched" bash -c "ip netns exec director ipvsadm -S -n | grep -- '-a -t 10.0.0.200:443 -r 10.0.0.11:443 -g -w 7' >/dev/null"
lv_stop
