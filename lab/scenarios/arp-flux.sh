#!/usr/bin/env bash
# ARP flux: with the VIP on lo a real server answers ARP for it unless
# arp_ignore/arp_announce are set, and then clients send VIP traffic straight
# to that real server, past the director. The control run binds the VIP by
# hand without the sysctls and must see real servers answer (so this check can
# fail); after `lvsnode agent apply` only the director's MAC may answer.
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"

# vip_answerers: the distinct MACs answering ARP for the VIP on the bridge,
# broadcast probes only (-b: arping would otherwise unicast to the first), for
# 2 seconds (-w 2; -c 1000 so replies do not end it early: with -w, -c counts replies).
vip_answerers() {
	in_ns client arping -b -c 1000 -w 2 -I eth0 "$LAB_VIP4" 2>/dev/null |
		sed -n 's/.*reply from .* \[\([0-9A-Fa-f:]*\)\].*/\1/p' | tr 'A-F' 'a-f' | sort -u || true
}
# name_of MAC: which node owns MAC.
name_of() {
	for n in director client $(rs_list); do
		[ "$(ns_mac "$n")" = "$1" ] && echo "$n" && return
	done
	echo "unknown"
}
show() {
	for m in $1; do info "ARP reply from $m ($(name_of "$m"))"; done
}

step "topology: client, director, rs1, rs2 on br0"
topo_up 2
dmac=$(ns_mac director)
info "director eth0 MAC: $dmac"

step "control: VIP on the real servers' lo by hand, arp_ignore=0 (the naive recipe)"
for rs in rs1 rs2; do
	ip -n "$rs" addr add "$LAB_VIP4/32" dev lo
	info "$rs: arp_ignore=$(ns_sysctl "$rs" net.ipv4.conf.all.arp_ignore) arp_announce=$(ns_sysctl "$rs" net.ipv4.conf.all.arp_announce)"
done
macs=$(vip_answerers)
show "$macs"
n=$(echo "$macs" | grep -c . || true)
check "control run: real servers answer ARP for the VIP too ($n MACs)" test "$n" -ge 2
for rs in rs1 rs2; do
	check "control run: $rs answered" grep -qx "$(ns_mac "$rs")" <<<"$macs"
done

step "undo the hand setup"
for rs in rs1 rs2; do ip -n "$rs" addr del "$LAB_VIP4/32" dev lo; done

step "lvsnode agent apply --vip $LAB_VIP4 on rs1 and rs2"
for rs in rs1 rs2; do
	agent_apply "$rs" --vip "$LAB_VIP4" | sed "s/^/    $rs: /"
	check "$rs: $LAB_VIP4 on lo" rs_has_vip "$rs" "$LAB_VIP4"
done
macs=$(vip_answerers)
show "$macs"
check "with lvsnode only the director answers ARP for the VIP" test "$macs" = "$dmac"

step "and the real servers do still accept VIP traffic (DR through the director)"
director_dr v4 rr
answers=$(curl_vip v4 4)
info "answers: $(echo $answers)"
# shellcheck disable=SC2086
check "answers alternate between rs1 and rs2" check_alternates $answers
