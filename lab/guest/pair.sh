# lab/guest/pair.sh: helpers for the pair scenarios (`lvsnode controller run`
# on the director, `lvsnode agent run` on the real servers) and for the
# side-by-side runs against keepalived. Source it after topo.sh:
#
#   . "${LAB_GUEST:-/lab/guest}/topo.sh"
#   . "${LAB_GUEST:-/lab/guest}/pair.sh"
#
# Every daemon runs in the director's (or a real server's) namespace, writes
# its log to $LAB_WORK/NAME.log and is stopped by the init's teardown if a
# scenario dies half-way.

PAIR_W=${LAB_WORK:-/tmp}
# USER_HZ, the unit of utime/stime in /proc/PID/stat: 100 on x86 whatever
# the kernel's HZ (the guest has no getconf).
PAIR_CLK_TCK=100
# The agent's readiness port (health's `ready` check default).
PAIR_READY_PORT=9109

# --- measuring ------------------------------------------------------------------

# cpu_ticks PID...: utime + stime of the processes (all their threads), in
# USER_HZ ticks; a process that is gone counts 0.
cpu_ticks() {
	_t=0
	for _p in "$@"; do
		[ -r "/proc/$_p/stat" ] || continue
		# Fields after the ")" of comm: state is 3, utime 14, stime 15.
		_s=$(sed 's/.*) //' "/proc/$_p/stat")
		# shellcheck disable=SC2086
		set -- $_s
		_t=$((_t + ${12} + ${13}))
	done
	echo "$_t"
}
# vm_busy_ticks: ticks the whole guest spent not idle (all CPUs, /proc/stat).
vm_busy_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }
# ticks_secs TICKS: "1.23" seconds.
ticks_secs() { awk -v t="$1" -v hz="$PAIR_CLK_TCK" 'BEGIN { printf "%.2f", t / hz }'; }
# ratio A B: A/B with two decimals ("inf" when B is 0).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "inf" }'; }
# now_us: microseconds, wall clock (bash 5's EPOCHREALTIME).
now_us() { echo "${EPOCHREALTIME/./}"; }

# passive_opens NS: TCP connections NS accepted so far (the real servers'
# count of the checks they answered).
passive_opens() {
	ip netns exec "$1" nstat -asz TcpPassiveOpens 2>/dev/null | awk '$1 == "TcpPassiveOpens" { print $2 + 0 }'
}

# --- the director's IPVS table (oracle: ipvsadm) ---------------------------------

# ipvs_weight SERVICE RS: RS's weight in the director's SERVICE ("-t
# 10.0.0.100:80" style: PROTO-FLAG ADDR:PORT, or "-f 7"); empty when RS is
# not in it.
ipvs_weight() {
	ip netns exec director ipvsadm -Ln $1 2>/dev/null | awk -v rs="$2" '$1 == "->" && $2 == rs { print $4 }'
}
# ipvs_has SERVICE RS [WEIGHT]: RS is in SERVICE (with WEIGHT if given).
ipvs_has() {
	_w=$(ipvs_weight "$1" "$2")
	[ -n "$_w" ] || return 1
	[ -z "${3:-}" ] || [ "$_w" = "$3" ]
}
# ms_until SECONDS CMD...: poll CMD (as fast as a process start allows,
# ~50-100 ms under TCG) until it succeeds; prints the milliseconds it took,
# returns 1 (printing the time spent) on timeout.
ms_until() {
	_t0=$(now_us)
	_end=$((_t0 + $1 * 1000000))
	shift
	while ! "$@" >/dev/null 2>&1; do
		if [ "$(now_us)" -ge "$_end" ]; then
			echo $((($(now_us) - _t0) / 1000))
			return 1
		fi
		sleep 0.02
	done
	echo $((($(now_us) - _t0) / 1000))
}
# ipvs_watch RS WEIGHT OUT [SECONDS]: in the background, in the director's
# namespace, poll /proc/net/ip_vs until real server RS (IPv4 ADDR:PORT; the
# first line for it, so use it where RS is in one service) is there at
# WEIGHT ("any": at any weight); then write the wall-clock microseconds it
# saw it at (EPOCHREALTIME) to OUT, or "timeout" after SECONDS (20). No
# process per poll (bash builtins, 10 ms waits on a fifo's read timeout):
# it times lvsnode and keepalived the same way, to ~10 ms, and costs the
# daemons under test little CPU. Sets WATCH_PID; returns once it has read
# the table once. Collect the result with watch_ms.
ipvs_watch() {
	_hex=$(echo "${1%:*}" | awk -F. -v p="${1##*:}" '{ printf "%02X%02X%02X%02X:%04X", $1, $2, $3, $4, p }')
	rm -f "$3" "$3.ready"
	ip netns exec director bash -c '
		rs=$1 w=$2 out=$3 end=$((${EPOCHREALTIME%.*} + $4))
		f=$(mktemp -u) && mkfifo "$f" && exec 9<>"$f" && rm -f "$f"
		re="-> $rs +[A-Za-z]+ +([0-9]+) "
		while :; do
			mapfile -t L </proc/net/ip_vs
			printf -v t "%s\n" "${L[@]}"
			if [[ $t =~ $re ]] && { [ "$w" = any ] || [ "${BASH_REMATCH[1]}" = "$w" ]; }; then
				echo "${EPOCHREALTIME/./}" >"$out"
				exit 0
			fi
			[ -e "$out.ready" ] || : >"$out.ready"
			if [ "${EPOCHREALTIME%.*}" -ge "$end" ]; then
				echo timeout >"$out"
				exit 1
			fi
			read -r -t 0.01 -u 9 _ || true
		done' _ "$_hex" "$2" "$3" "${4:-20}" &
	WATCH_PID=$!
	wait_for 5 test -e "$3.ready"
}
# watch_ms T0 OUT: wait for the ipvs_watch writing OUT (its file: watch_ms
# runs in $(...), where the watcher is no child to wait for); print the
# milliseconds from T0 (EPOCHREALTIME without the dot) to what it saw, or
# return 1 if it timed out.
watch_ms() {
	while [ ! -s "$2" ]; do sleep 0.05; done
	_t=$(cat "$2")
	case "$_t" in '' | timeout) return 1 ;; esac
	echo $(((_t - $1) / 1000))
}
# stats VALUES...: "min-max, median M (N runs)".
stats() {
	printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { printf "%d-%d ms, median %d (%d runs)", v[1], v[NR], v[int((NR + 1) / 2)], NR }'
}
# median VALUES...: the median (lower middle for an even count).
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] + 0 }'; }

# ipvs_table: the director's table, ipvsadm -S -n, sorted (for comparisons).
ipvs_table() { ip netns exec director ipvsadm -S -n | sort; }

# --- real servers ---------------------------------------------------------------

# httpd_stop RS / httpd_start RS: the busybox httpd topo_up started in RS.
# httpd_stop returns right after the kill (busybox httpd exits and closes
# its socket at once), so a detection time measured from it starts there.
httpd_stop() {
	for _p in $(ip netns pids "$1"); do
		if [ "$(cat "/proc/$_p/comm" 2>/dev/null)" = httpd ]; then kill "$_p" 2>/dev/null || true; fi
	done
}
# httpd_pid RS: the pid of RS's busybox httpd (to kill it with no process
# start between a timestamp and the kill).
httpd_pid() {
	for _p in $(ip netns pids "$1"); do
		if [ "$(cat "/proc/$_p/comm" 2>/dev/null)" = httpd ]; then echo "$_p"; fi
	done
}
httpd_start() {
	ip netns exec "$1" httpd -p "$LAB_PORT" -h "/srv/$1"
	wait_for 5 bash -c "ip netns exec $1 ss -Htln | grep ':$LAB_PORT ' >/dev/null"
}

# many_addrs NS COUNT: COUNT addresses 10.1.X.Y/32 on NS's lo (10.1.0.1
# onwards), printed one per line; the director reaches them through NS's
# eth0 address (one route, no neighbour entry per address: the kernel's
# neighbour table holds 1,024 entries for all namespaces together).
many_addrs() {
	_ns=$1 _n=$2
	awk -v n="$_n" 'BEGIN { for (i = 0; i < n; i++) printf "10.1.%d.%d\n", int(i / 250), i % 250 + 1 }' >"$PAIR_W/addrs-$_ns"
	sed 's|.*|addr add &/32 dev lo|' "$PAIR_W/addrs-$_ns" | ip -n "$_ns" -batch - || return 1
	ip -n director route replace 10.1.0.0/16 via "$(node_ip4 "$_ns")" || return 1
	cat "$PAIR_W/addrs-$_ns"
}

# slow_stream_server RS PORT: on RS, a TCP server on PORT that writes one
# line every 0.2 s for as long as the client stays (the long-lived
# connection whose survival across a configuration change is checked).
slow_stream_server() {
	ip netns exec "$1" socat TCP4-LISTEN:"$2",reuseaddr,fork \
		SYSTEM:'while echo tick; do sleep 0.2; done' >/dev/null 2>&1 &
	wait_for 5 bash -c "ip netns exec $1 ss -Htln | grep ':$2 ' >/dev/null"
}
# slow_stream_client HOST PORT FILE: from the client, read that stream into
# FILE in the background; prints socat's pid.
slow_stream_client() {
	ip netns exec client socat -u TCP4:"$1":"$2" OPEN:"$3",creat,append >/dev/null 2>&1 &
	echo $!
}
# stream_alive FILE PID: the stream still grows (two samples 0.6 s apart)
# and its client is still running.
stream_alive() {
	kill -0 "$2" 2>/dev/null || return 1
	_a=$(wc -l <"$1")
	sleep 0.6
	_b=$(wc -l <"$1")
	[ "$_b" -gt "$_a" ] && kill -0 "$2" 2>/dev/null
}

# --- keepalived (the reference, checker only: no VRRP) ------------------------

# ka_start [-q] CONF: keepalived's health checker (-C) in the director's
# namespace, in the foreground of its own background job (-n), logging to the
# console (-l -D, no syslog -G) into $PAIR_W/keepalived.log, pid files in
# $PAIR_W. -q: without -D, which logs every successful check (a write per
# check: not what a production keepalived does, so not in CPU figures).
# Sets KA_PID (the parent) and, once it has forked it, KA_CHECKER (the
# checker child, which does the checking and the IPVS writes). Returns when
# keepalived says "Startup complete".
ka_start() {
	_detail=-D
	[ "$1" = -q ] && _detail="" && shift
	: >"$PAIR_W/keepalived.log"
	rm -f "$PAIR_W/keepalived.pid" "$PAIR_W/keepalived-checkers.pid"
	# shellcheck disable=SC2086
	ip netns exec director keepalived -n -l $_detail -G -C -f "$1" \
		-p "$PAIR_W/keepalived.pid" -c "$PAIR_W/keepalived-checkers.pid" \
		>>"$PAIR_W/keepalived.log" 2>&1 &
	KA_PID=$!
	wait_for 60 grep 'Startup complete' "$PAIR_W/keepalived.log" || {
		tail -20 "$PAIR_W/keepalived.log"
		return 1
	}
	wait_for 5 test -s "$PAIR_W/keepalived-checkers.pid" || return 1
	KA_CHECKER=$(cat "$PAIR_W/keepalived-checkers.pid")
}
# ka_pids: the parent and the checker child (for cpu_ticks).
ka_pids() { echo "$KA_PID ${KA_CHECKER:-}"; }
# ka_reload: SIGHUP to the parent, which re-reads the file and has the
# checker child (a new one in 2.2) apply the difference.
ka_reload() { kill -HUP "$KA_PID"; }
# ka_stop: SIGTERM, wait for it (it removes its IPVS services on the way out).
ka_stop() {
	[ -n "${KA_PID:-}" ] || return 0
	kill -TERM "$KA_PID" 2>/dev/null || true
	wait "$KA_PID" 2>/dev/null || true
	KA_PID=""
}

# ka_vs_open VIP PORT SCHED KIND [LINES...]: the opening of a virtual_server
# block (close it with ka_close); extra LINES go inside it as they are.
ka_vs_open() {
	printf 'virtual_server %s %s {\n    lb_algo %s\n    lb_kind %s\n    protocol TCP\n' "$1" "$2" "$3" "$4"
	shift 4
	for _l in "$@"; do printf '    %s\n' "$_l"; done
}
ka_close() { echo "}"; }
# ka_rs ADDR PORT WEIGHT [CHECK-LINES...]: a real_server block; CHECK-LINES
# (e.g. "TCP_CHECK {" "connect_timeout 1" "}") go inside it one per line.
ka_rs() {
	printf '    real_server %s %s {\n        weight %s\n' "$1" "$2" "$3"
	shift 3
	for _l in "$@"; do printf '        %s\n' "$_l"; done
	echo "    }"
}

# --- lvsnode's director daemon ---------------------------------------------------

# lv_head: the top-level keys of a lab daemon's config (state in
# $LAB_STATE_DIR, which the init clears after every scenario; the API on its
# default socket); the caller appends the services.
lv_head() {
	cat <<YAML
state_file: $LAB_STATE_DIR/director.json
metrics: 127.0.0.1:9110
resync: 10s
services:
YAML
}
# lv_start CONF: `lvsnode controller run --config CONF` in the director's
# namespace, logging to $PAIR_W/controller.log; sets LV_PID; returns when its
# API answers (`controller status`).
lv_start() {
	ip netns exec director lvsnode controller run --config "$1" >>"$PAIR_W/controller.log" 2>&1 &
	LV_PID=$!
	wait_for "${LV_START_WAIT:-60}" ip netns exec director lvsnode controller status || {
		tail -20 "$PAIR_W/controller.log"
		return 1
	}
}
# lv_stop: SIGTERM and wait (exit status in LV_RC). lv_kill: SIGKILL.
lv_stop() {
	[ -n "${LV_PID:-}" ] || return 0
	kill -TERM "$LV_PID" 2>/dev/null || true
	LV_RC=0
	wait "$LV_PID" 2>/dev/null || LV_RC=$?
	LV_PID=""
}
lv_kill() {
	[ -n "${LV_PID:-}" ] || return 0
	kill -KILL "$LV_PID" 2>/dev/null || true
	wait "$LV_PID" 2>/dev/null || true
	LV_PID=""
}
# lv_ctl ARGS...: `lvsnode controller ARGS` in the director (through the
# daemon when it answers).
lv_ctl() { ip netns exec director lvsnode controller "$@"; }

# --- lvsnode's agent on the real servers -------------------------------------------

# rs_agent_start RS [ARGS...]: `lvsnode agent run` in RS with the IPv4 VIP,
# its readiness endpoint on RS's address, its own state file; log in
# $PAIR_W/agent-RS.log; pid in AGENT_PID_RS. Returns once /readyz says 200.
rs_agent_start() {
	_rs=$1
	shift
	ip netns exec "$_rs" lvsnode agent run --vip "$LAB_VIP4" --state-file "$LAB_STATE_DIR/$_rs.json" \
		--listen "$(node_ip4 "$_rs"):$PAIR_READY_PORT" --resync-interval 1s --drain-min-wait 2s "$@" >>"$PAIR_W/agent-$_rs.log" 2>&1 &
	eval "AGENT_PID_$_rs=$!"
	wait_for 20 rs_ready "$_rs" || {
		tail -5 "$PAIR_W/agent-$_rs.log"
		return 1
	}
}
# rs_ready RS: RS's agent answers 200 on /readyz (from the director).
rs_ready() {
	[ "$(ip netns exec director curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$(node_ip4 "$1"):$PAIR_READY_PORT/readyz")" = 200 ]
}

# --- a client sending requests continuously ------------------------------------

# client_loop_start FILE: from the client, requests to the VIP (10 per curl
# process, each on its own connection) until client_loop_stop; one answer
# per line in FILE (ERR for a failure). Sets CLIENT_LOOP_PID.
client_loop_start() {
	: >"$1"
	rm -f "$PAIR_W/client-loop.stop"
	(
		_u="http://$LAB_VIP4:$LAB_PORT/"
		while [ ! -e "$PAIR_W/client-loop.stop" ]; do
			client_fetch $_u $_u $_u $_u $_u $_u $_u $_u $_u $_u >>"$1"
		done
	) &
	CLIENT_LOOP_PID=$!
}
client_loop_stop() {
	touch "$PAIR_W/client-loop.stop"
	wait "$CLIENT_LOOP_PID" 2>/dev/null || true
}
# answers_count FILE [WORD]: lines in FILE (equal to WORD if given).
answers_count() {
	if [ $# -gt 1 ]; then grep -c "^$2\$" "$1" || true; else wc -l <"$1"; fi
}

# table_watch SECONDS FILE: sample the director's table (ipvsadm -S -n,
# sorted) as fast as the guest allows for SECONDS; every distinct table seen
# goes to FILE.N (FILE.0 the first), their count to FILE.count.
table_watch() {
	ip netns exec director bash -c '
		end=$((${EPOCHREALTIME%.*} + $1)); n=0; prev=""
		while [ "${EPOCHREALTIME%.*}" -lt "$end" ]; do
			cur=$(ipvsadm -S -n | sort)
			if [ "$cur" != "$prev" ]; then printf "%s\n" "$cur" >"$2.$n"; n=$((n + 1)); prev=$cur; fi
		done
		echo "$n" >"$2.count"' _ "$1" "$2"
}
# lv_metric NAME: the daemon's metric NAME summed over its labels (0 if absent).
lv_metric() {
	ip netns exec director curl -s --max-time 3 http://127.0.0.1:9110/metrics |
		awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $2 } END { print s + 0 }'
}

# On a failing exit, show what the daemons said and the director's table.
pair_on_exit() {
	_rc=$?
	[ "$_rc" = 0 ] && return 0
	echo "--- on failure (exit $_rc): director's IPVS table"
	ip netns exec director ipvsadm -Ln 2>/dev/null | head -20
	for _f in "$PAIR_W"/controller.log "$PAIR_W"/agent-*.log; do
		[ -s "$_f" ] || continue
		echo "--- last lines of $_f"
		tail -n 15 "$_f" | cut -c1-400
	done
	return "$_rc"
}
trap pair_on_exit EXIT

# node_health ADDR: the daemon's health word (up|down|draining|unknown) for
# real server ADDR (its first service), from `controller status --json`.
node_health() {
	lv_ctl status --json | tr -d ' \n' | grep -o "\"address\":\"$1\"[^}]*\"health\":\"[a-z]*\"" |
		sed -n '1s/.*"health":"\([a-z]*\)"/\1/p'
}
