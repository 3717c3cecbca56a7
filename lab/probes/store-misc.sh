#!/usr/bin/env bash
# Review probe (issue 12, d): two agents registering the same real server;
# a registered service removed by an operator (API, and its key deleted in
# etcd); a key with a typo'd field; status and metrics of the store.
# lab-timeout: 400
set -uo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"
. "${LAB_GUEST:-/lab/guest}/pair.sh"
. "${LAB_GUEST:-/lab/guest}/fleet.sh"
trap fleet_on_exit EXIT
fleet_probe_up
fleet_node rs9 10.0.0.19
etcd_start
for d in $FLEET_DIRECTORS; do fleet_ctl_start "$d"; done
fleet_agent_start rs1 --register-service "tcp $LAB_VIP4:81 weight=1"
fleet_agent_start rs2 --register-service "tcp $LAB_VIP4:81 weight=1"
wait_for 60 rs_in_both "$RIP1" 1 || fail "rs1 not in"
wait_for 60 rs_in_both "$RIP2" 1 || fail "rs2 not in"
ok "both registered"
b64() { printf %s "$1" | base64 | tr -d '\n'; }
kv_dump() {
	ip netns exec client curl -s "$FLEET_ETCD/v3/kv/range" -d "{\"key\":\"$(b64 /lvsnode/)\",\"range_end\":\"$(b64 /lvsnode0)\"}" |
		grep -o '"key":"[^"]*"\|"lease":"[^"]*"\|"value":"[^"]*"' | while IFS=: read -r k v; do
		v=${v//\"/}
		case $k in *lease*) echo "      lease=$v" ;; *) echo "    $k $(echo "$v" | base64 -d | cut -c1-150)" ;; esac
	done | grep -v directors
}
kv_put() { ip netns exec client curl -s "$FLEET_ETCD/v3/kv/put" -d "{\"key\":\"$(b64 "$1")\",\"value\":\"$(b64 "$2")\"}" >/dev/null; }
kv_del() { ip netns exec client curl -s "$FLEET_ETCD/v3/kv/deleterange" -d "{\"key\":\"$(b64 "$1")\"}"; echo; }
tables() { for d in $FLEET_DIRECTORS; do ipvs_in "$d" | sed "s/^/    $d: /"; done; }
kv_dump

step "d1: a second agent (rs9) registers rs1's address, then stops"
ip netns exec rs9 lvsnode agent run --vip "$LAB_VIP4" --state-file "$LAB_STATE_DIR/rs9.json" \
	--listen "10.0.0.19:$PAIR_READY_PORT" --resync-interval 1s --register-endpoint "$FLEET_ETCD" \
	--register-address "$RIP1" --register-ttl "$FLEET_TTL" --register-service "tcp $LAB_VIP4:81 weight=1" >>"$FLEET_W/agent-rs9.log" 2>&1 &
B=$!
sleep 6
grep -i regist "$FLEET_W/agent-rs9.log" | cut -c1-200
kv_dump
kill -TERM "$B"
wait "$B"
echo "    rs9 stopped at $(date +%T)"
sleep 2
kv_dump
tables
for i in 1 2 3 4 5 6; do sleep 2; echo "    +$((i * 2))s rs1:81 in director: $(LAB_PORT=81 rs_in director "$RIP1" && echo yes || echo no) director2: $(LAB_PORT=81 rs_in director2 "$RIP1" && echo yes || echo no)"; done
grep -h "rs1\|10.0.0.11" "$FLEET_W/ctl-director.log" | tail -5 | cut -c1-200
grep -h "regist" "$FLEET_W/agent-rs1.log" | tail -3 | cut -c1-200
kv_dump

step "d3: a service key with settings deleted in etcd while its real servers stay registered"
kv_put "/lvsnode/services/tcp/$LAB_VIP4:80" '{"scheduler":"rr"}'
sleep 2
kv_dump
tables
kv_del "/lvsnode/services/tcp/$LAB_VIP4:80"
sleep 3
kv_dump
tables

step "d4: a hand-written key with a typo'd field (wieght) and an unknown method"
kv_put "/lvsnode/nodes/tcp/$LAB_VIP4:80/10.0.0.50:80" '{"address":"10.0.0.50","wieght":5}'
kv_put "/lvsnode/nodes/tcp/$LAB_VIP4:80/10.0.0.51:80" '{"address":"10.0.0.51","method":"route"}'
kv_put "/lvsnode/nodes/tcp/$LAB_VIP4:80/10.0.0.52:80" '{"address":"10.0.0.52","weight":-3}'
kv_put "/lvsnode/services/tcp/$LAB_VIP4:82" '{"scheduler":"rr","persistant":300}'
sleep 3
tables
fleet_status director | grep -o '"store":.*' | cut -c1-900

step "d5: status and metrics"
ip netns exec director lvsnode controller status --api "$FLEET_W/director.sock" 2>&1 | head -30
ip netns exec director curl -s 127.0.0.1:9110/metrics | grep lvsnode_store
ok probe-done
