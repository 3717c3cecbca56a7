#!/usr/bin/env bash
# lab-timeout: 900
# Benchmark (figures and ratios, not a timed pass/fail) of lvsnode's director
# daemon (`lvsnode controller run`) against keepalived's health checker
# (Debian's keepalived 2.2.7, `keepalived -C`: no VRRP) doing the same job in
# the same VM run (issue 9, "Side by side with keepalived"):
#   detect   kill httpd on one real server; ms from the kill until
#            /proc/net/ip_vs shows its weight 0 (a poller in the director's
#            namespace, started before the kill, the same for both tools;
#            lvsnode: 200 ms interval, fall 2; keepalived: inhibit_on_failure,
#            delay_loop 0.2 with retry 1, the same "two failures 200 ms apart")
#   cpu      1,000 real servers checked over TCP every second for 30 s: CPU
#            seconds (utime + stime from /proc/PID/stat) of each daemon, the
#            checks the real server actually answered (TcpPassiveOpens) per
#            second, and CPU seconds per 1,000 checks (under TCG neither tool
#            completes 1,000 checks/s, so CPU alone would not compare)
#   change   a director holding 1,000 services, add one real server: lvsnode
#            through its API (`controller add-node` routed to the daemon),
#            keepalived by a config edit + SIGHUP; ms from the CLI start (the
#            SIGHUP) until /proc/net/ip_vs has it (the same poller), and
#            whether a long-lived connection through the VIP survives; then
#            the same change as one raw API request (curl on the socket,
#            FIGURE change lvsnode_api) to separate the CLI's own start
# Run it with `make bench-pair` (`bash lab/run script
# lab/bench/pair-vs-keepalived.sh`; about 5 minutes wall clock under TCG: two
# 30 s CPU windows and the setups); it is not a CI scenario. Run it twice
# for ranges. PAIR_BENCH=detect,cpu,change picks measurements; PAIR_CPU_SECS
# (30: 60 made the run too long), PAIR_CPU_RS (1000), PAIR_DETECT_RUNS (5),
# PAIR_CHANGE_RUNS (3: each tool, lvsnode both by the CLI and by a raw API call).
# It fails only on wrong results (a real server never taken out, a change
# never applied), never on a time.
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"
. "${LAB_GUEST:-/lab/guest}/pair.sh"

BENCH=${PAIR_BENCH:-detect,cpu,change}
CPU_SECS=${PAIR_CPU_SECS:-30}
CPU_RS=${PAIR_CPU_RS:-1000}
REPORT=()
report() { REPORT+=("$(printf "$@")"); }
want() { case ",$BENCH," in *",$1,"*) return 0 ;; esac; return 1; }

# lvsnode's side runs when the binary has the daemon.
HAVE_RUN=0
lvsnode controller run --help >/dev/null 2>&1 && HAVE_RUN=1


# --- lvsnode's configs -------------------------------------------------------

lv_detect_config() {
	lv_head
	cat <<YAML
  - service: tcp $LAB_VIP4:$LAB_PORT
    scheduler: rr
    check: {type: http, path: /, interval: 200ms, timeout: 200ms, rise: 2, fall: 2}
    nodes:
      - {address: 10.0.0.11, method: dr}
      - {address: 10.0.0.12, method: dr}
YAML
}
lv_cpu_config() {
	lv_head
	echo "  - service: tcp $LAB_VIP4:$PAIR_READY_PORT"
	echo "    scheduler: wrr"
	echo "    check: {type: tcp, interval: 1s, timeout: 1s}"
	echo "    nodes:"
	sed "s/.*/      - {address: &, method: dr}/" "$PAIR_W/addrs-rs1"
}
lv_change_config() {
	lv_head
	echo "  - service: tcp $LAB_VIP4:$CHANGE_PORT"
	echo "    scheduler: wrr"
	echo "    nodes: [{address: 10.0.0.11, method: dr}]"
	awk -v p="$LAB_PORT" '{ printf "  - service: tcp %s:%s\n    scheduler: wrr\n    nodes: [{address: 10.0.0.11, method: dr}]\n", $1, p }' "$PAIR_W/filler"
}
lv_change_apply() {
	lv_ctl add-node -t "$LAB_VIP4:$CHANGE_PORT" -r "10.0.0.12:$CHANGE_PORT" -g -w 1 >/dev/null
}
# lv_change_api_apply: the same change as one raw API request (curl on the
# daemon's socket): the daemon's part without the CLI's start under TCG.
lv_change_api_apply() {
	ip netns exec director curl -sSf --unix-socket /run/lvsnode/director.sock -X POST -H "Content-Type: application/json" \
		-d "{\"service\": \"tcp $LAB_VIP4:$CHANGE_PORT\", \"address\": \"10.0.0.12\", \"port\": $CHANGE_PORT, \"weight\": 1, \"method\": \"dr\"}" \
		http://lvsnode/v1/nodes >/dev/null
}

# --- detect ------------------------------------------------------------------

DETECT_RUNS=${PAIR_DETECT_RUNS:-5}

# detect_runs TOOL: stop rs1's httpd DETECT_RUNS times; each time, ms from
# the kill until /proc/net/ip_vs shows it at weight 0 (down) and, from the
# restart, until it is at weight 1 again (up), both seen by ipvs_watch (the
# same poller, started before the kill, for both tools). Sets DOWN_<TOOL>
# and UP_<TOOL> (lists of ms).
detect_runs() {
	local tool=$1 i down up t0 pid
	local downs=() ups=()
	for i in $(seq "$DETECT_RUNS"); do
		wait_for 20 ipvs_has "-t $LAB_VIP4:$LAB_PORT" "10.0.0.11:$LAB_PORT" 1 || fail "$tool: rs1 never up"
		sleep 0.5
		pid=$(httpd_pid rs1)
		[ -n "$pid" ] || fail "no httpd in rs1"
		ipvs_watch "10.0.0.11:$LAB_PORT" 0 "$PAIR_W/watch"
		t0=${EPOCHREALTIME/./}
		kill "$pid"
		down=$(watch_ms "$t0" "$PAIR_W/watch") || fail "$tool: rs1 never at weight 0"
		ipvs_watch "10.0.0.11:$LAB_PORT" 1 "$PAIR_W/watch"
		t0=${EPOCHREALTIME/./}
		httpd_start rs1
		up=$(watch_ms "$t0" "$PAIR_W/watch") || fail "$tool: rs1 never back"
		info "$tool run $i: weight 0 $down ms after the kill; back to 1 $up ms after the restart"
		echo "FIGURE detect $tool run $i: down $down ms, up $up ms"
		downs+=("$down")
		ups+=("$up")
	done
	eval "DOWN_$tool=\"${downs[*]}\" UP_$tool=\"${ups[*]}\""
}

bench_detect() {
	step "detect: keepalived (HTTP_GET, delay_loop 0.2, retry 1, delay_before_retry 0.2, connect_timeout 0.2, inhibit_on_failure)"
	topo_up 2
	local chk=("HTTP_GET {" "    url {" "        path /" "        status_code 200" "    }"
		"    connect_timeout 0.2" "    retry 1" "    delay_before_retry 0.2" "}")
	{
		ka_vs_open "$LAB_VIP4" "$LAB_PORT" rr DR "delay_loop 0.2" inhibit_on_failure
		for rs in rs1 rs2; do ka_rs "$(node_ip4 $rs)" "$LAB_PORT" 1 "${chk[@]}"; done
		ka_close
	} >"$PAIR_W/ka-detect.conf"
	ka_start "$PAIR_W/ka-detect.conf"
	detect_runs keepalived
	ka_stop
	if [ "$HAVE_RUN" = 1 ]; then
		step "detect: lvsnode (http check, interval 200ms, timeout 200ms, fall 2, rise 2)"
		lv_detect_config >"$PAIR_W/lv-detect.yaml"
		lv_start "$PAIR_W/lv-detect.yaml"
		detect_runs lvsnode
		lv_stop
		# shellcheck disable=SC2086
		report 'detect  weight 0   lvsnode %s; keepalived %s; ratio of medians %s' "$(stats $DOWN_lvsnode)" "$(stats $DOWN_keepalived)" \
			"$(ratio "$(median $DOWN_lvsnode)" "$(median $DOWN_keepalived)")"
		# shellcheck disable=SC2086
		report 'detect  back up    lvsnode %s; keepalived %s; ratio %s (lvsnode rise 2, keepalived 1 success)' "$(stats $UP_lvsnode)" "$(stats $UP_keepalived)" \
			"$(ratio "$(median $UP_lvsnode)" "$(median $UP_keepalived)")"
	else
		# shellcheck disable=SC2086
		report 'detect  weight 0   keepalived %s; lvsnode: no controller run' "$(stats $DOWN_keepalived)"
	fi
	topo_down || true
}

# --- cpu ---------------------------------------------------------------------

# cpu_window TOOL PIDS...: CPU ticks of PIDS and checks answered by rs1 over
# CPU_SECS, after a 5 s settling; appends a line to REPORT-able CPU_<TOOL>.
cpu_window() {
	local tool=$1
	shift
	sleep 5
	local t0 t1 o0 o1 v0 v1
	t0=$(cpu_ticks "$@")
	o0=$(passive_opens rs1)
	v0=$(vm_busy_ticks)
	sleep "$CPU_SECS"
	t1=$(cpu_ticks "$@")
	o1=$(passive_opens rs1)
	v1=$(vm_busy_ticks)
	local ticks=$((t1 - t0)) checks=$((o1 - o0))
	local per=$(per_k "$ticks" "$checks")
	info "$tool: $(ticks_secs $ticks) CPU s in ${CPU_SECS} s ($(awk -v t=$ticks -v s=$CPU_SECS 'BEGIN{printf "%.1f", t/s}') % of a core); $checks checks answered ($((checks / CPU_SECS))/s); $per CPU s per 1,000 checks; whole guest busy $(awk -v t=$((v1 - v0)) -v s=$CPU_SECS 'BEGIN{printf "%.0f", t/s}') %"
	echo "FIGURE cpu $tool: $(ticks_secs $ticks) CPU s in $CPU_SECS s, $((checks / CPU_SECS)) checks/s, $per CPU s per 1,000 checks"
	eval "CPU_$tool=$ticks CHECKS_$tool=$checks"
}
# per_k TICKS CHECKS: CPU seconds per 1,000 checks.
per_k() { awk -v t="$1" -v c="$2" -v hz="$PAIR_CLK_TCK" 'BEGIN { if (c > 0) printf "%.3f", t / hz / c * 1000; else print "inf" }'; }

bench_cpu() {
	step "cpu: $CPU_RS real servers (addresses on rs1's lo), TCP check every 1 s, ${CPU_SECS} s"
	topo_up 1
	many_addrs rs1 "$CPU_RS" >/dev/null
	# The listener the checks connect to: the agent's HTTP server (Go,
	# accepts and closes without a process per connection, unlike busybox
	# httpd); on every address of rs1.
	ip netns exec rs1 lvsnode agent run --vip "$LAB_VIP4" --state-file "$LAB_STATE_DIR/rs1.json" \
		--listen "0.0.0.0:$PAIR_READY_PORT" >"$PAIR_W/agent-rs1.log" 2>&1 &
	wait_for 10 bash -c "ip netns exec director curl -s -o /dev/null http://10.1.0.1:$PAIR_READY_PORT/readyz" ||
		fail "the listener on rs1 is not reachable through 10.1.0.0/16"
	{
		ka_vs_open "$LAB_VIP4" "$PAIR_READY_PORT" wrr DR "delay_loop 1" inhibit_on_failure
		while read -r a; do
			ka_rs "$a" "$PAIR_READY_PORT" 1 "TCP_CHECK {" "    connect_timeout 1" "}"
		done <"$PAIR_W/addrs-rs1"
		ka_close
	} >"$PAIR_W/ka-cpu.conf"
	ka_start -q "$PAIR_W/ka-cpu.conf"
	wait_for 30 bash -c "[ \$(ip netns exec director ipvsadm -Ln -t $LAB_VIP4:$PAIR_READY_PORT | grep -c ' 1  ') -ge $CPU_RS ]" ||
		info "keepalived: not every real server at weight 1 after 30 s"
	# shellcheck disable=SC2046
	cpu_window keepalived $(ka_pids)
	info "keepalived: $(grep -c 'Disabling service' "$PAIR_W/keepalived.log" || true) real servers disabled in all; $(grep -c 'timer expired' "$PAIR_W/keepalived.log" || true) \"thread timer expired\" lines"
	ka_stop
	if [ "$HAVE_RUN" = 1 ]; then
		lv_cpu_config >"$PAIR_W/lv-cpu.yaml"
		LV_START_WAIT=180 lv_start "$PAIR_W/lv-cpu.yaml"
		wait_for 30 bash -c "[ \$(ip netns exec director ipvsadm -Ln -t $LAB_VIP4:$PAIR_READY_PORT | grep -c ' 1  ') -ge $CPU_RS ]" ||
			info "lvsnode: not every real server at weight 1 after 30 s"
		cpu_window lvsnode "$LV_PID"
		lv_stop
		report 'cpu     %d rs/1s, %d s: lvsnode %s CPU s, %d checks/s; keepalived %s CPU s, %d checks/s' "$CPU_RS" "$CPU_SECS" \
			"$(ticks_secs $CPU_lvsnode)" $((CHECKS_lvsnode / CPU_SECS)) "$(ticks_secs $CPU_keepalived)" $((CHECKS_keepalived / CPU_SECS))
		report 'cpu     per 1,000 checks: lvsnode %s CPU s, keepalived %s CPU s, ratio %s' "$(per_k $CPU_lvsnode $CHECKS_lvsnode)" \
			"$(per_k $CPU_keepalived $CHECKS_keepalived)" "$(ratio "$(per_k $CPU_lvsnode $CHECKS_lvsnode)" "$(per_k $CPU_keepalived $CHECKS_keepalived)")"
	else
		report 'cpu     %d rs/1s   keepalived %6s s in %d s (checks answered %d); lvsnode: no controller run' "$CPU_RS" \
			"$(ticks_secs $CPU_keepalived)" "$CPU_SECS" "$CHECKS_keepalived"
	fi
	topo_down || true
}

# --- change ------------------------------------------------------------------

CHANGE_SVCS=${PAIR_CHANGE_SVCS:-1000}
CHANGE_PORT=8080

# change_prepare: rs1 and rs2 with the VIP (agent apply) and a slow stream
# server on CHANGE_PORT; the filler services' list.
change_prepare() {
	topo_up 2
	agent_apply rs1 --vip "$LAB_VIP4" >/dev/null
	agent_apply rs2 --vip "$LAB_VIP4" >/dev/null
	slow_stream_server rs1 "$CHANGE_PORT"
	slow_stream_server rs2 "$CHANGE_PORT"
	awk -v n="$CHANGE_SVCS" 'BEGIN { for (i = 0; i < n; i++) printf "10.2.%d.%d\n", int(i / 250), i % 250 + 1 }' >"$PAIR_W/filler"
}
# change_measure TOOL CMD...: open the long-lived connection, run CMD (the
# change), time until IPVS has rs2 in the VIP's service at weight 1, then
# check the connection and the rest of the table.
change_measure() {
	local tool=$1
	shift
	local svc="-t $LAB_VIP4:$CHANGE_PORT" rs2="10.0.0.12:$CHANGE_PORT"
	wait_for 30 ipvs_has "$svc" "10.0.0.11:$CHANGE_PORT" 1 || fail "$tool: the VIP's service has no rs1"
	local n
	n=$(ip netns exec director ipvsadm -Ln | grep -c '^TCP')
	info "$tool: $n services in IPVS"
	: >"$PAIR_W/stream-$tool"
	local cpid
	cpid=$(slow_stream_client "$LAB_VIP4" "$CHANGE_PORT" "$PAIR_W/stream-$tool")
	wait_for 5 test -s "$PAIR_W/stream-$tool" || fail "$tool: no stream through the VIP"
	ipvs_table | grep -v "$rs2" >"$PAIR_W/table-before-$tool"
	local t0 ms
	ipvs_watch "$rs2" 1 "$PAIR_W/watch" 60
	t0=${EPOCHREALTIME/./}
	"$@" || fail "$tool: the change failed"
	local ret=$(((${EPOCHREALTIME/./} - t0) / 1000))
	ms=$(watch_ms "$t0" "$PAIR_W/watch") || fail "$tool: rs2 not in the kernel after 60 s"
	info "$tool: rs2 in the kernel $ms ms after the change started (the command returned after $ret ms)"
	echo "FIGURE change $tool: $ms ms"
	local alive=yes
	sleep 1
	stream_alive "$PAIR_W/stream-$tool" "$cpid" || alive=no
	info "$tool: the long-lived connection survived: $alive ($(wc -l <"$PAIR_W/stream-$tool") lines so far)"
	ipvs_table | grep -v "$rs2" >"$PAIR_W/table-after-$tool"
	# The counters are not in -S: the rest of the table must be as it was.
	cmp -s "$PAIR_W/table-before-$tool" "$PAIR_W/table-after-$tool" || {
		diff "$PAIR_W/table-before-$tool" "$PAIR_W/table-after-$tool" | head
		fail "$tool: the change touched other rules"
	}
	kill "$cpid" 2>/dev/null || true
	eval "CHANGE_$tool=$ms ALIVE_$tool=$alive"
}

ka_change_conf() {
	ka_vs_open "$LAB_VIP4" "$CHANGE_PORT" wrr DR
	ka_rs 10.0.0.11 "$CHANGE_PORT" 1
	[ "${1:-}" = with-rs2 ] && ka_rs 10.0.0.12 "$CHANGE_PORT" 1
	ka_close
	awk -v p="$LAB_PORT" '{ printf "virtual_server %s %s {\n    lb_algo wrr\n    lb_kind DR\n    protocol TCP\n    real_server 10.0.0.11 %s {\n        weight 1\n    }\n}\n", $1, p, p }' "$PAIR_W/filler"
}
# ka_change_apply: the edit (the new file, written beforehand, moved in
# place) and SIGHUP; the timing starts here, as lvsnode's does at the CLI.
ka_change_apply() {
	mv "$PAIR_W/ka-change.next" "$PAIR_W/ka-change.conf"
	ka_reload
}

# lv_change_cost: the daemon's own time for the last change, from its log
# ("runtime change": until saved, then until written to IPVS).
lv_change_cost() {
	info "lvsnode: the daemon's part: $(grep 'msg="runtime change"' "$PAIR_W/controller.log" | tail -1 | grep -o 'services=.*')"
}
# rs2_gone: wait until the VIP's service has no rs2 (between runs).
rs2_gone() {
	wait_for 30 bash -c "! ip netns exec director ipvsadm -Ln -t $LAB_VIP4:$CHANGE_PORT | grep -q 10.0.0.12:$CHANGE_PORT" ||
		fail "$1: rs2 not removed"
}

CHANGE_RUNS=${PAIR_CHANGE_RUNS:-3}

bench_change() {
	step "change: $CHANGE_SVCS services + the VIP's; add one real server ($CHANGE_RUNS runs each)"
	change_prepare
	local i ka=() cli=() api=()
	ka_change_conf >"$PAIR_W/ka-change.conf"
	ka_start "$PAIR_W/ka-change.conf"
	for i in $(seq "$CHANGE_RUNS"); do
		ka_change_conf with-rs2 >"$PAIR_W/ka-change.next"
		change_measure keepalived ka_change_apply
		ka+=("$CHANGE_keepalived")
		ka_change_conf >"$PAIR_W/ka-change.conf"
		ka_reload
		rs2_gone keepalived
	done
	ka_stop
	if [ "$HAVE_RUN" = 1 ]; then
		ip netns exec director ipvsadm -C
		lv_change_config >"$PAIR_W/lv-change.yaml"
		lv_start "$PAIR_W/lv-change.yaml"
		# Where a CLI change's time goes (for scale, not timed pass/fail):
		# the binary's start alone, a status call, a raw API round trip.
		local t0
		t0=${EPOCHREALTIME/./}
		ip netns exec director lvsnode --version >/dev/null
		info "lvsnode: the CLI's start alone (lvsnode --version) took $(((${EPOCHREALTIME/./} - t0) / 1000)) ms"
		t0=${EPOCHREALTIME/./}
		lv_ctl status >/dev/null
		info "lvsnode: a \`controller status\` (the CLI's start and one API call, for scale) took $(((${EPOCHREALTIME/./} - t0) / 1000)) ms"
		t0=${EPOCHREALTIME/./}
		ip netns exec director curl -s -o /dev/null --unix-socket /run/lvsnode/director.sock http://lvsnode/v1/none
		info "lvsnode: a raw API round trip (curl, an unknown endpoint) took $(((${EPOCHREALTIME/./} - t0) / 1000)) ms"
		for i in $(seq "$CHANGE_RUNS"); do
			change_measure lvsnode lv_change_apply
			lv_change_cost
			cli+=("$CHANGE_lvsnode")
			lv_ctl remove-node -t "$LAB_VIP4:$CHANGE_PORT" -r "10.0.0.12:$CHANGE_PORT" >/dev/null
			rs2_gone lvsnode
			# The same change as a raw API call: the daemon's part.
			change_measure lvsnode_api lv_change_api_apply
			lv_change_cost
			api+=("$CHANGE_lvsnode_api")
			lv_ctl remove-node -t "$LAB_VIP4:$CHANGE_PORT" -r "10.0.0.12:$CHANGE_PORT" >/dev/null
			rs2_gone lvsnode
		done
		lv_stop
		local mc ma mk
		mc=$(median "${cli[@]}") ma=$(median "${api[@]}") mk=$(median "${ka[@]}")
		report 'change  add rs     lvsnode CLI %s; API %s; keepalived %s' "$(stats "${cli[@]}")" "$(stats "${api[@]}")" "$(stats "${ka[@]}")"
		report 'change  add rs     medians: lvsnode CLI %d ms, API %d ms, keepalived %d ms; ratio CLI %s, API %s (%d services; connection kept: lvsnode %s/%s, keepalived %s)' \
			"$mc" "$ma" "$mk" "$(ratio "$mc" "$mk")" "$(ratio "$ma" "$mk")" "$CHANGE_SVCS" "$ALIVE_lvsnode" "$ALIVE_lvsnode_api" "$ALIVE_keepalived"
	else
		report 'change  add rs     keepalived %s (reload, %d services; connection kept: %s); lvsnode: no controller run' \
			"$(stats "${ka[@]}")" "$CHANGE_SVCS" "$ALIVE_keepalived"
	fi
	topo_down || true
}

if want detect; then
	bench_detect
fi
if want cpu; then
	bench_cpu
fi
if want change; then
	bench_change
fi

echo
echo "=== pair vs keepalived (same VM run, TCG, 1 vCPU) ==="
for l in "${REPORT[@]}"; do echo "BENCH $l"; done
