# lab/guest/fleet.sh: helpers for the fleet scenarios (issue 12): etcd in
# its own namespace, two directors (director, director2) running
# `lvsnode controller run` with store: type etcd, and real servers running
# `lvsnode agent run` with register:. Source it after topo.sh and pair.sh.
#
#   node       netns      IPv4
#   etcd       etcd       10.0.0.5/24   (etcd on :2379)
#   director2  director2  10.0.0.3/24   + VIP 10.0.0.100/32 on eth0
#
# The client reaches the VIP through one director at a time: a /32 route
# via that director's address (fleet_via), so both can hold the VIP.

FLEET_W=${LAB_WORK:-/tmp}
FLEET_ETCD=http://10.0.0.5:2379
# The lease: 10s (the agent's default). 3s lost live registrations here:
# under TCG with etcd, two directors and three agents on one emulated CPU a
# keepalive answer came later than the ttl.
FLEET_TTL=${FLEET_TTL:-10s}
FLEET_DIRECTORS="director director2"

# fleet_node NS IP [VIP]: one more namespace on br0.
fleet_node() {
	ip netns add "$1"
	ip link add "v-$1" type veth peer name eth0 netns "$1"
	ip link set "v-$1" master "$LAB_BRIDGE" up
	{
		echo "link set lo up"
		echo "link set eth0 up"
		echo "addr add $2/24 dev eth0"
		[ -z "${3:-}" ] || echo "addr add $3/32 dev eth0"
	} | ip -n "$1" -batch -
}

# etcd_start / etcd_kill: the shared store (data kept across a restart).
etcd_start() {
	ip netns exec etcd etcd --name e --data-dir "$FLEET_W/etcd" \
		--listen-client-urls "$FLEET_ETCD" --advertise-client-urls "$FLEET_ETCD" \
		--listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
		--initial-cluster e=http://127.0.0.1:2380 --log-level error >>"$FLEET_W/etcd.log" 2>&1 &
	ETCD_PID=$!
	wait_for 60 etcd_up || {
		tail -20 "$FLEET_W/etcd.log"
		return 1
	}
}
etcd_up() { ip netns exec client curl -fsS -m 2 "$FLEET_ETCD/health" | grep true >/dev/null; }
etcd_kill() {
	kill -KILL "$ETCD_PID" 2>/dev/null || true
	wait "$ETCD_PID" 2>/dev/null || true
}

# fleet_ctl_config NS: the director's config (its own state, socket, lock).
fleet_ctl_config() {
	cat >"$FLEET_W/$1.yaml" <<YAML
state_file: $FLEET_W/$1.json
lock_file: $FLEET_W/$1.lock
metrics: 127.0.0.1:9110
resync: 2s
drain: {timeout: 5s, interval: 200ms}
api: {socket: $FLEET_W/$1.sock}
store:
  type: etcd
  name: $1
  endpoints: [$FLEET_ETCD]
  prefix: /lvsnode/
  timeout: 5s
YAML
}
# fleet_ctl_start NS: `controller run` in NS, waiting for its API.
fleet_ctl_start() {
	fleet_ctl_config "$1"
	ip netns exec "$1" lvsnode controller run --config "$FLEET_W/$1.yaml" >>"$FLEET_W/ctl-$1.log" 2>&1 &
	eval "CTL_PID_$1=$!"
	wait_for 60 fleet_ctl "$1" status || {
		tail -20 "$FLEET_W/ctl-$1.log"
		return 1
	}
}
# fleet_ctl NS ARGS...: `lvsnode controller ARGS` against NS's daemon.
fleet_ctl() {
	_ns=$1
	shift
	ip netns exec "$_ns" lvsnode controller "$@" --api "$FLEET_W/$_ns.sock"
}
# fleet_status NS: the daemon's status JSON, one line.
fleet_status() { fleet_ctl "$1" status --json | tr -d ' \n'; }

# fleet_agent_start RS [ARGS...]: `agent run` registering RS (weight 1, dr)
# in tcp VIP:80, READY on :9109.
fleet_agent_start() {
	_rs=$1
	shift
	ip netns exec "$_rs" lvsnode agent run --vip "$LAB_VIP4" --state-file "$LAB_STATE_DIR/$_rs.json" \
		--listen "$(node_ip4 "$_rs"):$PAIR_READY_PORT" --resync-interval 1s \
		--register-endpoint "$FLEET_ETCD" --register-address "$(node_ip4 "$_rs")" --register-ttl "$FLEET_TTL" \
		--register-service "tcp $LAB_VIP4:$LAB_PORT weight=1" "$@" >>"$FLEET_W/agent-$_rs.log" 2>&1 &
	eval "AGENT_PID_$_rs=$!"
}

# ipvs_in NS: NS's table, ipvsadm -S -n, sorted.
ipvs_in() { ip netns exec "$1" ipvsadm -S -n | sort; }
# tables_equal: both directors hold the same table (and it is not empty).
tables_equal() {
	_a=$(ipvs_in director)
	[ -n "$_a" ] && [ "$_a" = "$(ipvs_in director2)" ]
}
# rs_in NS RIP [WEIGHT]: RIP:80 is in NS's VIP:80 (at WEIGHT if given).
rs_in() {
	_w=$(ip netns exec "$1" ipvsadm -Ln -t "$LAB_VIP4:$LAB_PORT" 2>/dev/null | awk -v rs="$2:$LAB_PORT" '$1 == "->" && $2 == rs { print $4 }')
	[ -n "$_w" ] && { [ -z "${3:-}" ] || [ "$_w" = "$3" ]; }
}
rs_in_both() { rs_in director "$@" && rs_in director2 "$@"; }
rs_in_none() { ! rs_in director "$1" && ! rs_in director2 "$1"; }

# fleet_via NS: the client's route to the VIP goes through director NS.
fleet_via() { ip -n client route replace "$LAB_VIP4/32" via "$(fleet_ip "$1")"; }
fleet_ip() { case $1 in director) echo 10.0.0.2 ;; director2) echo 10.0.0.3 ;; esac; }
# answers_from VIA RS [TRIES]: through director VIA, the VIP answers with
# RS's page within TRIES (12) requests.
answers_from() {
	fleet_via "$1"
	_i=0
	while [ "$_i" -lt "${3:-12}" ]; do
		[ "$(ip netns exec client curl -s -m 1 "http://$LAB_VIP4:$LAB_PORT/")" = "$2" ] && return 0
		_i=$((_i + 1))
	done
	return 1
}

# log_us FILE PATTERN: the wall-clock microseconds of the first slog line
# of FILE matching PATTERN (its time=...Z field, millisecond precision).
log_us() {
	_ts=$(grep -m1 -- "$2" "$1" | sed -n 's/^time=\([^ ]*\).*/\1/p')
	[ -n "$_ts" ] || return 1
	_sec=$(date -u -d "$(echo "$_ts" | sed 's/T/ /; s/\..*//')" +%s)
	_ms=$(echo "$_ts" | sed -n 's/^[^.]*\.\([0-9]\{3\}\).*/\1/p')
	echo $((_sec * 1000000 + 10#${_ms:-0} * 1000))
}

# ipvs_wait NS RIP WHAT OUT [SECONDS]: in the background, poll NS's
# /proc/net/ip_vs until RIP:80 is there (WHAT=here), there at weight 0
# (zero) or gone (gone); write the wall-clock microseconds to OUT (or
# "timeout"). As pair.sh's ipvs_watch (no process per poll) but every
# 50 ms: four of them run at once beside etcd on the one emulated CPU.
ipvs_wait() {
	_hex=$(echo "$2" | awk -F. -v p="$LAB_PORT" '{ printf "%02X%02X%02X%02X:%04X", $1, $2, $3, $4, p }')
	rm -f "$4"
	ip netns exec "$1" bash -c '
		rs=$1 what=$2 out=$3 end=$((${EPOCHREALTIME%.*} + $4))
		f=$(mktemp -u) && mkfifo "$f" && exec 9<>"$f" && rm -f "$f"
		re="-> $rs +[A-Za-z]+ +([0-9]+) "
		while :; do
			mapfile -t L </proc/net/ip_vs
			printf -v t "%s\n" "${L[@]}"
			hit=0
			if [[ $t =~ $re ]]; then
				case $what in here) hit=1 ;; zero) [ "${BASH_REMATCH[1]}" = 0 ] && hit=1 ;; esac
			else
				[ "$what" = gone ] && hit=1
			fi
			if [ $hit = 1 ]; then echo "${EPOCHREALTIME/./}" >"$out"; exit 0; fi
			if [ "${EPOCHREALTIME%.*}" -ge "$end" ]; then echo timeout >"$out"; exit 1; fi
			read -r -t 0.05 -u 9 _ || true
		done' _ "$_hex" "$3" "$4" "${5:-30}" &
}
# at_us OUT: what a watcher wrote (waits for it); 1 on timeout.
at_us() {
	while [ ! -s "$1" ]; do sleep 0.05; done
	_t=$(cat "$1")
	[ "$_t" != timeout ] && echo "$_t"
}

fleet_on_exit() {
	_rc=$?
	[ "$_rc" = 0 ] && return 0
	echo "--- on failure (exit $_rc)"
	for _ns in $FLEET_DIRECTORS; do
		echo "--- $_ns: ipvsadm -Ln"
		ip netns exec "$_ns" ipvsadm -Ln 2>/dev/null | head -20
	done
	for _f in "$FLEET_W"/ctl-*.log "$FLEET_W"/agent-*.log "$FLEET_W"/etcd.log; do
		[ -s "$_f" ] || continue
		echo "--- last lines of $_f"
		tail -n 15 "$_f" | cut -c1-400
	done
	return "$_rc"
}

# fleet_probe_up: the cluster of the review probes (lab/probes/): leases of
# 6 s, two real servers, etcd and a second director; sets RIP1 and RIP2.
fleet_probe_up() {
	FLEET_TTL=6s
	topo_up 2
	fleet_node etcd 10.0.0.5
	fleet_node director2 10.0.0.3 "$LAB_VIP4"
	RIP1=$(node_ip4 rs1) RIP2=$(node_ip4 rs2)
}
