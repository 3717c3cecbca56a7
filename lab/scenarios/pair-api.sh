#!/usr/bin/env bash
# The runtime API against the real kernel: `lvsnode controller add-node`
# while `lvsnode controller run` answers on its socket goes through the
# daemon (nothing programs IPVS behind its back), appears in IPVS, and
# survives a restart of the daemon: control, the real server is removed
# from IPVS by hand while the daemon is down and the config file does not
# name it, so only the daemon's persisted state can bring it back. The TCP
# listener refuses a call without the token or with a wrong one (curl as
# the oracle; control: the same call with the token answers). drain-node
# --keep through the daemon parks the real server at weight 0 in IPVS;
# remove-node takes it out; /metrics shows the kernel's weights.
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"

topo_up 2
trap 'rc=$?; [ $rc -eq 0 ] || { echo "--- controller log"; cut -c1-200 "$LAB_WORK/ctl.log" 2>/dev/null | tail -40; }' EXIT
for rs in rs1 rs2; do
	agent_apply "$rs" --vip "$LAB_VIP4" >/dev/null
done
RS1=$(node_ip4 rs1)
RS2=$(node_ip4 rs2)
SVC="$LAB_VIP4:$LAB_PORT"
SOCK=/run/lvsnode/director.sock
TOKEN="$LAB_WORK/api.token"
head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$TOKEN"
chmod 600 "$TOKEN"

cat >"$LAB_WORK/director.yaml" <<YAML
state_file: $LAB_WORK/director.json
metrics: 127.0.0.1:9110
resync: 2s
datapath: {marks: 0x100-0x1ff}
api:
  socket: $SOCK
  listen: 127.0.0.1:9111
  token_file: $TOKEN
services:
  - service: tcp $SVC
    scheduler: rr
    check: {type: tcp, interval: 300ms, timeout: 300ms, rise: 1, fall: 2}
    nodes:
      - address: $RS1
        method: dr
YAML

L() { in_ns director lvsnode controller "$@"; }
start_ctl() {
	# Not through the in_ns function: $! would be a subshell's pid, and
	# killing it would leave the daemon running.
	ip netns exec director lvsnode controller run --config "$LAB_WORK/director.yaml" >>"$LAB_WORK/ctl.log" 2>&1 &
	ctl_pid=$!
	wait_for 15 L status || fail "the daemon's API does not answer on $SOCK within 15 s"
}
weight_of() { # weight_of RIP -> its weight in the service ("" if absent)
	in_ns director ipvsadm -Ln -t "$SVC" | awk -v r="$1:$LAB_PORT" '$2 == r {print $4}'
}
weight_is() { [ "$(weight_of "$1")" = "$2" ]; }
absent() { [ -z "$(weight_of "$1")" ]; }

step "lvsnode controller run, with the API on $SOCK and 127.0.0.1:9111"
start_ctl
wait_for 10 weight_is "$RS1" 1 || fail "rs1 not up in IPVS"
check "socket is root-only (0600)" test "$(stat -c %a "$SOCK")" = 600
check "rs2 is not in IPVS yet (control)" test -z "$(weight_of "$RS2")"

step "add-node through the daemon"
out=$(L add-node -t "$SVC" -r "$RS2" -g -w 2)
info "$out"
check "the CLI went through the daemon" grep "through the director at $SOCK" <<<"$out"
wait_for 10 weight_is "$RS2" 2 || { in_ns director ipvsadm -Ln; fail "rs2 not in IPVS at weight 2"; }
ok "rs2 in IPVS at weight 2"
check "controller status lists rs2" grep "$RS2:$LAB_PORT" <<<"$(L status)"
L status | sed 's/^/    /'
check "status --json parses and has rs2" grep "\"address\": \"$RS2\"" <<<"$(L status --json)"
check "/metrics has rs2's IPVS weight" grep "^lvsnode_ipvs_realserver_weight{realserver=\"$RS2:$LAB_PORT\",service=\"tcp $SVC\"} 2" \
	<<<"$(in_ns director curl -sf http://127.0.0.1:9110/metrics)"
check "add-node again is idempotent (exit 0)" L add-node -t "$SVC" -r "$RS2"
set +e
msg=$(L add-node -t "$SVC" -r "$RS2" -w 70000 2>&1)
rc=$?
set -e
check "bad input through the daemon: exit 2, one line (\"$msg\")" test "$rc" -eq 2 -a "$(wc -l <<<"$msg")" -eq 1

step "SIGKILL and restart: rs2 comes back from the daemon's state, not the config"
kill -KILL "$ctl_pid"
wait "$ctl_pid" 2>/dev/null || true
check "the daemon is gone" test ! -d "/proc/$ctl_pid"
check "a stale socket is left behind" test -S "$SOCK"
check "the CLI does not mistake it for a daemon (goes to the kernel)" L add-node -t "$SVC" -r "$RS1"
in_ns director ipvsadm -d -t "$SVC" -r "$RS2:$LAB_PORT"
check "rs2 removed by hand while the daemon is down (control)" absent "$RS2"
check "the config file does not name rs2" test -z "$(grep -F "$RS2" "$LAB_WORK/director.yaml" || true)"
start_ctl
wait_for 10 weight_is "$RS2" 2 || { in_ns director ipvsadm -Ln; fail "rs2 not restored after the restart"; }
ok "rs2 back in IPVS at weight 2 after the restart"

step "TCP listener: the token is required (curl as the oracle)"
url=http://127.0.0.1:9111/v1/status
code() { in_ns director curl -s -o /dev/null -w '%{http_code}' "$@"; }
check "no token: 401" test "$(code "$url")" = 401
check "wrong token: 401" test "$(code -H "Authorization: Bearer wrong-token-0123456789" "$url")" = 401
check "no token, add-node: 401" test "$(code -X POST -d "{\"service\":\"tcp $SVC\",\"address\":\"10.0.0.13\"}" http://127.0.0.1:9111/v1/nodes)" = 401
check "10.0.0.13 was not added" absent 10.0.0.13
check "the token: 200 (control)" test "$(code -H "Authorization: Bearer $(cat "$TOKEN")" "$url")" = 200
check "the CLI over TCP with --api-token-file" grep "$RS2" <<<"$(L status --api http://127.0.0.1:9111 --api-token-file "$TOKEN")"

step "drain-node --keep through the daemon: parked at weight 0"
L drain-node -t "$SVC" -r "$RS2" --keep --timeout 20s --interval 300ms | sed 's/^/    /'
check "rs2 at weight 0 in IPVS" weight_is "$RS2" 0
check "status says parked" grep -E "$RS2:$LAB_PORT .*parked" <<<"$(L status)"

step "remove-node through the daemon"
L remove-node -t "$SVC" -r "$RS2" | sed 's/^/    /'
wait_for 5 absent "$RS2" || fail "rs2 still in IPVS"
ok "rs2 gone from IPVS"
check "rs1 untouched" weight_is "$RS1" 1
kill -TERM "$ctl_pid"
wait "$ctl_pid" || true
# The API removes its socket when the daemon's context ends, but Serve
# (director/serve.go) returns without waiting for its registered services,
# so the process may exit first; a socket left behind is stale and handled.
if [ -e "$SOCK" ]; then info "SIGTERM: the socket was left behind (stale)"; else ok "SIGTERM: the socket was removed"; fi
