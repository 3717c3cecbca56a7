# lab/guest/ha.sh: helpers for the director-pair scenarios (lab/scenarios/
# ha-*.sh). Source it after topo.sh:
#
#   . "${LAB_GUEST:-/lab/guest}/topo.sh"
#   . "${LAB_GUEST:-/lab/guest}/ha.sh"
#
# Topology (ha_up): topo_up's bridge, client and real servers (rs1, rs2 with
# both VIPs on lo by `lvsnode agent apply`), and two directors: `director`
# (10.0.0.2, "dir1") and `director2` (10.0.0.3, "dir2"), neither with the
# VIP: keepalived (the shipped example, lab/guest/ha-keepalived.conf, a copy
# of examples/keepalived/keepalived.conf that examples/keepalived_test.go
# keeps equal) moves it. Each director runs `lvsnode controller run` with
# the same services; with sync, the same sync: block.

HA_W=${LAB_WORK:-/tmp}
HA_UPLOAD_PORT=8000

# ha_ns 1|2: the director's namespace.
ha_ns() { if [ "$1" = 1 ]; then echo director; else echo director2; fi; }

ha_up() {
	topo_up 2 || return 1
	ip -n director addr del "$LAB_VIP4/32" dev eth0
	ip -n director addr del "$LAB_VIP6/128" dev eth0
	ha_ns_create 2 || return 1
	for _rs in rs1 rs2; do
		agent_apply "$_rs" >/dev/null || return 1
		upload_sink "$_rs" "$HA_UPLOAD_PORT" || return 1
	done
}

# ha_config N sync|nosync: director N's director.yaml (its own state file
# and API socket: the two share /run/lvsnode), printed.
ha_config() {
	ha_config_head "$1"
	if [ "$2" = sync ]; then
		cat <<YAML
sync:
  mcast_interface: eth0
  syncid: 51
YAML
	fi
	cat <<YAML
services:
  - service: tcp $LAB_VIP4:$LAB_PORT
    scheduler: rr
    check: {type: tcp, interval: 1s, timeout: 1s}
    nodes:
      - {address: $(node_ip4 rs1), method: dr}
      - {address: $(node_ip4 rs2), method: dr}
  - service: tcp $LAB_VIP4:$HA_UPLOAD_PORT
    scheduler: rr
    check: {type: tcp, interval: 1s, timeout: 1s}
    nodes:
      - {address: $(node_ip4 rs1), method: dr}
      - {address: $(node_ip4 rs2), method: dr}
YAML
}

# ha_config_head N: the top-level keys of director N's director.yaml (its
# own state file and API socket; one metrics port per namespace).
ha_config_head() {
	cat <<YAML
state_file: $LAB_STATE_DIR/dir$1.json
metrics: 127.0.0.1:9110
resync: 1s
api: {socket: $LAB_STATE_DIR/dir$1.sock}
YAML
}

# ha_lv_run N CONFIG MODE READY: `lvsnode controller run` in director N
# with the file `CONFIG N MODE` prints (log $HA_W/lv-N.log, pid HA_LV_N);
# returns once `READY N` succeeds.
ha_lv_run() {
	"$2" "$1" "$3" >"$HA_W/dir$1.yaml"
	ip netns exec "$(ha_ns "$1")" lvsnode controller run --config "$HA_W/dir$1.yaml" >>"$HA_W/lv-$1.log" 2>&1 &
	eval "HA_LV_$1=$!"
	wait_for 60 "$4" "$1" || { tail -20 "$HA_W/lv-$1.log"; return 1; }
}

# ha_lv_start N sync|nosync: ha_lv_run with ha_config; returns once the
# daemon answers.
ha_lv_start() { ha_lv_run "$1" ha_config "$2" ha_lv_status; }
ha_lv_stop() {
	eval "_p=\${HA_LV_$1:-}"
	[ -n "$_p" ] || return 0
	kill -TERM "$_p" 2>/dev/null || true
	wait "$_p" 2>/dev/null || true
	eval "HA_LV_$1="
}
# ha_lv_status N [ARGS]: `controller status` of director N's daemon.
ha_lv_status() {
	_n=$1
	shift
	ip netns exec "$(ha_ns "$_n")" lvsnode controller status --api "$LAB_STATE_DIR/dir$_n.sock" "$@"
}

# ha_ka_start N: keepalived (VRRP only, -P; log to stderr only, -l -G) in director N with the shipped
# example, priority 150 on dir1 and 100 on dir2; log $HA_W/ka-N.log, pid
# HA_KA_N.
ha_ka_start() {
	_prio=150
	[ "$1" = 2 ] && _prio=100
	sed -e "s/^\( *priority\) 150 .*/\1 $_prio/" -e "s/router_id lvs-dir1/router_id lvs-dir$1/" \
		"${LAB_GUEST:-/lab/guest}/ha-keepalived.conf" >"$HA_W/ka-$1.conf"
	echo "=== keepalived start" >>"$HA_W/ka-$1.log"
	ip netns exec "$(ha_ns "$1")" keepalived -n -l -D -G -P -f "$HA_W/ka-$1.conf" \
		-p "$HA_W/ka-$1.pid" -r "$HA_W/ka-$1-vrrp.pid" >>"$HA_W/ka-$1.log" 2>&1 &
	eval "HA_KA_$1=$!"
}
# ha_ka_stop N: SIGTERM (a master hands over at once: priority 0 advert).
ha_ka_stop() {
	eval "_p=\${HA_KA_$1:-}"
	[ -n "$_p" ] || return 0
	kill -TERM "$_p" 2>/dev/null || true
	wait "$_p" 2>/dev/null || true
	eval "HA_KA_$1="
}

# ha_has_vip N: director N holds the VIP.
# (no grep -q: under pipefail its early exit can fail the pipeline)
ha_has_vip() { [[ $(ip -n "$(ha_ns "$1")" -4 -o addr show dev eth0) == *" $LAB_VIP4/32 "* ]]; }
# ha_master: 1 or 2, the director holding the VIP (empty: none).
ha_master() {
	if ha_has_vip 1; then echo 1; elif ha_has_vip 2; then echo 2; fi
}

# ha_vip_watch N OUT: in the background, in director N's namespace, poll
# /proc/net/fib_trie with bash builtins only (no process per poll, 10 ms
# waits) until the VIP is a local address there; then write the wall-clock
# microseconds (EPOCHREALTIME) to OUT, or "timeout" after 30 s. Returns once
# it has read the table once.
ha_vip_watch() {
	rm -f "$2" "$2.ready"
	ip netns exec "$(ha_ns "$1")" bash -c '
		vip=$1 out=$2 end=$((${EPOCHREALTIME%.*} + 30))
		f=$(mktemp -u) && mkfifo "$f" && exec 9<>"$f" && rm -f "$f"
		while :; do
			mapfile -t L </proc/net/fib_trie
			printf -v t "%s\n" "${L[@]}"
			if [[ $t == *"-- $vip"$'\''\n'\''* ]]; then
				echo "${EPOCHREALTIME/./}" >"$out"
				exit 0
			fi
			[ -e "$out.ready" ] || : >"$out.ready"
			if [ "${EPOCHREALTIME%.*}" -ge "$end" ]; then
				echo timeout >"$out"
				exit 1
			fi
			read -r -t 0.01 -u 9 _ || true
		done' _ "$LAB_VIP4" "$2" &
	wait_for 5 test -e "$2.ready"
}

# ha_upload_start NAME BYTES RATE: from the client, POST BYTES to the VIP's
# upload port at RATE (curl --limit-rate), in the background: answer in
# $HA_W/NAME.out, curl's exit status in $HA_W/NAME.rc when it ends.
ha_upload_start() {
	[ -f "/tmp/lab-upload-$2" ] || head -c "$2" /dev/zero >"/tmp/lab-upload-$2"
	rm -f "$HA_W/$1.rc"
	(
		_rc=0
		ip netns exec client curl -sS --max-time 150 --limit-rate "$3" -H 'Expect:' \
			--data-binary "@/tmp/lab-upload-$2" "http://$LAB_VIP4:$HA_UPLOAD_PORT/" >"$HA_W/$1.out" 2>&1 || _rc=$?
		echo "$_rc" >"$HA_W/$1.rc"
	) &
}
# ha_upload_result NAME BYTES: wait for it; "ok" when the sink received all
# BYTES, else what curl said.
ha_upload_result() {
	wait_for 160 test -s "$HA_W/$1.rc" || { echo "still running"; return 0; }
	if [ "$(cat "$HA_W/$1.rc")" = 0 ] && grep -q "^received $2\$" "$HA_W/$1.out"; then
		echo ok
	else
		echo "broken (curl exit $(cat "$HA_W/$1.rc"): $(tr '\n' ' ' <"$HA_W/$1.out" | cut -c1-120))"
	fi
}
# ha_conn_on N PORT: director N has an IPVS connection entry to the VIP's
# PORT from the client (hex, as /proc/net/ip_vs_conn prints it).
ha_conn_on() {
	ip netns exec "$(ha_ns "$1")" cat /proc/net/ip_vs_conn |
		awk -v p="$(printf '%04X' "$2")" '$4 == "0A000064" && $5 == p && $2 == "0A00000A" { n++ } END { exit !n }'
}

# On a failing exit: logs and tables of both directors.
ha_on_exit() {
	_rc=$?
	[ "$_rc" = 0 ] && return 0
	echo "--- on failure (exit $_rc)"
	for _n in 1 2; do
		echo "--- dir$_n: ipvsadm -Lnc / --daemon"
		ip netns exec "$(ha_ns "$_n")" ipvsadm -Lnc 2>/dev/null | head -12
		ip netns exec "$(ha_ns "$_n")" ipvsadm -L --daemon 2>/dev/null
		if [ -s "$HA_W/lv-$_n.log" ]; then
			echo "--- last lines of $HA_W/lv-$_n.log"
			tail -n 15 "$HA_W/lv-$_n.log" | cut -c1-300
		fi
		if [ -s "$HA_W/ka-$_n.log" ]; then
			echo "--- VRRP transitions in $HA_W/ka-$_n.log"
			grep -E 'STATE|Netlink|advert|priority|Stopping|Starting VRRP' "$HA_W/ka-$_n.log" | tail -n 25 | cut -c1-300
		fi
	done
	return "$_rc"
}

# ha_client_ports PORT: the client's local ports of its established
# connections to the VIP's PORT (one per line).
ha_client_ports() {
	ip netns exec client ss -Htn state established |
		awk -v peer="$LAB_VIP4:$1" '$4 == peer { n = split($3, a, ":"); print a[n] }'
}
# ha_conn_port_on N PORT CPORT: director N has the entry of the client's
# connection from CPORT to the VIP's PORT.
ha_conn_port_on() {
	ip netns exec "$(ha_ns "$1")" cat /proc/net/ip_vs_conn |
		awk -v p="$(printf '%04X' "$2")" -v c="$(printf '%04X' "$3")" '$4 == "0A000064" && $5 == p && $2 == "0A00000A" && $3 == c { n++ } END { exit !n }'
}

# ha_ns_create N: director N's namespace, veth on the bridge, its address.
ha_ns_create() {
	_ns=$(ha_ns "$1")
	ip netns add "$_ns" || return 1
	ip link add "v-$_ns" type veth peer name eth0 netns "$_ns" || return 1
	ip link set "v-$_ns" master "$LAB_BRIDGE" up
	{
		echo "link set lo up"
		echo "link set eth0 up"
		echo "addr add 10.0.0.$((1 + $1))/24 dev eth0"
	} | ip -n "$_ns" -batch -
}
# ha_death N: director N dies: its link goes down, everything in it is
# killed (lvsnode, keepalived: SIGKILL) and its namespace deleted (its IPVS
# table and sync daemons with it), as a power cut would.
ha_death() {
	_ns=$(ha_ns "$1")
	ip -n "$_ns" link set eth0 down
	for _p in $(ip netns pids "$_ns"); do kill -KILL "$_p" 2>/dev/null; done
	eval "HA_LV_$1= HA_KA_$1="
	wait_for 5 ha_ns_empty "$_ns"
	ip netns del "$_ns"
}
# ha_boot N sync|nosync: director N boots: a fresh namespace, lvsnode
# (its state file kept, as on disk), then keepalived, in that order (the
# units' order: keepalived after lvsnode-controller).
ha_boot() {
	ha_ns_create "$1" || return 1
	ha_lv_start "$1" "$2" || return 1
	if [ "$2" = sync ]; then
		wait_for 10 ha_sync_up "$1" || return 1
	fi
	ha_ka_start "$1"
}
# ha_sync_up N: both sync daemons run in director N.
ha_sync_up() { [ "$(ip netns exec "$(ha_ns "$1")" ipvsadm -L --daemon | wc -l)" = 2 ]; }
# ha_ka_backup N: director N's keepalived has entered BACKUP state since
# its (last) start.
ha_ka_backup() { awk '/^=== keepalived start/ { b = 0 } /Entering BACKUP STATE/ { b = 1 } END { exit !b }' "$HA_W/ka-$1.log"; }
ha_ns_empty() { [ -z "$(ip netns pids "$1")" ]; }
# ha_new_port PORT OLD: the client's port of an established connection to
# the VIP's PORT other than OLD (empty: none yet).
ha_new_port() { ha_client_ports "$1" | grep -vx "$2" | head -n 1; }
ha_has_new_port() { [ -n "$(ha_new_port "$1" "$2")" ]; }

# ha_story sync|nosync: the failover and failback story both ha-failover
# scenarios tell, with or without the sync: block:
#  1. one director, M, holds the VIP (with nopreempt whichever won the
#     first election); upload u1 starts through it;
#  2. M dies (ha_death); the other, B, takes the VIP (FO_MS after the death);
#  3. upload u2 starts through B while M is away;
#  4. M boots (ha_boot): lvsnode, then keepalived (vrrp_startup_delay,
#     nopreempt): the VIP should stay on B (STAYED=yes|no);
#  5. once M is backup (and, with sync, has u2 in its table), the VIP is
#     moved back by hand: keepalived stopped on B (FB_MS), started again.
# Sets R1 and R2 (ha_upload_result of u1, u2), OPEN1_FB (u1 still open at
# the move back: yes|no).
ha_story() {
	_mode=$1
	ha_up || fail "topology"
	ha_lv_start 1 "$_mode" || fail "lvsnode on dir1"
	ha_lv_start 2 "$_mode" || fail "lvsnode on dir2"
	if [ "$_mode" = sync ]; then
		for _n in 1 2; do
			wait_for 10 ha_sync_up "$_n" || fail "dir$_n: sync daemons"
			_a=$(ip netns exec "$(ha_ns "$_n")" lvsnode controller list --daemon)
			_b=$(ip netns exec "$(ha_ns "$_n")" ipvsadm -L --daemon)
			check "dir$_n: master and backup running, list --daemon = ipvsadm -L --daemon" test "$_a" = "$_b"
		done
	fi
	ha_ka_start 1
	ha_ka_start 2
	wait_for 30 test_master || fail "no director took the VIP"
	_m=$(ha_master)
	_b=$((3 - _m))
	check "dir$_m holds the VIP, dir$_b not" eval "! ha_has_vip $_b"
	# shellcheck disable=SC2046
	check "the VIP answers through dir$_m" check_alternates $(curl_vip v4 4)

	step "1-2. u1 through dir$_m; dir$_m dies"
	ha_upload_start u1 "$HA_U1_BYTES" "$HA_RATE"
	wait_for 30 ha_has_new_port "$HA_UPLOAD_PORT" none || fail "u1 did not connect"
	_p1=$(ha_new_port "$HA_UPLOAD_PORT" none)
	if [ "$_mode" = sync ]; then
		_ms=$(ms_until 20 ha_conn_port_on "$_b" "$HA_UPLOAD_PORT" "$_p1") || fail "u1 never reached dir$_b's table"
		info "u1 (client port $_p1) in dir$_b's table ${_ms} ms after it connected (the master batches sync messages, up to 2 s)"
	else
		sleep 2
		check "control: u1 is not in dir$_b's table" eval "! ha_conn_port_on $_b $HA_UPLOAD_PORT $_p1"
	fi
	sleep 1
	[ ! -s "$HA_W/u1.rc" ] || fail "u1 ended before the death ($(cat "$HA_W/u1.out")): make it longer (HA_U1_BYTES)"
	ha_vip_watch "$_b" "$HA_W/vip.fo"
	_t0=$(now_us)
	ha_death "$_m"
	FO_MS=$(watch_ms "$_t0" "$HA_W/vip.fo") || fail "dir$_b did not take the VIP"
	info "dir$_b holds the VIP $FO_MS ms after dir$_m died"

	step "3. u2 through dir$_b while dir$_m is away"
	ha_upload_start u2 "$HA_U2_BYTES" "$HA_RATE"
	wait_for 30 ha_has_new_port "$HA_UPLOAD_PORT" "$_p1" || fail "u2 did not connect"
	_p2=$(ha_new_port "$HA_UPLOAD_PORT" "$_p1")
	sleep 1

	step "4. dir$_m boots: lvsnode, then keepalived"
	ha_boot "$_m" "$_mode" || fail "dir$_m did not boot"
	_tb=$(now_us)
	wait_for 40 ha_ka_backup "$_m" || fail "dir$_m's keepalived never became backup"
	info "dir$_m's keepalived backup $((($(now_us) - _tb) / 1000)) ms after it started"
	sleep 1
	STAYED=no
	[ "$(ha_master)" = "$_b" ] && STAYED=yes
	# nopreempt, as examples/keepalived configures it: the returning
	# director must not take the VIP back (a failback resets what it did
	# not sync). A guest stall longer than 3 adverts under heavy load can
	# break this: then the run fails, and says so.
	check "dir$_m back: the VIP stays on dir$_b (nopreempt)" test "$STAYED" = yes
	if [ "$_mode" = sync ]; then
		wait_for 30 ha_conn_port_on "$_m" "$HA_UPLOAD_PORT" "$_p2" || fail "u2 (client port $_p2) never reached dir$_m's table"
		info "u2 (client port $_p2) in dir$_m's table $((($(now_us) - _tb) / 1000)) ms after dir$_m's lvsnode started"
	else
		sleep 3
	fi

	step "5. the VIP moved back by hand: keepalived stopped on dir$_b"
	OPEN1_FB=yes
	[ -s "$HA_W/u1.rc" ] && OPEN1_FB=no
	ha_vip_watch "$_m" "$HA_W/vip.fb"
	_t0=$(now_us)
	ha_ka_stop "$_b"
	FB_MS=$(watch_ms "$_t0" "$HA_W/vip.fb") || fail "dir$_m did not take the VIP"
	info "dir$_m holds the VIP $FB_MS ms after keepalived stopped on dir$_b"
	ha_ka_start "$_b"
	R1=$(ha_upload_result u1 "$HA_U1_BYTES")
	R2=$(ha_upload_result u2 "$HA_U2_BYTES")
	info "u1 (open across the failover$([ "$OPEN1_FB" = yes ] && echo " and the move back")): $R1"
	info "u2 (opened while dir$_m was away, open across the move back): $R2"
}
test_master() { [ -n "$(ha_master)" ]; }
HA_RATE=64k
HA_U1_BYTES=1572864 # 24 s at 64k: still open at the death on a loaded host
HA_U2_BYTES=2097152 # 32 s at 64k: past dir1's boot and startup delay
watch_ms() {
	while [ ! -s "$2" ]; do sleep 0.05; done
	_t=$(cat "$2")
	[ "$_t" != timeout ] || return 1
	echo $(((_t - $1) / 1000))
}
