#!/usr/bin/env bash
# The pair, first scenario: `lvsnode controller run` on the director, two
# DR real servers running `lvsnode agent run`. Traffic flows; a stopped
# httpd on rs1 takes its weight to 0 within 1 s at interval 200ms fall 3
# (the time is printed, measured by a watcher of /proc/net/ip_vs inside the
# director) and back; the daemon sets accept_local for its IPv4 data-path
# checks (control: with 0 the IPv4 data-path check fails, the IPv6 one does
# not need it); a SIGKILLed and restarted controller changes nothing in
# IPVS (ipvsadm -S -n before/after, and the changes it logs counted: 0); a
# data-path check catches rs2 without the VIP while its own address still
# answers, and from then on client requests reach rs1 only (control: a
# plain TCP check of rs2's RIP keeps it up).
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"

topo_up 2
trap 'rc=$?; [ $rc -eq 0 ] || { echo "--- controller log"; grep -v "sysctl set" "$LAB_WORK/ctl.log" 2>/dev/null | cut -c1-200 | tail -40; }' EXIT
step "real servers: lvsnode agent run (both VIPs)"
for rs in rs1 rs2; do
	ip netns exec "$rs" lvsnode agent run --vip "$LAB_VIP4" --vip "$LAB_VIP6" --state-file "$LAB_STATE_DIR/$rs.json" \
		--resync-interval 1s >"$LAB_WORK/agent-$rs.log" 2>&1 &
	wait_for 5 rs_has_vip "$rs" "$LAB_VIP4" || fail "agent on $rs did not bind the VIP"
done
rs2_agent=$!
RIP1=$(node_ip4 rs1) RIP2=$(node_ip4 rs2)

# rs1: an HTTP check of its own address at issue 9's 200 ms interval, with
# fall 3 rather than 2: at fall 2 a single slow answer under TCG on the
# shared host took rs1 out now and then (seen in 1 run of 3; detection was
# 380-430 ms at fall 2), and fall 3 still detects within 1 s.
# rs2: data-path checks through the VIP, IPv4 and IPv6; and, in a service
# no client uses (VIP:8080), a plain TCP check of its RIP as the control.
# The IPv6 and control checks are slower (500ms, fall 3): they are not
# what is timed, and 200 ms timeouts flap under TCG on a shared host.
cat >"$LAB_WORK/director.yaml" <<YAML
state_file: $LAB_WORK/director.json
metrics: 127.0.0.1:9110
resync: 2s
datapath: {marks: 0x100-0x1ff}
services:
  - service: tcp $LAB_VIP4:$LAB_PORT
    scheduler: rr
    nodes:
      - address: $RIP1
        method: dr
        check: {type: http, interval: 200ms, timeout: 200ms, rise: 2, fall: 3}
      - address: $RIP2
        method: dr
        check: {type: tcp, data_path: true, source: $(node_ip4 director), interval: 200ms, timeout: 200ms, rise: 2, fall: 3}
  - service: tcp [$LAB_VIP6]:$LAB_PORT
    scheduler: rr
    nodes:
      - address: $(node_ip6 rs2)
        method: dr
        check: {type: tcp, data_path: true, source: $(node_ip6 director), interval: 500ms, timeout: 500ms, rise: 2, fall: 3}
  - service: tcp $LAB_VIP4:8080
    nodes:
      - address: $RIP2
        port: 8080
        method: dr
        check: {type: tcp, port: $LAB_PORT, interval: 500ms, timeout: 500ms, rise: 2, fall: 3}
YAML
sed 's/^/    director.yaml: /' "$LAB_WORK/director.yaml"

step "bad config: exit 2, one line with file:line, nothing changed"
printf 'services:\n  - service: tcp %s:80\n    nodes:\n      - address: 10.0.0.11\n        weight: 70000\n' "$LAB_VIP4" >"$LAB_WORK/bad.yaml"
set +e
msg=$(in_ns director lvsnode controller run --config "$LAB_WORK/bad.yaml" 2>&1)
rc=$?
set -e
info "$msg (exit $rc)"
check "exit 2" test "$rc" -eq 2
check "names bad.yaml:5" grep "bad.yaml:5:" <<<"$msg"
check "IPVS untouched" test -z "$(in_ns director ipvsadm -S -n)"

start_ctl() {
	# ip netns exec execs lvsnode: $! is the daemon itself (SIGKILL hits it).
	ip netns exec director lvsnode controller run --config "$LAB_WORK/director.yaml" >>"$LAB_WORK/ctl.log" 2>&1 &
	ctl_pid=$!
}
# ctl_procs: pids of every `lvsnode controller run` in the guest (builtins
# only: a process per /proc entry would take seconds under TCG).
ctl_procs() {
	for f in /proc/[0-9]*/cmdline; do
		mapfile -d '' -t a 2>/dev/null <"$f" || continue
		[ "${a[*]:0:3}" = "lvsnode controller run" ] && { p=${f#/proc/}; echo "${p%/cmdline}"; }
	done
	return 0
}
ctl_ready() { [ "$(in_ns director curl -s --max-time 1 http://127.0.0.1:9110/readyz)" = ready ]; }
weight_of() { # weight_of RIP [SERVICE] -> weight in the service ("" if absent)
	in_ns director ipvsadm -Ln -t "${2:-$LAB_VIP4:$LAB_PORT}" | awk -v r="$1:${3:-$LAB_PORT}" '$2 == r {print $4}'
}
weight6_of() {
	in_ns director ipvsadm -Ln -t "[$LAB_VIP6]:$LAB_PORT" | awk -v r="[$1]:$LAB_PORT" '$2 == r {print $4}'
}
all_up() {
	[ "$(weight_of "$RIP1")" = 1 ] && [ "$(weight_of "$RIP2")" = 1 ] &&
		[ "$(weight6_of "$(node_ip6 rs2)")" = 1 ] && [ "$(weight_of "$RIP2" "$LAB_VIP4:8080" 8080)" = 1 ]
}
# watch_weight0 HEXADDR:HEXPORT OUT: in the director, poll /proc/net/ip_vs
# every 10 ms with shell builtins only (no process per poll) until the real
# server's weight in the VIP's service is 0, then write now_ms to OUT.
watch_weight0() {
	ip netns exec director bash -c '
		now_ms() { read -r _up _ </proc/uptime; echo $((${_up%.*} * 1000 + 1${_up#*.}0 - 1000)); }
		mkfifo "$2.fifo"; exec 3<>"$2.fifo"
		svc=$3 rs=$1
		while :; do
			in=0
			while read -r a b c d _; do
				[ "$a" = TCP ] && { [ "$b" = "$svc" ] && in=1 || in=0; }
				[ $in = 1 ] && [ "$a" = "->" ] && [ "$b" = "$rs" ] && [ "$d" = 0 ] && { now_ms >"$2"; exit 0; }
			done </proc/net/ip_vs
			read -t 0.01 -u 3 _ || true
		done' _ "$1" "$2" "$(printf '%02X%02X%02X%02X:%04X' ${LAB_VIP4//./ } "$LAB_PORT")" &
	watcher=$!
}
hexrip() { printf '%02X%02X%02X%02X:%04X' ${1//./ } "$LAB_PORT"; }

step "director: lvsnode controller run"
check "accept_local is 0 before the daemon (the kernel's default)" test "$(ns_sysctl director net.ipv4.conf.all.accept_local)$(ns_sysctl director net.ipv4.conf.eth0.accept_local)" = 00
start_ctl
wait_for 10 all_up || { cat "$LAB_WORK/ctl.log"; in_ns director ipvsadm -Ln; fail "real servers not up within 10 s"; }
in_ns director ipvsadm -Ln | sed 's/^/    /'
check "expire_nodest_conn set" test "$(ns_sysctl director net.ipv4.vs.expire_nodest_conn)" = 1
check "expire_quiescent_template set" test "$(ns_sysctl director net.ipv4.vs.expire_quiescent_template)" = 1
check "accept_local set by the daemon (IPv4 data-path checks)" test "$(ns_sysctl director net.ipv4.conf.all.accept_local)" = 1
grep 'accept_local' "$LAB_WORK/ctl.log" | cut -c1-160 | sed 's/^/    ctl: /'
wait_for 5 all_up || fail "a real server flapped down and stayed down"
answers=$(curl_vip v4 6)
info "answers: $(echo $answers)"
# shellcheck disable=SC2086
check "traffic alternates rs1/rs2" check_alternates $answers

step "stop httpd on rs1: weight 0 (target 1 s; interval 200ms, timeout 200ms, fall 3)"
httpd_pid=""
for p in $(ip netns pids rs1); do
	grep -q httpd "/proc/$p/comm" 2>/dev/null && httpd_pid=$p
done
[ -n "$httpd_pid" ] || fail "no httpd in rs1"
rm -f "$LAB_WORK/t_w0"
watch_weight0 "$(hexrip "$RIP1")" "$LAB_WORK/t_w0"
sleep 0.3 # the watcher is polling
t0=$(now_ms)
kill "$httpd_pid"
wait_for 5 test -s "$LAB_WORK/t_w0" || { kill "$watcher" 2>/dev/null; fail "rs1 weight still $(weight_of "$RIP1") after 5 s"; }
t1=$(cat "$LAB_WORK/t_w0")
info "DETECTION: rs1 at weight 0 in the kernel $((t1 - t0)) ms after httpd stopped"
grep -E 'to=down|weight 1 -> 0' "$LAB_WORK/ctl.log" | tail -2 | cut -c1-200 | sed 's/^/    ctl: /'
# The 1 s target is a figure (reported above and in the closing note), not
# a pass/fail timing: detection at all is what this scenario asserts (5 s).
answers=$(curl_vip v4 4)
check "every request goes to rs2" test "$(echo $answers)" = "rs2 rs2 rs2 rs2"

step "start httpd on rs1: configured weight back"
t0=$(now_ms)
ip netns exec rs1 httpd -p "$LAB_PORT" -h /srv/rs1
w1() { [ "$(weight_of "$RIP1")" = 1 ]; }
wait_for 5 w1 || fail "rs1 not back"
info "RECOVERY: rs1 back at weight 1 after $(($(now_ms) - t0)) ms (rise 2)"

step "control: accept_local=0 makes the IPv4 data-path check fail (IPv6 needs nothing); SIGHUP sets it again"
in_ns director sysctl -qw net.ipv4.conf.all.accept_local=0
rs2down() { [ "$(weight_of "$RIP2")" = 0 ]; }
wait_for 5 rs2down || fail "rs2's IPv4 data-path check still passes with accept_local=0: the sysctl is not what makes it work"
grep -E '10.0.0.12:80" from=up to=down' "$LAB_WORK/ctl.log" | tail -1 | cut -c1-200 | sed 's/^/    ctl: /'
ok "with accept_local=0 the IPv4 data-path check of rs2 fails (weight 0)"
check "the IPv6 data-path check of rs2 still passes (weight 1)" test "$(weight6_of "$(node_ip6 rs2)")" = 1
kill -HUP "$ctl_pid"
wait_for 5 all_up || fail "rs2 not back after SIGHUP"
check "SIGHUP set accept_local again" test "$(ns_sysctl director net.ipv4.conf.all.accept_local)" = 1
ok "rs2 back at weight 1"

step "SIGKILL the controller and restart it: IPVS unchanged"
sleep 0.5 # the state file has the last change
in_ns director ipvsadm -S -n >"$LAB_WORK/before"
check "ctl_pid is the daemon itself" test "$(ctl_procs)" = "$ctl_pid"
kill -9 "$ctl_pid"
wait "$ctl_pid" 2>/dev/null || true
check "the old controller is gone (no lvsnode controller run left)" test -z "$(ctl_procs)"
log_lines=$(wc -l <"$LAB_WORK/ctl.log")
start_ctl
wait_for 10 ctl_ready || fail "restarted controller not ready"
sleep 2.5 # and one resync pass
check "the restarted controller runs, alone" test "$(ctl_procs)" = "$ctl_pid"
in_ns director ipvsadm -S -n >"$LAB_WORK/after"
diff "$LAB_WORK/before" "$LAB_WORK/after" | sed 's/^/    /' || true
check "ipvsadm -S -n identical after restart" cmp -s "$LAB_WORK/before" "$LAB_WORK/after"
# Every change the daemon sends is logged ("msg=ipvs change=applied: ...").
changes=$(tail -n +"$((log_lines + 1))" "$LAB_WORK/ctl.log" | grep -c "msg=ipvs" || true)
info "IPVS changes written by the restarted controller: $changes"
check "the restarted controller wrote no IPVS change" test "$changes" -eq 0

step "data path: rs2 loses the VIP; its own address still answers; the data-path check catches it"
kill "$rs2_agent" 2>/dev/null || true
wait "$rs2_agent" 2>/dev/null || true
ip -n rs2 addr del "$LAB_VIP4/32" dev lo 2>/dev/null || true
t0=$(now_ms)
check "control: rs2 answers on its own address" test "$(client_get "$RIP2")" = rs2
w2() { [ "$(weight_of "$RIP2")" = 0 ]; }
wait_for 5 w2 || { in_ns director ipvsadm -Ln; fail "rs2 without the VIP kept weight $(weight_of "$RIP2")"; }
info "DATA PATH: rs2 at weight 0 $(($(now_ms) - t0)) ms after losing the VIP"
wait_for 5 w1 || fail "rs1 flapped down and stayed down"
answers=$(curl_vip v4 6)
info "answers after: $(echo $answers)"
check "every client request reaches rs1 (none rs2, none failed)" test "$(echo $answers)" = "rs1 rs1 rs1 rs1 rs1 rs1"
sleep 1
check "control: the plain TCP check of rs2's RIP keeps it up (weight 1 in VIP:8080)" test "$(weight_of "$RIP2" "$LAB_VIP4:8080" 8080)" = 1
in_ns director ipvsadm -Ln | sed 's/^/    /'

step "health changes over the whole run (flaps would show here)"
# 9 are the scenario's own: 4 first ups, rs1 down/up, rs2 down/up
# (accept_local), rs2 down (no VIP); any more is a flap (reason shown).
sed -n 's/^time=[^T]*T\([^Z]*\)Z.*msg=health node="\([^"]*\)" \(from=[a-z]* to=[a-z]*\) reason=\(.*\)/\1 \2 \3 \4/p' "$LAB_WORK/ctl.log" | sed 's/^/    /'
info "health changes: $(grep -c 'msg=health' "$LAB_WORK/ctl.log") (9 expected without flaps)"
kill "$ctl_pid"
wait "$ctl_pid" || true
