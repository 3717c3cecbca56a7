# tun_scenario TYPE v4|v6 [PORT]: LVS-TUN with one real server. The director
# is programmed with `lvsnode controller add-node -i --tun-type TYPE`, the
# real server with `lvsnode agent apply --mode tun --tun-type TYPE`. Checks:
# requests through the VIP answered by rs1 through IPVS's tunnel; a 1 MB
# upload without the director sending any ICMP "fragmentation needed"; and
# controls that undo one setting of the agent at a time (rp_filter for IPv4,
# the advmss rule, the device up) and show each one failing, then the agent
# repairing it, then teardown leaving the host as it was.
# Sourced by lab/scenarios/tun-*.sh after topo.sh.
tun_scenario() {
	local typ=$1 fam=$2 port=${3:-} vip host dev rpdev tunflags agentflags
	if [ "$fam" = v4 ]; then vip=$LAB_VIP4 host=$LAB_VIP4; else vip=$LAB_VIP6 host="[$LAB_VIP6]"; fi
	case $typ/$fam in
	ipip/v4 | gue/v4) dev=tunl0 ;;
	ipip/v6 | gue/v6) dev=ip6tnl0 ;;
	gre/v4) dev=gre0 ;;
	gre/v6) dev=ip6gre0 ;;
	esac
	tunflags="-i --tun-type $typ" agentflags="--mode tun --tun-type $typ"
	if [ -n "$port" ]; then tunflags="$tunflags --tun-port $port" agentflags="$agentflags --tun-port $port"; fi
	local rip rs=rs1
	rip=$(node_ip4 rs1)
	[ "$fam" = v6 ] && rip="[$(node_ip6 rs1)]"

	step "topology: client, director, rs1 on br0 (all MTU 1500)"
	topo_up 1
	[ "$fam" = v6 ] && director_vip6_deprecated
	upload_sink rs1 8080
	# What a distribution sets (RHEL: rp_filter=1): strict on all and the device.
	ip netns exec rs1 sh -c "echo 1 >/proc/sys/net/ipv4/conf/all/rp_filter; echo 1 >/proc/sys/net/ipv4/conf/default/rp_filter"
	[ -e "/proc/sys/net/ipv4/conf/$dev" ] && ip netns exec rs1 sh -c "echo 1 >/proc/sys/net/ipv4/conf/$dev/rp_filter"

	step "director: lvsnode controller add-node -t $host:80 and :8080 -r $rip $tunflags"
	# shellcheck disable=SC2086
	in_ns director lvsnode controller add-node -t "$host:80" -r "$rip" $tunflags -s rr
	# shellcheck disable=SC2086
	in_ns director lvsnode controller add-node -t "$host:8080" -r "$rip" $tunflags -s rr
	in_ns director ipvsadm -Ln | sed 's/^/    /'

	step "rs1: lvsnode agent apply --vip $vip $agentflags"
	# shellcheck disable=SC2086
	agent_apply rs1 --vip "$vip" $agentflags | sed 's/^/    /'
	check "rs1: agent status reports no drift" agent_status rs1
	ip netns exec rs1 lvsnode agent status --state-file "$LAB_STATE_DIR/rs1.json" | sed 's/^/    /'
	check "rs1: $dev is up" bash -c "ip -n rs1 link show $dev | grep -q ',UP'"
	if [ "$fam" = v4 ]; then
		check "rs1: rp_filter 0 on $dev and all" test "$(ns_sysctl rs1 net.ipv4.conf.$dev.rp_filter)$(ns_sysctl rs1 net.ipv4.conf.all.rp_filter)" = 00
	fi
	ip -n rs1 -"${fam#v}" rule show | sed 's/^/    rule: /'
	ip -n rs1 -"${fam#v}" route show table 76 | sed 's/^/    table 76: /'

	step "client: 4 requests to the VIP, through the $typ tunnel"
	local answers
	answers=$(curl_vip "$fam" 4 | tr '\n' ' ')
	info "answers: $answers"
	check "every request answered by rs1" test "$answers" = "rs1 rs1 rs1 rs1 "

	step "1 MB upload through the VIP: no ICMP 'fragmentation needed' from the director"
	local before after got
	before=$(icmp_too_big director)
	got=$(client_upload "$host" 8080 1048576)
	after=$(icmp_too_big director)
	info "sink: $got; director ICMP too-big sent: $before -> $after"
	check "the upload arrived whole" test "$got" = "received 1048576"
	check "the director sent no ICMP too-big" test "$after" -eq "$before"

	step "control: without the advmss rule, full-size segments need ICMP too-big"
	ip -n rs1 -"${fam#v}" rule del from "$vip" lookup 76
	before=$(icmp_too_big director)
	got=$(client_upload "$host" 8080 1048576 || true)
	after=$(icmp_too_big director)
	info "sink: $got; director ICMP too-big sent: $before -> $after"
	check "control: the director had to send ICMP too-big" test "$after" -gt "$before"
	check "control: agent status reports the missing rule" bash -c "! ip netns exec rs1 lvsnode agent status --state-file $LAB_STATE_DIR/rs1.json >/dev/null"
	agent_apply rs1 --vip "$vip" $agentflags | sed 's/^/    repair: /'
	check "repaired: agent status reports no drift" agent_status rs1
	# New connections only: the client cached the smaller path MTU; flush it.
	ip -n client route flush cache 2>/dev/null || true
	ip -n client -6 route flush cache 2>/dev/null || true

	if [ "$fam" = v4 ]; then
		step "control: loose rp_filter (2) on $dev still drops the unwrapped packets"
		# The device has no address: the kernel's source validation fails
		# for any non-zero rp_filter; TcpExtIPReversePathFilter counts it.
		local rpf0 rpf1
		rpf0=$(ip netns exec rs1 nstat -asz TcpExtIPReversePathFilter | awk '$1 == "TcpExtIPReversePathFilter" {print $2}')
		ip netns exec rs1 sh -c "echo 2 >/proc/sys/net/ipv4/conf/$dev/rp_filter"
		answers=$(curl_vip "$fam" 1 | tr '\n' ' ')
		rpf1=$(ip netns exec rs1 nstat -asz TcpExtIPReversePathFilter | awk '$1 == "TcpExtIPReversePathFilter" {print $2}')
		info "answers: $answers; TcpExtIPReversePathFilter ${rpf0:-0} -> ${rpf1:-0}"
		check "control: no answer with rp_filter=2" test "$answers" = "ERR "
		check "control: the drops were reverse-path filtering" test "${rpf1:-0}" -gt "${rpf0:-0}"
		agent_apply rs1 --vip "$vip" $agentflags | sed 's/^/    repair: /'
		answers=$(curl_vip "$fam" 1 | tr '\n' ' ')
		check "repaired: answered again ($answers)" test "$answers" = "rs1 "
	fi

	step "control: $dev down, nothing unwraps"
	ip -n rs1 link set "$dev" down
	answers=$(curl_vip "$fam" 1 | tr '\n' ' ')
	check "control: no answer with $dev down ($answers)" test "$answers" = "ERR "
	agent_apply rs1 --vip "$vip" $agentflags | sed 's/^/    repair: /'
	answers=$(curl_vip "$fam" 1 | tr '\n' ' ')
	check "repaired: answered again ($answers)" test "$answers" = "rs1 "

	step "teardown: everything lvsnode added goes, the site's values come back"
	ip netns exec rs1 lvsnode agent teardown --state-file "$LAB_STATE_DIR/rs1.json" | sed 's/^/    /'
	check "no rule to table 76 left" bash -c "! ip -n rs1 -${fam#v} rule show | grep -q 'lookup 76'"
	check "table 76 empty" test -z "$(ip -n rs1 -"${fam#v}" route show table 76)"
	check "$vip gone from lo" bash -c "! ip -n rs1 addr show dev lo | grep -q ' $vip/'"
	check "$dev down again (lvsnode raised it)" bash -c "! ip -n rs1 link show $dev | grep -q ',UP'"
	if [ "$fam" = v4 ]; then
		check "rp_filter on $dev and all back to 1" test "$(ns_sysctl rs1 net.ipv4.conf.$dev.rp_filter)$(ns_sysctl rs1 net.ipv4.conf.all.rp_filter)" = 11
	fi
	if [ -n "$port" ]; then
		check "FOU port $port closed" bash -c "! ip -n rs1 fou show | grep -q 'port $port'"
	fi
}
