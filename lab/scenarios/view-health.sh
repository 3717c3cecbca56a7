#!/usr/bin/env bash
# The status page's data on the real kernel (issue 13): `lvsnode controller
# run` serves the page at / on its metrics listener and its data at
# /v1/status (what the page polls every second). With two DR real servers
# (agents holding the VIP) and an HTTP check every 500 ms (fall 2), rs1's
# row says up with the kernel's counters for the traffic it served
# (control), then, once rs1's httpd stops, down with the failed check's
# reason; the time from the stop to the row saying down is a FIGURE (the
# check's fall time is 2 x 500 ms plus the probe timeouts; the page adds up
# to 1 s of polling on top), not a pass/fail. `controller top --once` shows
# the same through the daemon, and from the kernel's table without it.
# Off loopback, the data needs the API's bearer token.
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"
. "${LAB_GUEST:-/lab/guest}/pair.sh"

PAGE=http://127.0.0.1:9110
# page_get PATH [CURL-ARGS...]: GET the metrics listener from the director.
page_get() { ip netns exec director curl -s --max-time 10 "${@:2}" "$PAGE$1"; }
# row ADDR: real server ADDR's object in the page's data, on one line.
row() { page_get /v1/status | tr -d '\n' | grep -o "\"address\":\"$1\"[^{]*\"last_check\":{[^}]*}[^{]*\"stats\":{[^}]*}"; }
# row_field ADDR KEY: one field of the row ("health", "weight", ...).
row_field() { row "$1" | grep -o "\"$2\":[^,}]*" | head -1 | cut -d: -f2- | tr -d '"'; }
row_down() { [ "$(row_field "$1" health)" = down ]; }

topo_up 2
rs_agent_start rs1
rs_agent_start rs2

# The check: every 500 ms, fall 2. Issue 9's 200 ms timeouts flapped here
# while other lab VMs shared the host's two cores; the fall time is a
# figure below, the checks are that the row turns at all.
step "controller run: tcp $LAB_VIP4:$LAB_PORT wlc, http check every 500ms, fall 2, rise 2"
# conf METRICS [HEAD-LINES]: the daemon's config with its metrics listener.
conf() {
	cat <<YAML
state_file: $LAB_STATE_DIR/director.json
metrics: $1
${2:-}
services:
  - service: tcp $LAB_VIP4:$LAB_PORT
    scheduler: wlc
    check: {type: http, path: /, interval: 500ms, timeout: 500ms, rise: 2, fall: 2}
    nodes:
      - {address: 10.0.0.11, method: dr}
      - {address: 10.0.0.12, method: dr}
YAML
}
conf 127.0.0.1:9110 >"$LAB_WORK/director.yaml"
lv_start "$LAB_WORK/director.yaml"
SVC="-t $LAB_VIP4:$LAB_PORT"
check "both real servers up (weight 1) within 10 s" wait_for 10 bash -c \
	". $LAB_GUEST/topo.sh; . $LAB_GUEST/pair.sh; ipvs_has '$SVC' 10.0.0.11:80 1 && ipvs_has '$SVC' 10.0.0.12:80 1"

step "the page: embedded files on the metrics listener, read-only, loopback Host only"
check "GET / is the page (text/html, loads app.js)" bash -c "[ \"\$(ip netns exec director curl -s -o /dev/null -w '%{content_type}' $PAGE/)\" = 'text/html; charset=utf-8' ] && ip netns exec director curl -s $PAGE/ | grep -q 'src=\"app.js\"'"
check "GET /app.js 200" test "$(page_get /app.js -o /dev/null -w '%{http_code}')" = 200
code=$(page_get /v1/status -o /dev/null -w '%{http_code}' -X POST)
check "POST /v1/status refused (got $code, want 405): the page writes nothing" test "$code" = 405
code=$(page_get /v1/status -o /dev/null -w '%{http_code}' -H 'Host: attacker.example:9110')
check "a Host that is not loopback is refused (got $code, want 403: DNS rebinding)" test "$code" = 403
check "/metrics still served beside it" bash -c "ip netns exec director curl -s $PAGE/metrics | grep -q '^lvsnode_director_ready 1'"

step "control: rs1's row is up, with the kernel's counters for the traffic it served"
answers=$(curl_vip v4 6 | tr '\n' ' ')
info "answers: $answers"
check "traffic reaches both real servers" check_alternates $answers
wait_for 5 bash -c "[ \"\$(ip netns exec director curl -s $PAGE/v1/status | tr -d ' \n' | grep -o '\"address\":\"10.0.0.11\"[^{]*\"last_check\":{[^}]*}[^{]*\"stats\":{\"conns\":[1-9]')\" ]" || true
info "rs1's row: $(row 10.0.0.11 | cut -c1-400)"
check "rs1 up in the page's data" test "$(row_field 10.0.0.11 health)" = up
check "rs1's weight 1 in the page's data" test "$(row_field 10.0.0.11 weight)" = 1
check "rs1's last check ok, with a latency" bash -c "[ \"\$(ip netns exec director curl -s $PAGE/v1/status | tr -d ' \n' | grep -o '\"address\":\"10.0.0.11\"[^{]*\"last_check\":{\"ok\":true,\"reason\":\"[^\"]*\",\"latency_ms\":[0-9.]*')\" ]"
conns=$(row 10.0.0.11 | grep -o '"stats":{"conns":[0-9]*' | grep -o '[0-9]*$')
info "rs1's IPVS connection counter in the page's data: $conns"
check "rs1's connection counter counts the requests it served (the kernel's, not 0)" test "${conns:-0}" -ge 1

step "stop rs1's httpd: its row turns down"
t0=$(now_us)
httpd_stop rs1
ms=$(ms_until 10 row_down 10.0.0.11) || fail "rs1's row not down after 10 s: $(row 10.0.0.11)"
echo "FIGURE view row down: ${ms} ms from the httpd stop to /v1/status saying down (check interval 500ms, timeout 500ms, fall 2: ~1 s; the page polls every 1 s on top)"
info "rs1's row: $(row 10.0.0.11 | cut -c1-400)"
check "rs1's weight 0 in the page's data" test "$(row_field 10.0.0.11 weight)" = 0
check "rs1's last check failed, with its reason" bash -c "ip netns exec director curl -s $PAGE/v1/status | tr -d ' \n' | grep -q '\"address\":\"10.0.0.11\"[^{]*\"last_check\":{\"ok\":false,\"reason\":\"[^\"]\+\"'"
check "control: rs2 still up" test "$(row_field 10.0.0.12 health)" = up

step "controller top --once: the same in a terminal frame, from the daemon and from the kernel"
frame=$(lv_ctl top --once --sort address)
echo "$frame" | sed 's/^/    /'
check "top (daemon): rs1 down at weight 0" bash -c "grep -qE '^ +10\.0\.0\.11:80 +dr +0 +1 +down ' <<<'$frame'"
check "top (daemon): rs2 up at weight 1" bash -c "grep -qE '^ +10\.0\.0\.12:80 +dr +1 +1 +up ' <<<'$frame'"
kframe=$(lv_ctl top --once --sort address --api none)
echo "$kframe" | sed 's/^/    /'
check "top (kernel, no daemon asked): rs1 at weight 0, health unknown" bash -c "grep -qE '^ +10\.0\.0\.11:80 +dr +0 +0 +unknown ' <<<'$kframe'"

step "rs1's httpd back: its row up again"
httpd_start rs1
ms=$(ms_until 10 bash -c "[ \"\$(ip netns exec director curl -s $PAGE/v1/status | tr -d ' \n' | grep -o '\"address\":\"10.0.0.11\"[^{]*\"health\":\"up\"')\" ]") ||
	fail "rs1's row not up again after 10 s"
info "rs1's row up again after $ms ms (rise 2)"
lv_stop

step "off loopback: the data needs the API's bearer token"
head -c 24 /dev/urandom | base64 >"$LAB_WORK/token"
chmod 600 "$LAB_WORK/token"
conf 0.0.0.0:9110 "api: {token_file: $LAB_WORK/token}" >"$LAB_WORK/director.yaml"
lv_start "$LAB_WORK/director.yaml"
PAGE=http://10.0.0.2:9110
check "the page's files load without it (no data in them)" test "$(page_get / -o /dev/null -w '%{http_code}')" = 200
check "/v1/status without the token: 401" test "$(page_get /v1/status -o /dev/null -w '%{http_code}')" = 401
check "/v1/status with a wrong token: 401" test "$(page_get /v1/status -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer wrong-token-0123456789')" = 401
check "/v1/status with the token: 200" test "$(page_get /v1/status -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(cat "$LAB_WORK/token")")" = 200
frame=$(lv_ctl top --once --api "$PAGE" --api-token-file "$LAB_WORK/token")
check "controller top reads the page's data with the token (--api http://10.0.0.2:9110)" bash -c "grep -q '10.0.0.11:80' <<<'$frame'"
lv_stop
check "controller run exited 0 on SIGTERM (got $LV_RC)" test "$LV_RC" = 0
