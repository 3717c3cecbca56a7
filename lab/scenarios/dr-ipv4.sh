#!/usr/bin/env bash
# LVS-DR over IPv4: lvsnode agent configures both real servers, ipvsadm puts a
# round-robin DR service on the director, and the client's requests to the VIP
# alternate between rs1 and rs2 through IPVS.
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"

step "topology: client, director, rs1, rs2 on br0"
topo_up 2

step "real servers: lvsnode agent apply --vip $LAB_VIP4"
for rs in rs1 rs2; do
	agent_apply "$rs" --vip "$LAB_VIP4" | sed "s/^/    $rs: /"
	check "$rs: $LAB_VIP4 on lo" rs_has_vip "$rs" "$LAB_VIP4"
	check "$rs: arp_ignore=1 arp_announce=2" test "$(ns_sysctl "$rs" net.ipv4.conf.all.arp_ignore)$(ns_sysctl "$rs" net.ipv4.conf.all.arp_announce)" = 12
	check "$rs: agent status reports no drift" agent_status "$rs"
done

step "director: ipvsadm -A -t $LAB_VIP4:80 -s rr, real servers with -g"
director_dr v4 rr
in_ns director ipvsadm -Ln | sed 's/^/    /'

step "client: 6 requests to http://$LAB_VIP4/"
answers=$(curl_vip v4 6)
info "answers: $(echo $answers)"
# shellcheck disable=SC2086
check "answers alternate between rs1 and rs2" check_alternates $answers

step "the director saw every connection (not ARP flux to a real server)"
conns=$(in_ns director ipvsadm -Ln | awk '$1 == "->" && $2 ~ /:80$/ {s += $5 + $6} END {print s + 0}')
info "connections in the IPVS table: $conns"
check "IPVS counted 6 connections" test "$conns" -eq 6

step "the client resolved the VIP to the director's MAC (ARP)"
dmac=$(ns_mac director)
cmac=$(ip -n client neigh show "$LAB_VIP4" | sed -n 's/.*lladdr \([0-9a-f:]*\).*/\1/p')
info "client neighbour entry: $LAB_VIP4 -> ${cmac:-none}; director eth0: $dmac"
check "VIP resolves to the director" test "$cmac" = "$dmac"
