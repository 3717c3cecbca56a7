#!/usr/bin/env bash
# `make demo`: a whole LVS-DR cluster inside the lab VM, narrated. The real
# servers are configured by `lvsnode agent apply` only; the director by
# `lvsnode controller` when this binary has it, else by ipvsadm.
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"

say() { printf '\n### %s\n' "$*"; }
run() {
	# run NS CMD...: show the command as typed on that machine, then run it.
	local ns=$1
	shift
	printf '%-9s# %s\n' "$ns" "$*"
	ip netns exec "$ns" "$@" 2>&1 | sed 's/^/           /'
}

say "Linux $(uname -r) in qemu, IPVS $(ipvsadm -v 2>/dev/null | awk '{print $2}' || true) loaded. Building the cluster:"
topo_up 2
cat <<EOF
   client    10.0.0.10   fd00::10   (curl)
   director  10.0.0.2    fd00::2    VIP $LAB_VIP4 and $LAB_VIP6 on eth0 (IPVS)
   rs1       10.0.0.11   fd00::11   httpd answering "rs1"
   rs2       10.0.0.12   fd00::12   httpd answering "rs2"
   all four are network namespaces on one bridge (br0): one layer-2 segment.
EOF

say "Real servers: lvsnode sets the ARP sysctls, then binds the VIPs on lo"
for rs in rs1 rs2; do
	run "$rs" lvsnode agent apply --vip "$LAB_VIP4" --vip "$LAB_VIP6" --state-file "$LAB_STATE_DIR/$rs.json"
done
echo
run rs1 lvsnode agent status --state-file "$LAB_STATE_DIR/rs1.json"

say "Director: a round-robin IPVS service on each VIP, real servers by direct routing (-g)"
if lvsnode controller add-node --help >/dev/null 2>&1; then
	for vip in "$LAB_VIP4" "[$LAB_VIP6]"; do
		for rs in rs1 rs2; do
			rip=$(node_ip4 "$rs")
			[ "$vip" = "$LAB_VIP4" ] || rip="[$(node_ip6 "$rs")]"
			run director lvsnode controller add-node -t "$vip:80" -r "$rip:80" -g -s rr
		done
	done
	echo
	run director lvsnode controller list
else
	echo "(this lvsnode has no 'controller add-node' yet: using ipvsadm on the director)"
	for vip in "$LAB_VIP4" "[$LAB_VIP6]"; do
		run director ipvsadm -A -t "$vip:80" -s rr
		for rs in rs1 rs2; do
			rip=$(node_ip4 "$rs")
			[ "$vip" = "$LAB_VIP4" ] || rip="[$(node_ip6 "$rs")]"
			run director ipvsadm -a -t "$vip:80" -r "$rip:80" -g
		done
	done
	echo
	run director ipvsadm -Ln
fi

say "Client: 6 requests to http://$LAB_VIP4/ (the director picks, the real server answers the client directly)"
v4=""
for i in 1 2 3 4 5 6; do
	a=$(client_get "$LAB_VIP4" 2>&1 || echo "ERROR")
	printf '   request %d -> %s\n' "$i" "$a"
	v4="$v4 $a"
done

say "Client: 4 requests to http://[$LAB_VIP6]/"
v6=""
for i in 1 2 3 4; do
	a=$(client_get "[$LAB_VIP6]" 2>&1 || echo "ERROR")
	printf '   request %d -> %s\n' "$i" "$a"
	v6="$v6 $a"
done

say "Who answers ARP for the VIP? Only the director (real servers keep quiet thanks to arp_ignore)"
dmac=$(ns_mac director)
in_ns client arping -b -c 1000 -w 1 -I eth0 "$LAB_VIP4" 2>/dev/null | grep reply | sed 's/^/   /' || true
echo "   director eth0 is $dmac"

say "The agent keeps it true: lvsnode agent run on rs1, then someone deletes the VIP"
ip netns exec rs1 lvsnode agent run --vip "$LAB_VIP4" --vip "$LAB_VIP6" \
	--state-file "$LAB_STATE_DIR/rs1.json" --resync-interval 1s >/tmp/demo-agent.log 2>&1 &
agent=$!
printf '%-9s# %s &\n' rs1 "lvsnode agent run --vip $LAB_VIP4 --vip $LAB_VIP6 --resync-interval 1s"
wait_for 5 grep -q 'agent running' /tmp/demo-agent.log || true
sleep 0.5
printf '%-9s# %s\n' rs1 "ip addr del $LAB_VIP4/32 dev lo"
t0=$(now_ms)
ip -n rs1 addr del "$LAB_VIP4/32" dev lo
if wait_for 5 rs_has_vip rs1 "$LAB_VIP4"; then
	echo "           ... and $LAB_VIP4 is back on rs1's lo after $(($(now_ms) - t0)) ms:"
	sed -n 's/.*msg="drift repaired" \(.*\)/             \1/p' /tmp/demo-agent.log
else
	echo "           ... NOT repaired within 5 s"
	repaired=no
fi
kill "$agent" 2>/dev/null || true
wait "$agent" 2>/dev/null || true
v4b=$(curl_vip v4 2)
echo "   two more requests: $(echo $v4b)"

say "The director's IPVS table with traffic counters (ipvsadm -Ln --stats)"
sleep 2 # IPVS refreshes these counters every 2 seconds
ip netns exec director ipvsadm -Ln --stats | sed 's/^/   /'
echo "   (OutPkts stays 0: with direct routing the replies go from the real server"
echo "    straight to the client, never back through the director)"

# shellcheck disable=SC2086
if check_alternates $v4 && check_alternates $v6 && check_alternates $v4b && [ "${repaired:-yes}" = yes ]; then
	say "OK: every request was served, alternating rs1/rs2, through the director's IPVS."
else
	say "NOT OK: expected answers alternating between rs1 and rs2 (IPv4:$v4; IPv6:$v6)"
	exit 1
fi

# --- act 2: the pair ------------------------------------------------------------
. "${LAB_GUEST:-/lab/guest}/pair.sh"
trap - EXIT
fail_demo() {
	say "NOT OK: $*"
	tail -5 "$PAIR_W/controller.log" "$PAIR_W"/agent-*.log 2>/dev/null | cut -c1-200
	exit 1
}

say "The pair: the same cluster kept true by 'lvsnode controller run' and 'lvsnode agent run'"
run director lvsnode controller clear
for rs in rs1 rs2; do
	printf '%-9s# %s &\n' "$rs" "lvsnode agent run --vip $LAB_VIP4 --listen $(node_ip4 "$rs"):$PAIR_READY_PORT --drain-min-wait 2s"
	rs_agent_start "$rs" || fail_demo "the agent on $rs did not become ready"
done
cat >/tmp/director.yaml <<YAML
state_file: $LAB_STATE_DIR/director.json
metrics: 127.0.0.1:9110
services:
  - service: tcp $LAB_VIP4:$LAB_PORT
    scheduler: rr
    check: {type: http, interval: 500ms, timeout: 500ms, fall: 2, rise: 2}  # the web server answers
    agent: {port: $PAIR_READY_PORT, interval: 500ms, timeout: 500ms, fall: 2, rise: 2}  # the agent: VIP bound, drain
    nodes:
      - {address: $(node_ip4 rs1), method: dr}
      - {address: $(node_ip4 rs2), method: dr}
YAML
echo "director # cat /etc/lvsnode/director.yaml"
sed 's/^/           /' /tmp/director.yaml
printf '%-9s# %s &\n' director "lvsnode controller run --config /etc/lvsnode/director.yaml"
lv_start /tmp/director.yaml || fail_demo "controller run did not start"
weight_is() { ip netns exec director ipvsadm -Ln | grep "$(node_ip4 "$1"):" | awk -v w="$2" '{exit !($4 == w)}'; }
wait_for 10 weight_is rs1 1 && wait_for 10 weight_is rs2 1 || fail_demo "the real servers did not come up"
run director lvsnode controller status

say "rs2's web server dies: its health check takes it out (weight 0; connections kept)"
printf '%-9s# %s\n' rs2 "kill \$(pidof httpd)"
t0=$(now_ms)
httpd_stop rs2
wait_for 5 weight_is rs2 0 ||
	fail_demo "rs2 still has weight in IPVS after 5 s"
echo "           ... weight 0 after $(($(now_ms) - t0)) ms (checks every 500 ms, fall 2)"
out=$(curl_vip v4 4 | tr '\n' ' ')
echo "   four requests: $out"
[ "$out" = "rs1 rs1 rs1 rs1 " ] || fail_demo "expected rs1 only, got: $out"
printf '%-9s# %s\n' rs2 "httpd -p $LAB_PORT -h /srv/rs2"
httpd_start rs2
wait_for 10 weight_is rs2 1 ||
	fail_demo "rs2 did not come back"
echo "           ... back at weight 1 after its checks passed twice (rise 2)"

say "rs1 drained and back (as for a restart), while the client sends requests non-stop"
client_loop_start /tmp/demo-answers
sleep 1
run rs1 lvsnode agent drain --state-file "$LAB_STATE_DIR/rs1.json"
sleep 1
run director lvsnode controller list -n
wait_for 10 bash -c "! ip -n rs1 addr show dev lo | grep -q '$LAB_VIP4/32'" || fail_demo "the drain did not end"
echo "           ... the agent removed the VIP once no client connection was left"
run rs1 lvsnode agent status --state-file "$LAB_STATE_DIR/rs1.json"
sleep 1
run rs1 lvsnode agent undrain --state-file "$LAB_STATE_DIR/rs1.json"
wait_for 10 weight_is rs1 1 ||
	fail_demo "rs1 did not come back after undrain"
sleep 1
client_loop_stop
sent=$(answers_count /tmp/demo-answers) failed=$(answers_count /tmp/demo-answers ERR)
echo "   the client sent $sent requests during the drain and return: $failed failed"
run director lvsnode controller status
lv_stop
for rs in rs1 rs2; do kill "$(eval echo "\$AGENT_PID_$rs")" 2>/dev/null || true; done
wait 2>/dev/null || true
[ "$failed" = 0 ] || fail_demo "$failed requests failed during the drain"
say "OK: a dead web server left the pool and came back; a drain and return of rs1 cost no request."
