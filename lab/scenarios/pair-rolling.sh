#!/usr/bin/env bash
# lab-timeout: 180
# The pair, rolling restart (issue 9): while a client sends requests to the
# VIP continuously, every real server in turn is drained by its agent
# (`lvsnode agent drain --wait`: /readyz says draining, the director's ready
# check sets weight 0 at once, the agent waits for its VIP's connections and
# at least min_wait, then removes the VIP), its HTTP server is stopped and
# started, and `lvsnode agent undrain` brings it back (ready, rise 2, its
# weight back). Zero failed requests. Control: the same restart without the
# drain (the agent stays ready, so the director keeps sending clients to a
# stopped server): requests fail.
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"
. "${LAB_GUEST:-/lab/guest}/pair.sh"

SVC="-t $LAB_VIP4:$LAB_PORT"
# The agent counts its VIP's sockets over sock_diag (the guest loads
# inet_diag and tcp_diag), so each drain ends when they are gone, well
# before this timeout: a drain that ends at the timeout fails the scenario.
DRAIN_TIMEOUT=25s
# A connection held to rs1's VIP for HOLD seconds of its drain (longer than
# the agent's min-wait, 2 s): the VIP must still be bound then (the drain
# waits for the socket), and the drain end without the timeout once it is
# closed.
HOLD=4
[ -d /sys/module/inet_diag ] || fail "the guest has no inet_diag: the agent cannot count its sockets"
topo_up 2
rs_agent_start rs1
rs_agent_start rs2
{
	lv_head
	cat <<YAML
  - service: tcp $LAB_VIP4:$LAB_PORT
    scheduler: rr
    # The HTTP check is not what this scenario is about: slow and tolerant
    # (a 200 ms timeout flaps under TCG on a busy host and would take both
    # real servers out at once). The agent's probe carries the drain: its
    # first "draining" answer sets weight 0, whatever fall says.
    check: {type: http, interval: 500ms, timeout: 500ms, rise: 2, fall: 3}
    agent: {interval: 200ms, timeout: 200ms, rise: 2, fall: 3}
    nodes:
      - {address: 10.0.0.11, method: dr}
      - {address: 10.0.0.12, method: dr}
YAML
} >"$LAB_WORK/director.yaml"
lv_start "$LAB_WORK/director.yaml"
both_up() { ipvs_has "$SVC" 10.0.0.11:80 1 && ipvs_has "$SVC" 10.0.0.12:80 1; }
check "both real servers up (their HTTP checks and their agents' readiness)" wait_for 10 both_up

agent() { ip netns exec "$1" lvsnode agent "$2" --state-file "$LAB_STATE_DIR/$1.json" "${@:3}" >/dev/null; }

step "rolling restart with drain, client sending continuously"
client_loop_start "$LAB_WORK/rolling.txt"
sleep 1
for rs in rs1 rs2; do
	hold_pid=""
	if [ "$rs" = rs1 ]; then
		# Both ends in rs1 with the VIP as local address: two established
		# sockets the agent counts, closed HOLD s into the drain.
		ip netns exec rs1 socat TCP4-LISTEN:7000,bind="$LAB_VIP4",reuseaddr SYSTEM:'sleep 60' >/dev/null 2>&1 &
		wait_for 5 bash -c "ip netns exec rs1 ss -Htln | grep ':7000 ' >/dev/null"
		ip netns exec rs1 socat -u TCP4:"$LAB_VIP4":7000 - >/dev/null 2>&1 &
		hold_pid=$!
		wait_for 5 bash -c "ip netns exec rs1 ss -Htn state established | grep -q '$LAB_VIP4:7000'" ||
			fail "rs1: the held connection to the VIP is not established"
	fi
	mark=$(wc -l <"$PAIR_W/agent-$rs.log")
	t0=$(now_us)
	# Full paths: busybox's timeout would run its own "ip" applet.
	timeout 30 "$(command -v ip)" netns exec "$rs" "$(command -v lvsnode)" agent drain --wait --timeout "$DRAIN_TIMEOUT" --state-file "$LAB_STATE_DIR/$rs.json" >/dev/null &
	drain_pid=$!
	if [ -n "$hold_pid" ]; then
		sleep "$HOLD"
		check "rs1: ${HOLD} s into the drain (min-wait 2 s over) the VIP is still bound: the drain waits for the held connection" rs_has_vip rs1 "$LAB_VIP4"
		kill "$hold_pid" 2>/dev/null || true
	fi
	wait "$drain_pid" || fail "$rs: agent drain --wait did not finish within 30 s (weight $(ipvs_weight "$SVC" "$(node_ip4 $rs):80"))"
	ms=$((($(now_us) - t0) / 1000))
	# The agent logs why once its teardown is done, just after --wait returns.
	drained_why() { tail -n +"$((mark + 1))" "$PAIR_W/agent-$rs.log" | grep -o 'no socket to a VIP left[^"]*\|timeout [^"]* reached[^"]*' | head -1; }
	wait_for 5 bash -c "$(declare -f drained_why); mark=$mark rs=$rs PAIR_W=$PAIR_W; [ -n \"\$(drained_why)\" ]" || true
	why=$(drained_why || true)
	info "$rs: drained (VIP removed) after $ms ms ($why); weight $(ipvs_weight "$SVC" "$(node_ip4 $rs):80")"
	check "$rs: the drain ended on its socket count, not the timeout" test "${why#no socket}" != "$why"
	rs_has_vip "$rs" "$LAB_VIP4" && fail "$rs still has the VIP after agent drain --wait"
	httpd_stop "$rs"
	sleep 0.5
	httpd_start "$rs"
	agent "$rs" undrain
	check "$rs back at weight 1 after undrain" wait_for 10 ipvs_has "$SVC" "$(node_ip4 $rs):80" 1
	sleep 0.5
done
client_loop_stop
sent=$(answers_count "$LAB_WORK/rolling.txt")
failed=$(answers_count "$LAB_WORK/rolling.txt" ERR)
info "rs1 answered $(answers_count "$LAB_WORK/rolling.txt" rs1), rs2 $(answers_count "$LAB_WORK/rolling.txt" rs2)"
echo "FIGURE rolling restart with drain: $sent requests sent, $failed failed"
check "enough requests to mean something ($sent >= 30)" test "$sent" -ge 30
check "zero failed requests" test "$failed" = 0

step "control: the same restart without drain"
client_loop_start "$LAB_WORK/control.txt"
sleep 1
for rs in rs1 rs2; do
	httpd_stop "$rs"
	sleep 1.5
	httpd_start "$rs"
	sleep 0.5
done
client_loop_stop
csent=$(answers_count "$LAB_WORK/control.txt")
cfailed=$(answers_count "$LAB_WORK/control.txt" ERR)
echo "FIGURE control without drain: $csent requests sent, $cfailed failed"
check "control: requests fail without the drain" test "$cfailed" -gt 0
lv_stop
