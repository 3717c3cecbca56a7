#!/usr/bin/env bash
# LVS-DR over IPv6: lvsnode agent configures both real servers, ipvsadm puts a
# round-robin DR service on the director, and the client's requests to the VIP
# alternate between rs1 and rs2 through IPVS.
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"

step "topology: client, director, rs1, rs2 on br0"
topo_up 2

step "real servers: lvsnode agent apply --vip $LAB_VIP6"
for rs in rs1 rs2; do
	agent_apply "$rs" --vip "$LAB_VIP6" | sed "s/^/    $rs: /"
	check "$rs: $LAB_VIP6 on lo" rs_has_vip "$rs" "$LAB_VIP6"
	check "$rs: agent status reports no drift" agent_status "$rs"
done

step "director: ipvsadm -A -t [$LAB_VIP6]:80 -s rr, real servers with -g"
director_dr v6 rr
in_ns director ipvsadm -Ln | sed 's/^/    /'

step "client: 6 requests to http://[$LAB_VIP6]/"
answers=$(curl_vip v6 6)
info "answers: $(echo $answers)"
# shellcheck disable=SC2086
check "answers alternate between rs1 and rs2" check_alternates $answers

step "the director saw every connection (not NDP to a real server)"
conns=$(in_ns director ipvsadm -Ln | awk '$1 == "->" && $2 ~ /:80$/ {s += $5 + $6} END {print s + 0}')
info "connections in the IPVS table: $conns"
check "IPVS counted 6 connections" test "$conns" -eq 6

step "the client resolved the VIP to the director's MAC (NDP)"
dmac=$(ns_mac director)
cmac=$(ip -n client neigh show "$LAB_VIP6" | sed -n 's/.*lladdr \([0-9a-f:]*\).*/\1/p')
info "client neighbour entry: $LAB_VIP6 -> ${cmac:-none}; director eth0: $dmac"
check "VIP resolves to the director" test "$cmac" = "$dmac"
