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
