#!/usr/bin/env bash
# Review probe (issue 12, probes a and b): an agent's lease lost while the
# agent lives (etcd SIGSTOPped past the ttl; the agent's route to etcd
# blackholed past the ttl) and an agent SIGKILLed and restarted within the
# ttl. A long-lived stream through each director to rs1:81 must survive;
# the real server's weight in both directors is sampled every 0.2 s.
# lab-timeout: 400
set -uo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"
. "${LAB_GUEST:-/lab/guest}/pair.sh"
. "${LAB_GUEST:-/lab/guest}/fleet.sh"
trap fleet_on_exit EXIT
fleet_probe_up
etcd_start
ok etcd
for d in $FLEET_DIRECTORS; do
	fleet_ctl_config "$d"
	sed -i 's/drain: {timeout: 5s, interval: 200ms}/drain: {timeout: 120s, interval: 200ms}/' "$FLEET_W/$d.yaml"
	ip netns exec "$d" lvsnode controller run --config "$FLEET_W/$d.yaml" >>"$FLEET_W/ctl-$d.log" 2>&1 &
	wait_for 60 fleet_ctl "$d" status || fail "$d did not start"
done
ok directors
slow_stream_server rs1 81
slow_stream_server rs2 81
fleet_agent_start rs1 --register-service "tcp $LAB_VIP4:81 weight=1"
fleet_agent_start rs2 --register-service "tcp $LAB_VIP4:81 weight=1"
wait_for 60 rs_in_both "$RIP1" 1 || fail "rs1 not in"
wait_for 60 rs_in_both "$RIP2" 1 || fail "rs2 not in"
ok "both registered"
ipvs_in director

# sampler: every 0.2 s "T d1:rs1 d1:rs2 d2:rs1 d2:rs2" weights on :81 (- = absent)
w81() { ip netns exec "$1" ipvsadm -Ln -t "$LAB_VIP4:81" 2>/dev/null | awk -v rs="$2:81" '$1 == "->" && $2 == rs { print $4 }'; }
# the client has a second address whose flows go through director2
ip -n client addr add 10.0.0.20/24 dev eth0
ip -n client rule add from 10.0.0.20 table 100
ip -n client route add "$LAB_VIP4/32" via 10.0.0.3 table 100
fleet_via director
streams() { # one stream through each director, to the service on :81
	P1=$(slow_stream_client "$LAB_VIP4" 81 "$FLEET_W/s-$1-d1")
	ip netns exec client socat -u TCP4:"$LAB_VIP4":81,bind=10.0.0.20 OPEN:"$FLEET_W/s-$1-d2",creat,append >/dev/null 2>&1 &
	P2=$!
	sleep 1.5
	ip netns exec director ipvsadm -Lnc | grep ':81 ' | sed 's/^/    director: /'
	ip netns exec director2 ipvsadm -Lnc | grep ':81 ' | sed 's/^/    director2: /'
}
streams_check() {
	stream_alive "$FLEET_W/s-$1-d1" "$P1" && echo "ok: stream via director alive ($1)" || echo "PROBLEM: stream via director broken ($1)"
	stream_alive "$FLEET_W/s-$1-d2" "$P2" && echo "ok: stream via director2 alive ($1)" || echo "PROBLEM: stream via director2 broken ($1)"
	kill "$P1" "$P2" 2>/dev/null
}
# watch RIP PHASE SECS: zero/gone watchers on :81 in both directors
watch() { for d in $FLEET_DIRECTORS; do for w in zero gone; do LAB_PORT=81 ipvs_wait "$d" "$1" $w "$FLEET_W/$2-$d-$w" "$3"; done; done; sleep 0.3; }
watched() { for d in $FLEET_DIRECTORS; do for w in zero gone; do while [ ! -s "$FLEET_W/$2-$d-$w" ]; do sleep 0.2; done; t=$(cat "$FLEET_W/$2-$d-$w"); [ "$t" = timeout ] && echo "    $2 $d $w: never" || echo "    $2 $d $w: at $(date -d @$((t / 1000000)) +%T)"; done; done; }

step "a1: etcd SIGSTOP for ttl+6 s (10 s)"
streams a1
watch "$RIP1" a1 25
kill -STOP "$ETCD_PID"; date +%T; sleep 10; kill -CONT "$ETCD_PID"; date +%T
sleep 15
watched "$RIP1" a1
grep -h "lease\|registration" "$FLEET_W/agent-rs1.log" | tail -5 | cut -c1-200
grep -h "registration\|etcd" "$FLEET_W/ctl-director.log" | tail -8 | cut -c1-200
streams_check a1
rs_in_both "$RIP1" 1 && echo "ok: rs1 back at 1 in both" || echo "PROBLEM: rs1 not at weight 1 in both"

step "a2: rs1's route to etcd blackholed for 12 s"
streams a2
watch "$RIP1" a2 30
ip -n rs1 route add blackhole 10.0.0.5/32; date +%T; sleep 12; ip -n rs1 route del blackhole 10.0.0.5/32; date +%T
sleep 20
watched x a2
grep -h "lease\|registration" "$FLEET_W/agent-rs1.log" | tail -6 | cut -c1-200
grep -h "registration" "$FLEET_W/ctl-director.log" | tail -4 | cut -c1-200
streams_check a2
rs_in_both "$RIP1" 1 && echo "ok: rs1 back at 1 in both" || echo "PROBLEM: rs1 not at weight 1 in both"

step "b: rs2's agent SIGKILL, started again at once; watch 3 ttls"
streams b
watch "$RIP2" b 15
kill -KILL "$AGENT_PID_rs2"; date +%T
fleet_agent_start rs2 --register-service "tcp $LAB_VIP4:81 weight=1"
sleep 15
watched x b
grep -h "lease\|registration" "$FLEET_W/agent-rs2.log" | tail -5 | cut -c1-200
grep -h "registration" "$FLEET_W/ctl-director.log" | tail -4 | cut -c1-200
streams_check b
rs_in_both "$RIP2" 1 && echo "ok: rs2 at 1 in both" || echo "PROBLEM: rs2 not at weight 1 in both"

step "b2: rs2's agent SIGTERM (revoke), started again at once"
streams b2
watch "$RIP2" b2 12
kill -TERM "$AGENT_PID_rs2"; wait "$AGENT_PID_rs2" 2>/dev/null; date +%T
fleet_agent_start rs2 --register-service "tcp $LAB_VIP4:81 weight=1"
sleep 12
watched x b2
streams_check b2
rs_in_both "$RIP2" 1 && echo "ok: rs2 at 1 in both" || echo "PROBLEM: rs2 not at weight 1 in both"

step "d: rs1's address registered by a second agent (rs2 misconfigured), which then stops"
watch "$RIP1" d 20
kill -TERM "$AGENT_PID_rs2"; wait "$AGENT_PID_rs2" 2>/dev/null
ip netns exec rs2 lvsnode agent run --vip "$LAB_VIP4" --state-file "$LAB_STATE_DIR/rs2.json" \
	--listen "$RIP2:$PAIR_READY_PORT" --resync-interval 1s --register-endpoint "$FLEET_ETCD" \
	--register-address "$RIP1" --register-ttl "$FLEET_TTL" --register-service "tcp $LAB_VIP4:81 weight=1" >>"$FLEET_W/agent-rs2b.log" 2>&1 &
B=$!
sleep 8
cat "$FLEET_W/agent-rs2b.log" | grep -i regist | cut -c1-200
kill -TERM "$B"; wait "$B" 2>/dev/null; date +%T
sleep 12
watched x d
rs_in_both "$RIP1" 1 && echo "ok: rs1 (agent alive) still at 1 in both" || echo "PROBLEM: rs1 (its agent alive) not at weight 1 in both after another agent's stop"
ok probe-done
