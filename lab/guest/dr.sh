# dr_scenario v4|v6: LVS-DR in one address family. lvsnode agent configures
# both real servers, ipvsadm puts a round-robin DR service on the director,
# the client's requests to the VIP alternate between rs1 and rs2, IPVS saw
# every connection, and the client resolved the VIP to the director's MAC
# (ARP for IPv4, NDP for IPv6: never a real server).
# Sourced by lab/scenarios/dr-ipv4.sh and dr-ipv6.sh, after topo.sh.
dr_scenario() {
	local fam=$1 vip url port resolve
	if [ "$fam" = v4 ]; then
		vip=$LAB_VIP4 url="http://$LAB_VIP4/" port="$LAB_VIP4:80" resolve=ARP
	else
		vip=$LAB_VIP6 url="http://[$LAB_VIP6]/" port="[$LAB_VIP6]:80" resolve=NDP
	fi

	step "topology: client, director, rs1, rs2 on br0"
	topo_up 2

	step "real servers: lvsnode agent apply --vip $vip"
	for rs in rs1 rs2; do
		agent_apply "$rs" --vip "$vip" | sed "s/^/    $rs: /"
		check "$rs: $vip on lo" rs_has_vip "$rs" "$vip"
		if [ "$fam" = v4 ]; then # ARP is IPv4 only: an IPv6 VIP needs no sysctl
			check "$rs: arp_ignore=1 arp_announce=2" test "$(ns_sysctl "$rs" net.ipv4.conf.all.arp_ignore)$(ns_sysctl "$rs" net.ipv4.conf.all.arp_announce)" = 12
		fi
		check "$rs: agent status reports no drift" agent_status "$rs"
	done

	step "director: ipvsadm -A -t $port -s rr, real servers with -g"
	director_dr "$fam" rr
	in_ns director ipvsadm -Ln | sed 's/^/    /'

	step "client: 6 requests to $url"
	local answers conns dmac cmac
	answers=$(curl_vip "$fam" 6)
	info "answers: $(echo $answers)"
	# shellcheck disable=SC2086
	check "answers alternate between rs1 and rs2" check_alternates $answers

	step "the director saw every connection (not $resolve to a real server)"
	conns=$(in_ns director ipvsadm -Ln | awk '$1 == "->" && $2 ~ /:80$/ {s += $5 + $6} END {print s + 0}')
	info "connections in the IPVS table: $conns"
	check "IPVS counted 6 connections" test "$conns" -eq 6

	step "the client resolved the VIP to the director's MAC ($resolve)"
	dmac=$(ns_mac director)
	cmac=$(ip -n client neigh show "$vip" | sed -n 's/.*lladdr \([0-9a-f:]*\).*/\1/p')
	info "client neighbour entry: $vip -> ${cmac:-none}; director eth0: $dmac"
	check "VIP resolves to the director" test "$cmac" = "$dmac"
}
