#!/usr/bin/env bash
# LVS-NAT, IPv4 and IPv6: the client on its own subnet behind the director,
# the director programmed with lvsnode controller add-node -m, the real
# server with lvsnode agent apply --mode nat --gateway DIP. Control first:
# without the agent the replies take the site's default route and never
# come back. Then: answered through the director (IPv6 with the agent
# refusing ICMP redirects on the real server, and a control with them
# accepted: see the IPv6 step); a gateway that is not on a
# directly connected network refused with nothing changed; drift repaired;
# teardown puts the site's default route back.
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"
st=$LAB_STATE_DIR/rs1.json

step "topology: rs1 and the director on 10.0.0.0/24, the client on 192.168.1.0/24 behind the director"
topo_up 1
client_elsewhere
# The site's default routes: an IPv4 router at metric 0 (the agent must
# replace it and put it back) and an IPv6 one at 1024 (an RA's: kept).
ip -n rs1 route add default via 10.0.0.1
ip -n rs1 -6 route add default via fd00::1 metric 1024
ip -n rs1 route show default | sed 's/^/    rs1 before: /'
ip -n rs1 -6 route show default | sed 's/^/    rs1 before: /'
before4=$(ip -n rs1 route show default)
before6=$(ip -n rs1 -6 route show default)

step "director: lvsnode controller add-node -m (NAT), IPv4 and IPv6"
in_ns director lvsnode controller add-node -t "$LAB_VIP4:80" -r "$(node_ip4 rs1)" -m --enable-forwarding -s rr
in_ns director lvsnode controller add-node -t "[$LAB_VIP6]:80" -r "[$(node_ip6 rs1)]" -m --enable-forwarding -s rr

step "control: without the agent, replies go to the site's router and are lost"
answers=$(client_fetch "http://$LAB_VIP4/" "http://[$LAB_VIP6]/" | tr '\n' ' ')
info "answers: $answers"
check "control: no answer over either family" test "$answers" = "ERR ERR "

step "rs1: a gateway behind a router is refused, nothing changed"
rc=0
out=$(ip netns exec rs1 lvsnode agent apply --state-file "$st" --mode nat --gateway 192.0.2.1 2>&1) || rc=$?
info "exit $rc: $out"
check "exit status 2" test "$rc" = 2
check "one line naming --gateway" test "$(echo "$out" | wc -l)-${out#*--gateway}" != "1-$out"
check "default routes unchanged" test "$(ip -n rs1 route show default)|$(ip -n rs1 -6 route show default)" = "$before4|$before6"
check "no state file" test ! -e "$st"

step "rs1: lvsnode agent apply --mode nat --gateway 10.0.0.2 --gateway fd00::2"
ip netns exec rs1 lvsnode agent apply --state-file "$st" --mode nat --gateway 10.0.0.2 --gateway fd00::2 | sed 's/^/    /'
ip -n rs1 route show default | sed 's/^/    rs1: /'
ip -n rs1 -6 route show default | sed 's/^/    rs1: /'
check "IPv4 default via the director only" test "$(ip -n rs1 route show default)" = "default via 10.0.0.2 dev eth0 proto 76 "
check "IPv6 default via the director first, the RA-like one kept" bash -c "ip -n rs1 -6 route show default | head -1 | grep -q '^default via fd00::2 dev eth0 proto 76 metric 1 ' && ip -n rs1 -6 route show default | grep -q 'via fd00::1'"
check "agent status reports no drift" agent_status rs1

step "client: requests to the VIP, answered through the director"
masq4() { in_ns director ipvsadm -Ln | awk '$1 == "->" && $3 == "Masq" && $2 !~ /^\[/ {s += $5 + $6} END {print s + 0}'; }
conns0=$(masq4)
answers=$(client_fetch "http://$LAB_VIP4/" "http://$LAB_VIP4/" | tr '\n' ' ')
info "answers: $answers"
check "all answered by rs1" test "$answers" = "rs1 rs1 "
conns=$(($(masq4) - conns0))
check "IPVS masqueraded the 2 IPv4 connections ($conns)" test "$conns" -eq 2
# IPv6. The director here is one-armed: client and real server share its
# eth0's link. It forwards every reply out the interface it came in by, and
# for IPv6 Linux then sends an ICMPv6 redirect ("fd01::10 is on-link";
# ip6_forward: IPv6 has no send_redirects switch). A real server that
# accepts it sends the rest of the connection straight to the client,
# around IPVS: the handshake passes, the data never arrives un-NATed. So
# the agent refuses redirects on the gateway's NIC in NAT mode
# (accept_redirects=0); the control puts the kernel's default back by hand.
masq6() { in_ns director ipvsadm -Ln | awk '$1 == "->" && $3 == "Masq" && $2 ~ /^\[/ {s += $5 + $6} END {print s + 0}'; }
redirects() { ip netns exec "$1" nstat -asz "$2" | awk -v k="$2" '$1 == k {print $2 + 0}'; }
check "the agent set accept_redirects=0 on rs1's eth0 (IPv6, IPv4)" test "$(ip netns exec rs1 cat /proc/sys/net/ipv6/conf/eth0/accept_redirects /proc/sys/net/ipv4/conf/eth0/accept_redirects | tr '\n' ' ')" = "0 0 "

step "control: rs1 accepting ICMPv6 redirects again (the kernel's default, set by hand): the data stalls"
ip netns exec rs1 sh -c 'echo 1 >/proc/sys/net/ipv6/conf/eth0/accept_redirects'
check "agent status reports the drift" bash -c "! ip netns exec rs1 lvsnode agent status --state-file $st >/dev/null"
sent0=$(redirects director Icmp6OutRedirects) got0=$(redirects rs1 Icmp6InRedirects)
answers=$(client_fetch "http://[$LAB_VIP6]/" "http://[$LAB_VIP6]/" | tr '\n' ' ')
sent=$(($(redirects director Icmp6OutRedirects) - sent0)) got=$(($(redirects rs1 Icmp6InRedirects) - got0))
info "answers: $answers; ICMPv6 redirects sent by the director $sent, received by rs1 $got"
ip -n rs1 -6 route show cache | sed 's/^/    rs1 route cache: /'
check "control: no IPv6 answer" test "$answers" = "ERR ERR "
check "the director sent ICMPv6 redirects and rs1 received them" test "$sent" -gt 0 -a "$got" -gt 0
check "rs1 reaches the client on-link (the redirect), not via the director" bash -c "ip -n rs1 -6 route get fd01::10 | grep -v via >/dev/null"

step "IPv6: lvsnode agent apply repairs accept_redirects: answered through the director"
ip netns exec rs1 lvsnode agent apply --state-file "$st" --mode nat --gateway 10.0.0.2 --gateway fd00::2 | sed 's/^/    /'
check "accept_redirects back to 0" test "$(ip netns exec rs1 cat /proc/sys/net/ipv6/conf/eth0/accept_redirects)" = 0
ip -n rs1 -6 route flush cache
check "rs1 reaches the client via the director again" bash -c "ip -n rs1 -6 route get fd01::10 | grep 'via fd00::2' >/dev/null"
conns0=$(masq6)
answers=$(client_fetch "http://[$LAB_VIP6]/" "http://[$LAB_VIP6]/" | tr '\n' ' ')
info "answers: $answers"
check "all answered by rs1 over IPv6" test "$answers" = "rs1 rs1 "
conns=$(($(masq6) - conns0))
check "IPVS masqueraded the 2 IPv6 connections ($conns)" test "$conns" -eq 2

step "drift: lvsnode's IPv4 default route deleted, then repaired"
ip -n rs1 route del default via 10.0.0.2
check "agent status reports the drift" bash -c "! ip netns exec rs1 lvsnode agent status --state-file $st >/dev/null"
ip netns exec rs1 lvsnode agent apply --state-file "$st" --mode nat --gateway 10.0.0.2 --gateway fd00::2 | sed 's/^/    repair: /'
answers=$(client_fetch "http://$LAB_VIP4/" | tr '\n' ' ')
check "answered again ($answers)" test "$answers" = "rs1 "

step "teardown: the site's default routes come back"
ip netns exec rs1 lvsnode agent teardown --state-file "$st" | sed 's/^/    /'
ip -n rs1 route show default | sed 's/^/    rs1 after: /'
ip -n rs1 -6 route show default | sed 's/^/    rs1 after: /'
check "IPv4 default route restored" test "$(ip -n rs1 route show default)" = "$before4"
check "IPv6 default routes as before" test "$(ip -n rs1 -6 route show default)" = "$before6"
check "accept_redirects restored (1 1: the namespace's defaults)" test "$(ip netns exec rs1 cat /proc/sys/net/ipv6/conf/eth0/accept_redirects /proc/sys/net/ipv4/conf/eth0/accept_redirects | tr '\n' ' ')" = "1 1 "
