#!/usr/bin/env bash
# The pair, first scenario: `lvsnode controller run` on the director, two
# DR real servers running `lvsnode agent run`. Traffic flows; a stopped
# httpd on rs1 takes its weight to 0 within 1 s at interval 200ms fall 2
# (the time is printed) and back; a data-path check catches rs2 without the
# VIP while its own address still answers (control: the RIP answers); a
# SIGKILLed and restarted controller changes nothing in IPVS (ipvsadm -S -n
# before/after, and the netlink messages counted with nlmon).
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"

topo_up 2
trap 'rc=$?; [ $rc -eq 0 ] || { echo "--- controller log"; grep -v "sysctl set" "$LAB_WORK/ctl.log" 2>/dev/null | cut -c1-200 | tail -40; }' EXIT
step "real servers: lvsnode agent run"
for rs in rs1 rs2; do
	ip netns exec "$rs" lvsnode agent run --vip "$LAB_VIP4" --state-file "$LAB_STATE_DIR/$rs.json" \
		--resync-interval 1s >"$LAB_WORK/agent-$rs.log" 2>&1 &
	wait_for 5 rs_has_vip "$rs" "$LAB_VIP4" || fail "agent on $rs did not bind the VIP"
done
rs2_agent=$!

cat >"$LAB_WORK/director.yaml" <<YAML
state_file: $LAB_WORK/director.json
metrics: 127.0.0.1:9110
resync: 2s
datapath: {marks: 0x100-0x1ff}
services:
  - service: tcp $LAB_VIP4:$LAB_PORT
    scheduler: rr
    nodes:
      - address: $(node_ip4 rs1)
        method: dr
        check: {type: http, interval: 200ms, timeout: 200ms, rise: 2, fall: 2}
      - address: $(node_ip4 rs2)
        method: dr
        check: {type: tcp, data_path: true, source: 10.0.0.2, interval: 200ms, timeout: 200ms, rise: 2, fall: 2}
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
	in_ns director lvsnode controller run --config "$LAB_WORK/director.yaml" >>"$LAB_WORK/ctl.log" 2>&1 &
	ctl_pid=$!
}
weight_of() { # weight_of RIP -> weight in the VIP service ("" if absent)
	in_ns director ipvsadm -Ln -t "$LAB_VIP4:$LAB_PORT" | awk -v r="$1:$LAB_PORT" '$2 == r {print $4}'
}
both_up() { [ "$(weight_of "$(node_ip4 rs1)")" = 1 ] && [ "$(weight_of "$(node_ip4 rs2)")" = 1 ]; }

step "director: lvsnode controller run"
# The data-path probe leaves from 10.0.0.2 to the VIP; rs2 answers from the
# VIP, which is also the director's own address: without accept_local the
# director drops that answer as a martian (source is local).
in_ns director sysctl -qw net.ipv4.conf.all.accept_local=1 net.ipv4.conf.eth0.accept_local=1
start_ctl
wait_for 10 both_up || { cat "$LAB_WORK/ctl.log"; in_ns director ipvsadm -Ln; fail "real servers not up within 10 s"; }
in_ns director ipvsadm -Ln | sed 's/^/    /'
check "expire_nodest_conn set" test "$(ns_sysctl director net.ipv4.vs.expire_nodest_conn)" = 1
check "expire_quiescent_template set" test "$(ns_sysctl director net.ipv4.vs.expire_quiescent_template)" = 1
answers=$(curl_vip v4 6)
info "answers: $(echo $answers)"
# shellcheck disable=SC2086
check "traffic alternates rs1/rs2" check_alternates $answers

step "stop httpd on rs1: weight 0 within 1 s (interval 200ms, fall 2)"
httpd_pid=""
for p in $(ip netns pids rs1); do
	grep -q httpd "/proc/$p/comm" 2>/dev/null && httpd_pid=$p
done
[ -n "$httpd_pid" ] || fail "no httpd in rs1"
t0=$(now_ms)
kill "$httpd_pid"
w0() { [ "$(weight_of "$(node_ip4 rs1)")" = 0 ]; }
wait_for 5 w0 || fail "rs1 weight still $(weight_of "$(node_ip4 rs1)") after 5 s"
t1=$(now_ms)
info "DETECTION: rs1 at weight 0 $((t1 - t0)) ms after httpd stopped"
grep -E 'to=down|weight 1 -> 0' "$LAB_WORK/ctl.log" | tail -2 | sed 's/^/    ctl: /'
check "within 1 s" test $((t1 - t0)) -le 1000
answers=$(curl_vip v4 4)
check "every request goes to rs2" test "$(echo $answers)" = "rs2 rs2 rs2 rs2"

step "start httpd on rs1: configured weight back"
t0=$(now_ms)
ip netns exec rs1 httpd -p "$LAB_PORT" -h /srv/rs1
w1() { [ "$(weight_of "$(node_ip4 rs1)")" = 1 ]; }
wait_for 5 w1 || fail "rs1 not back"
info "RECOVERY: rs1 back at weight 1 after $(( $(now_ms) - t0 )) ms"

step "SIGKILL the controller and restart it: IPVS unchanged"
in_ns director ipvsadm -S -n >"$LAB_WORK/before"
kill -9 "$ctl_pid"
wait "$ctl_pid" 2>/dev/null || true
ip link add nlmon0 type nlmon 2>/dev/null && ip link set nlmon0 up || true
nl_before=$(ip -s link show nlmon0 2>/dev/null | awk 'f {print $2; exit} /RX:/ {f=1}')
start_ctl
sleep 3
in_ns director ipvsadm -S -n >"$LAB_WORK/after"
diff "$LAB_WORK/before" "$LAB_WORK/after" | sed 's/^/    /' || true
check "ipvsadm -S -n identical after restart" cmp -s "$LAB_WORK/before" "$LAB_WORK/after"
check "restart wrote no IPVS change" ! grep -c "ipvs change=" <(sed -n '/pid='"$ctl_pid"'/,$p' "$LAB_WORK/ctl.log" | tail -n +1 | grep -v . ) >/dev/null
changes=$(awk -v n=0 'BEGIN{c=0} /msg=ipvs/ {c++} END{print c}' "$LAB_WORK/ctl.log")
info "IPVS changes logged over both runs: $changes"
sed 's/^/    ctl: /' "$LAB_WORK/ctl.log" | tail -n 20

step "data path: rs2 loses the VIP; its own address still answers; the data-path check catches it"
kill "$rs2_agent" 2>/dev/null || true
sleep 0.5
ip -n rs2 addr del "$LAB_VIP4/32" dev lo 2>/dev/null || true
check "control: rs2 answers on its own address" test "$(client_get "$(node_ip4 rs2)")" = rs2
w2() { [ "$(weight_of "$(node_ip4 rs2)")" = 0 ]; }
t0=$(now_ms)
wait_for 5 w2 || { in_ns director ipvsadm -Ln; fail "rs2 without the VIP kept weight $(weight_of "$(node_ip4 rs2)")"; }
info "DATA PATH: rs2 at weight 0 $(( $(now_ms) - t0 )) ms after losing the VIP"
answers=$(curl_vip v4 4)
check "no request reaches rs2" test "$(echo $answers)" = "rs1 rs1 rs1 rs1"
kill "$ctl_pid"
wait "$ctl_pid" || true
