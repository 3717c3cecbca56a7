# lab/guest/topo.sh: the lab's topology and assertion helpers, sourced by every
# scenario and by the guest init (both bash); keep it POSIX sh anyway.
#
# Topology (topo_up [N], N real servers, default 2): one bridge br0 in the root
# namespace, one veth per node, the node's end named eth0 in netns NAME.
#
#   node      netns     IPv4          IPv6
#   director  director  10.0.0.2/24   fd00::2/64     + VIP 10.0.0.100/32, fd00::100/128 on eth0
#   client    client    10.0.0.10/24  fd00::10/64
#   rsN       rsN       10.0.0.1N/24  fd00::1N/64    (rs1 = .11, rs2 = .12, ... N <= 9)
#
# Every real server runs busybox httpd on port 80 (all addresses, IPv4 and
# IPv6, so the VIP too once it is on lo) serving /srv/rsN/index.html = "rsN".

LAB_VIP4=10.0.0.100
LAB_VIP6=fd00::100
LAB_PORT=80
LAB_BRIDGE=br0
LAB_STATE_DIR=/run/lvsnode
: "${LAB_RS_COUNT:=2}"

# --- output and assertions --------------------------------------------------

step() { echo "==> $*"; }
info() { echo "    $*"; }
ok() { echo "ok: $*"; }
fail() {
	echo "FAIL: $*"
	exit 1
}
# check DESC CMD...: run CMD; ok on success, fail (exit 1) otherwise.
check() {
	_d=$1
	shift
	if "$@"; then ok "$_d"; else fail "$_d"; fi
}

# now_ms: milliseconds since boot.
now_ms() {
	read -r _up _ </proc/uptime
	echo $((${_up%.*} * 1000 + 1${_up#*.}0 - 1000))
}

# wait_for SECONDS CMD...: poll CMD every 0.1s until it succeeds; 1 on timeout.
wait_for() {
	_deadline=$(($(now_ms) + $1 * 1000))
	shift
	while ! "$@" >/dev/null 2>&1; do
		[ "$(now_ms)" -lt "$_deadline" ] || return 1
		sleep 0.1
	done
	return 0
}

# --- addressing -------------------------------------------------------------

node_ip4() {
	case $1 in
	director) echo 10.0.0.2 ;;
	client) echo 10.0.0.10 ;;
	rs*) echo "10.0.0.$((10 + ${1#rs}))" ;;
	*) return 1 ;;
	esac
}
node_ip6() {
	case $1 in
	director) echo fd00::2 ;;
	client) echo fd00::10 ;;
	rs*) echo "fd00::$((10 + ${1#rs}))" ;;
	*) return 1 ;;
	esac
}
# rs_list: rs1 rs2 ... for the current topology.
rs_list() {
	_i=1
	while [ "$_i" -le "$LAB_RS_COUNT" ]; do
		printf 'rs%d ' "$_i"
		_i=$((_i + 1))
	done
	echo
}
# ns_mac NS [DEV]: the MAC address of DEV (eth0) in NS.
ns_mac() {
	ip -n "$1" -o link show dev "${2:-eth0}" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p'
}

in_ns() {
	_ns=$1
	shift
	ip netns exec "$_ns" "$@"
}

# --- topology ---------------------------------------------------------------

# topo_up [N]: bridge, director, client and N real servers with httpd. One
# `ip -batch` per namespace: every process start costs ~60 ms under TCG.
topo_up() {
	LAB_RS_COUNT=${1:-2}
	export LAB_RS_COUNT
	_nodes="director client $(rs_list)"
	# New namespaces inherit the root's IPv4 and IPv6 settings (1), here DAD
	# off: no tentative addresses for the first second.
	echo 1 >/proc/sys/net/core/devconf_inherit_init_net
	echo 0 >/proc/sys/net/ipv6/conf/all/accept_dad
	echo 0 >/proc/sys/net/ipv6/conf/default/accept_dad
	for _n in $_nodes; do ip netns add "$_n" || return 1; done
	{
		echo "link add $LAB_BRIDGE type bridge forward_delay 0 stp_state 0 mcast_snooping 0"
		echo "link set $LAB_BRIDGE up"
		for _n in $_nodes; do
			echo "link add v-$_n type veth peer name eth0 netns $_n"
			echo "link set v-$_n master $LAB_BRIDGE up"
		done
	} | ip -batch - || return 1
	for _n in $_nodes; do
		{
			echo "link set lo up"
			echo "link set eth0 up"
			echo "addr add $(node_ip4 "$_n")/24 dev eth0"
			echo "addr add $(node_ip6 "$_n")/64 dev eth0 nodad"
			if [ "$_n" = director ]; then
				echo "addr add $LAB_VIP4/32 dev eth0"
				echo "addr add $LAB_VIP6/128 dev eth0 nodad"
			fi
		} | ip -n "$_n" -batch - || return 1
	done
	for _rs in $(rs_list); do
		mkdir -p "/srv/$_rs"
		echo "$_rs" >"/srv/$_rs/index.html"
		ip netns exec "$_rs" httpd -p "$LAB_PORT" -h "/srv/$_rs"
	done
	mkdir -p "$LAB_STATE_DIR"
	# Ready when the client reaches every real server's httpd on its RIPs.
	_urls="" _want=""
	for _rs in $(rs_list); do
		_urls="$_urls http://$(node_ip4 "$_rs"):$LAB_PORT/ http://[$(node_ip6 "$_rs")]:$LAB_PORT/"
		_want="$_want $_rs $_rs"
	done
	_i=0
	while :; do
		# shellcheck disable=SC2086
		_got=$(client_fetch $_urls | tr '\n' ' ')
		[ " $_got" = "$_want " ] && break
		_i=$((_i + 1))
		if [ "$_i" -ge 20 ]; then
			echo "topo_up: real servers not reachable from the client:"
			echo "  asked:$_urls"
			echo "  want:$_want"
			echo "  got:  $_got"
			return 1
		fi
		sleep 0.2
	done
}

# topo_reset: kill everything in the lab namespaces and delete them, the
# bridge, lvsnode state and httpd roots. Run by init after every scenario.
topo_reset() {
	for _ns in $(ip netns list | awk '{print $1}'); do
		# || true: a process that exits between the listing and the kill
		# must not end a scenario running under set -e
		for _p in $(ip netns pids "$_ns" 2>/dev/null); do kill -KILL "$_p" 2>/dev/null || true; done
		ip netns del "$_ns" 2>/dev/null || true
	done
	ip link del "$LAB_BRIDGE" 2>/dev/null || true
	for _l in $(ip -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | grep '^v-'); do
		ip link del "$_l" 2>/dev/null || true
	done
	ipvsadm -C 2>/dev/null || true
	rm -rf /run/lvsnode /srv/rs* /etc/lvsnode
	mkdir -p /run/lvsnode
	return 0
}
topo_down() { topo_reset; }

# --- real servers: lvsnode agent ---------------------------------------------

# agent_apply RS [ARGS...]: `lvsnode agent apply` in RS with its own state
# file; ARGS default to both VIPs.
agent_apply() {
	_rs=$1
	shift
	[ $# -gt 0 ] || set -- --vip "$LAB_VIP4" --vip "$LAB_VIP6"
	ip netns exec "$_rs" lvsnode agent apply --state-file "$LAB_STATE_DIR/$_rs.json" "$@"
}

# agent_status RS [ARGS...]: `lvsnode agent status` in RS (exit 1 on drift),
# output discarded.
agent_status() {
	_rs=$1
	shift
	ip netns exec "$_rs" lvsnode agent status --state-file "$LAB_STATE_DIR/$_rs.json" "$@" >/dev/null
}

# rs_has_vip RS ADDR: ADDR is bound on RS's lo.
rs_has_vip() {
	ip -n "$1" addr show dev lo | grep "inet6\{0,1\} $2/" >/dev/null
}
# ns_sysctl NS KEY: read a sysctl (net.ipv4.conf.all.arp_ignore) inside NS.
ns_sysctl() {
	ip netns exec "$1" cat "/proc/sys/$(echo "$2" | tr . /)"
}

# --- director -----------------------------------------------------------------

# director_dr [v4|v6|both] [SCHED]: IPVS DR service on the VIP(s) with every
# real server, programmed with ipvsadm (the oracle, not the controller).
director_dr() {
	_fam=${1:-both}
	_sched=${2:-rr}
	if [ "$_fam" != v6 ]; then
		in_ns director ipvsadm -A -t "$LAB_VIP4:$LAB_PORT" -s "$_sched" || return 1
		for _rs in $(rs_list); do
			in_ns director ipvsadm -a -t "$LAB_VIP4:$LAB_PORT" -r "$(node_ip4 "$_rs"):$LAB_PORT" -g || return 1
		done
	fi
	if [ "$_fam" != v4 ]; then
		in_ns director ipvsadm -A -t "[$LAB_VIP6]:$LAB_PORT" -s "$_sched" || return 1
		for _rs in $(rs_list); do
			in_ns director ipvsadm -a -t "[$LAB_VIP6]:$LAB_PORT" -r "[$(node_ip6 "$_rs")]:$LAB_PORT" -g || return 1
		done
	fi
}

# --- client -------------------------------------------------------------------

# client_get HOST: GET http://HOST/ from the client (HOST may be [v6]).
client_get() {
	ip netns exec client curl -sS -g --max-time 3 "http://$1:$LAB_PORT/"
}
# client_fetch URL...: one curl process (each one costs ~150 ms under TCG)
# fetching every URL on its own connection (busybox httpd closes each), one
# answer per line: the body's first line, or ERR for a failed request.
client_fetch() {
	{ ip netns exec client curl -sS -g --max-time 3 -w '%{http_code}\n' "$@" 2>/dev/null || true; } |
		awk '/^[0-9][0-9][0-9]$/ { print ($0 == "200" && n > 0) ? body : "ERR"; n = 0; next }
			{ if (n++ == 0) body = $0 }'
}
# curl_vip v4|v6 COUNT: COUNT requests to the VIP, one answer per line
# ("ERR" for a failed request).
curl_vip() {
	_h=$LAB_VIP4
	[ "$1" = v6 ] && _h="[$LAB_VIP6]"
	_urls=""
	_i=0
	while [ "$_i" -lt "$2" ]; do
		_urls="$_urls http://$_h:$LAB_PORT/"
		_i=$((_i + 1))
	done
	# shellcheck disable=SC2086
	client_fetch $_urls
}
# check_alternates ANSWERS...: every real server answered, no errors, and no
# two consecutive answers from the same one (round robin).
check_alternates() {
	_prev=""
	for _a in "$@"; do
		[ "$_a" != ERR ] || return 1
		[ "$_a" != "$_prev" ] || return 1
		_prev=$_a
	done
	for _rs in $(rs_list); do
		case " $* " in *" $_rs "*) ;; *) return 1 ;; esac
	done
	return 0
}

# --- TUN and NAT helpers (appended) -------------------------------------------

# director_vip6_deprecated: keep the director's VIP6 but deprecated
# (preferred_lft 0), so source-address selection never picks it as the outer
# source of IPVS's ip6ip6 packets (the real server would drop those: their
# outer source is one of its own addresses, the VIP on lo).
director_vip6_deprecated() {
	ip -n director addr change "$LAB_VIP6/128" dev eth0 preferred_lft 0 nodad
}

# icmp_too_big NS: how many ICMP "fragmentation needed" (IPv4 dest-unreach)
# plus ICMPv6 "packet too big" NS has sent, from nstat's absolute counters.
icmp_too_big() {
	ip netns exec "$1" nstat -asz IcmpMsgOutType3 Icmp6OutPktTooBigs 2>/dev/null |
		awk '$1 == "IcmpMsgOutType3" || $1 == "Icmp6OutPktTooBigs" {s += $2} END {print s + 0}'
}

# upload_sink RS PORT: on RS, an HTTP sink on PORT (IPv4 and IPv6) that reads
# the request body and answers "received N".
upload_sink() {
	cat >/tmp/lab-sink.sh <<'SINK'
#!/bin/bash
len=0
while IFS= read -r line; do
	line=${line%$'\r'}
	[ -z "$line" ] && break
	case ${line,,} in content-length:*) len=${line#*:} len=${len// /} ;; esac
done
n=$(head -c "$len" | wc -c)
printf 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nreceived %s\n' "$n"
SINK
	chmod +x /tmp/lab-sink.sh
	ip netns exec "$1" socat TCP4-LISTEN:"$2",reuseaddr,fork EXEC:/tmp/lab-sink.sh >/dev/null 2>&1 &
	ip netns exec "$1" socat TCP6-LISTEN:"$2",reuseaddr,fork,ipv6only=1 EXEC:/tmp/lab-sink.sh >/dev/null 2>&1 &
	wait_for 5 bash -c "ip netns exec $1 ss -Htln | grep -q ':$2 '"
}

# client_upload HOST PORT BYTES: POST BYTES zero bytes from the client to
# http://HOST:PORT/ (HOST may be [v6]); prints the sink's answer.
client_upload() {
	[ -f "/tmp/lab-upload-$3" ] || head -c "$3" /dev/zero >"/tmp/lab-upload-$3"
	ip netns exec client curl -sS -g --max-time 30 -H 'Expect:' --data-binary "@/tmp/lab-upload-$3" "http://$1:$2/"
}

# client_elsewhere: move the client to its own subnet (192.168.1.10/24,
# fd01::10/64) behind the director (192.168.1.2, fd01::2 on its eth0, same
# bridge), so the real servers can reach it only through a router: what
# LVS-NAT needs to be tested honestly.
client_elsewhere() {
	{
		echo "addr flush dev eth0 scope global"
		echo "addr add 192.168.1.10/24 dev eth0"
		echo "addr add fd01::10/64 dev eth0 nodad"
		echo "route add default via 192.168.1.2"
		echo "route add default via fd01::2"
	} | ip -n client -batch - || return 1
	{
		echo "addr add 192.168.1.2/24 dev eth0"
		echo "addr add fd01::2/64 dev eth0 nodad"
	} | ip -n director -batch - || return 1
	# The director forwards replies out the interface they came in by:
	# no ICMP redirects for that.
	ip netns exec director sh -c "echo 0 >/proc/sys/net/ipv4/conf/all/send_redirects; echo 0 >/proc/sys/net/ipv4/conf/eth0/send_redirects"
}
