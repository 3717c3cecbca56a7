#!/usr/bin/env bash
# The fleet (issue 12): etcd in its own namespace; two directors (director,
# director2) running `lvsnode controller run` with store: type etcd; three
# DR real servers whose agents register themselves (`register:`, lease
# ttl 10s). Nobody types add-node:
#   - each real server joins both directors' tables once its agent is READY,
#     and traffic through each director reaches it (FIGURE: READY -> in both
#     tables, from the agent's log to a /proc/net/ip_vs watcher in each);
#   - both tables are identical (ipvsadm -S -n);
#   - SIGKILL of rs3's agent removes rs3 from both within the lease ttl
#     (FIGURE: kill -> gone from both);
#   - etcd killed: both directors keep serving the same table (nothing
#     removed, traffic through each), status says store.reachable false, an
#     add-node is refused (it could not be shared);
#   - rs3's agent started while etcd is down registers once etcd is back:
#     both directors converge to the same table with rs3 (FIGURE).
# lab-timeout: 300
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"
. "${LAB_GUEST:-/lab/guest}/pair.sh"
. "${LAB_GUEST:-/lab/guest}/fleet.sh"
trap fleet_on_exit EXIT

topo_up 3
fleet_node etcd 10.0.0.5
fleet_node director2 10.0.0.3 "$LAB_VIP4"
RIP1=$(node_ip4 rs1) RIP2=$(node_ip4 rs2) RIP3=$(node_ip4 rs3)

step "etcd (Debian's etcd-server) in its namespace"
etcd_start
ok "etcd answers on $FLEET_ETCD"

step "two directors, store: type etcd, no service configured"
for d in $FLEET_DIRECTORS; do fleet_ctl_start "$d"; done
check "both tables empty" test -z "$(ipvs_in director)$(ipvs_in director2)"
info "director status: $(fleet_status director | cut -c1-200)"
check "status reports the etcd store reachable" grep -q '"store":{"backend":"etcd","reachable":true' <<<"$(fleet_status director)"

step "three agents register themselves (READY -> both directors' tables)"
for rs in rs1 rs2 rs3; do
	rip=$(node_ip4 "$rs")
	ipvs_wait director "$rip" here "$FLEET_W/w1-$rs"
	ipvs_wait director2 "$rip" here "$FLEET_W/w2-$rs"
	sleep 0.3 # the watchers have read the table once
	fleet_agent_start "$rs"
	wait_for 30 rs_in_both "$rip" 1 || fail "$rs not in both tables at weight 1"
	t1=$(at_us "$FLEET_W/w1-$rs") || fail "$rs: director watcher timed out"
	t2=$(at_us "$FLEET_W/w2-$rs") || fail "$rs: director2 watcher timed out"
	t0=$(log_us "$FLEET_W/agent-$rs.log" 'registration state.*state=serving') || fail "$rs: no READY in its log"
	late=$t1
	[ "$t2" -gt "$late" ] && late=$t2
	ready_ms+=($(((late - t0) / 1000)))
	info "$rs: READY -> director $(((t1 - t0) / 1000)) ms, director2 $(((t2 - t0) / 1000)) ms"
done
for rs in rs1 rs2 rs3; do
	for d in $FLEET_DIRECTORS; do
		check "traffic through $d reaches $rs" answers_from "$d" "$rs"
	done
done
echo "FIGURE fleet: agent READY -> its real server in both directors' IPVS (etcd watch, TCG guest): $(stats "${ready_ms[@]}")"

step "both directors hold the same table (ipvsadm -S -n)"
ipvs_in director | sed 's/^/    director:  /'
check "identical" tables_equal
check "three real servers" test "$(ipvs_in director | grep -c -- '-r ')" -eq 3
r1=$(fleet_status director | grep -o '"digest":"[0-9a-f]*"' | head -1)
r2=$(fleet_status director2 | grep -o '"digest":"[0-9a-f]*"' | head -1)
info "desired-state digest: director $r1, director2 $r2"
check "both at the same desired-state digest" test "$r1" = "$r2"
wait_for 10 eval 'fleet_status director | grep "\"directors\":{\"director\":{[^}]*$r1},\"director2\":{[^}]*$r1}" >/dev/null' ||
	fail "director's status does not show both directors at $r1: $(fleet_status director)"
ok "director's status shows both directors at $r1 (store.directors)"

step "SIGKILL rs3's agent: weight 0 on both within the lease ttl ($FLEET_TTL), removed once drained"
# rs3 has InActConn entries left by the requests above (closed connections
# IPVS still tracks): it is removed when they expire or at drain.timeout
# (5s here), not at once: an agent dying on a healthy server cuts nothing.
for d in $FLEET_DIRECTORS; do
	ipvs_wait "$d" "$RIP3" zero "$FLEET_W/z-$d"
	ipvs_wait "$d" "$RIP3" gone "$FLEET_W/g-$d"
done
sleep 0.3
t0=$(now_us)
kill -KILL "$AGENT_PID_rs3"
z1=$(at_us "$FLEET_W/z-director") || fail "rs3 not at weight 0 in director"
z2=$(at_us "$FLEET_W/z-director2") || fail "rs3 not at weight 0 in director2"
g1=$(at_us "$FLEET_W/g-director") || fail "rs3 still in director"
g2=$(at_us "$FLEET_W/g-director2") || fail "rs3 still in director2"
zero_ms=$(((z1 > z2 ? z1 : z2) - t0))
zero_ms=$((zero_ms / 1000))
gone_ms=$(((g1 > g2 ? g1 : g2) - t0))
gone_ms=$((gone_ms / 1000))
info "weight 0: director $(((z1 - t0) / 1000)) ms, director2 $(((z2 - t0) / 1000)) ms; gone: director $(((g1 - t0) / 1000)) ms, director2 $(((g2 - t0) / 1000)) ms"
check "weight 0 on both within the ttl (+2 s: etcd's lease sweep, the watch)" test "$zero_ms" -lt $((${FLEET_TTL%s} * 1000 + 2000))
check "rs3's VIP still bound (its agent died, not the server)" rs_has_vip rs3 "$LAB_VIP4"
echo "FIGURE fleet: agent SIGKILL -> weight 0 on both directors: ${zero_ms} ms (lease ttl $FLEET_TTL); -> removed from both: ${gone_ms} ms (after its connections, or drain.timeout 5s)"
check "identical after the removal" tables_equal
before=$(ipvs_in director)

step "etcd killed: both directors keep the same table and keep serving"
etcd_kill
wait_for 10 eval 'fleet_status director | grep "\"reachable\":false" >/dev/null' || fail "director does not report etcd unreachable"
wait_for 10 eval 'fleet_status director2 | grep "\"reachable\":false" >/dev/null' || fail "director2 does not report etcd unreachable"
ok "both report store.reachable false"
sleep 3 # two resyncs (2s) with etcd away
check "director's table unchanged" test "$(ipvs_in director)" = "$before"
check "director2's table unchanged" test "$(ipvs_in director2)" = "$before"
for d in $FLEET_DIRECTORS; do
	check "traffic through $d reaches rs1" answers_from "$d" rs1
	check "traffic through $d reaches rs2" answers_from "$d" rs2
done
check "metric lvsnode_store_reachable 0" eval 'ip netns exec director curl -s 127.0.0.1:9110/metrics | grep "^lvsnode_store_reachable{backend=\"etcd\"} 0" >/dev/null'
set +e
msg=$(fleet_ctl director add-node -t "$LAB_VIP4:$LAB_PORT" -r 10.0.0.19 2>&1)
rc=$?
set -e
info "add-node with etcd down: $msg (exit $rc)"
check "add-node refused" test "$rc" -ne 0
check "refusal names etcd" grep -q "etcd" <<<"$msg"
check "nothing changed by the refused add-node" test "$(ipvs_in director)" = "$before"

step "meanwhile rs3's agent starts again (it cannot register yet); etcd comes back: both converge"
rm -f "$FLEET_W/agent-rs3.log"
fleet_agent_start rs3
wait_for 20 eval 'grep -q "etcd unreachable, retrying" "$FLEET_W/agent-rs3.log"' || fail "rs3's agent did not try etcd"
ok "rs3's agent READY and retrying its registration"
check "rs3 not in either table while etcd is down" rs_in_none "$RIP3"
ipvs_wait director "$RIP3" here "$FLEET_W/b1" 120
ipvs_wait director2 "$RIP3" here "$FLEET_W/b2" 120
sleep 0.3
t0=$(now_us)
etcd_start
b1=$(at_us "$FLEET_W/b1") || fail "rs3 not back in director"
b2=$(at_us "$FLEET_W/b2") || fail "rs3 not back in director2"
late=$b1
[ "$b2" -gt "$late" ] && late=$b2
wait_for 10 tables_equal || fail "tables differ after etcd came back"
check "identical after etcd came back" tables_equal
check "rs3 back at weight 1 in both" rs_in_both "$RIP3" 1
wait_for 10 eval 'fleet_status director | grep "\"reachable\":true" >/dev/null' || fail "director still reports etcd unreachable"
echo "FIGURE fleet: etcd restart (process start, TCG) -> a registration made while it was down in both directors: $(((late - t0) / 1000)) ms"
ok "fleet-basic"
