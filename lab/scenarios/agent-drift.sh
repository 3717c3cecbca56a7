#!/usr/bin/env bash
# Drift repair: `lvsnode agent run` in rs1 (--config) and rs2 (flags) keeps
# the VIPs and ARP sysctls true. Someone deletes the VIP and resets
# arp_ignore; both come back within a couple of seconds (netlink events for
# the address, --resync-interval 1s for the sysctl), the cluster keeps
# serving, /readyz and /metrics agree. SIGHUP reloads the config, SIGTERM
# ends it with status 0.
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"

step "topology: client, director, rs1, rs2 on br0; DR service on the director"
topo_up 2
director_dr v4 rr

step "rs2: lvsnode agent run with flags; rs1: lvsnode agent run --config"
ip netns exec rs2 lvsnode agent run --vip "$LAB_VIP4" --vip "$LAB_VIP6" \
	--state-file "$LAB_STATE_DIR/rs2.json" --resync-interval 1s >"$LAB_WORK/agent-rs2.log" 2>&1 &
rs2_pid=$!
cat >"$LAB_WORK/agent.yaml" <<YAML
mode: dr
vips:
  - $LAB_VIP4
  - $LAB_VIP6
state-file: $LAB_STATE_DIR/rs1.json
resync-interval: 1s
listen: 127.0.0.1:9109
YAML
sed 's/^/    agent.yaml: /' "$LAB_WORK/agent.yaml"
ip netns exec rs1 lvsnode agent run --config "$LAB_WORK/agent.yaml" >"$LAB_WORK/agent.log" 2>&1 &
agent_pid=$!
trap 'echo "--- rs1 agent log:"; sed "s/^/    /" "$LAB_WORK/agent.log"
echo "--- rs2 agent log:"; sed "s/^/    /" "$LAB_WORK/agent-rs2.log"' EXIT
ready() { in_ns rs1 curl -fsS --max-time 1 http://127.0.0.1:9109/readyz; }
check "agent run binds the VIP on rs1 within 5s" wait_for 5 rs_has_vip rs1 "$LAB_VIP4"
check "agent /readyz answers 200" wait_for 5 ready
check "agent run is still running" kill -0 "$agent_pid"
check "rs2 (flags): VIP bound within 5s" wait_for 5 rs_has_vip rs2 "$LAB_VIP4"
check "rs2 (flags): arp_ignore=1" test "$(ns_sysctl rs2 net.ipv4.conf.all.arp_ignore)" = 1

step "traffic flows"
answers=$(curl_vip v4 4)
info "answers: $(echo $answers)"
# shellcheck disable=SC2086
check "answers alternate between rs1 and rs2" check_alternates $answers

arp_ignore_is_1() { test "$(ns_sysctl rs1 net.ipv4.conf.all.arp_ignore)" = 1; }
# repaired DESC CMD...: wait up to 3s for CMD, report how long it took.
repaired() {
	local desc=$1 t0 t1
	shift
	t0=$(now_ms)
	if wait_for 3 "$@"; then
		t1=$(now_ms)
		ok "$desc after $((t1 - t0)) ms"
	else
		fail "$desc: not within 3s"
	fi
}

step "drift: ip addr del $LAB_VIP4/32 dev lo (in rs1)"
ip -n rs1 addr del "$LAB_VIP4/32" dev lo
repaired "IPv4 VIP repaired" rs_has_vip rs1 "$LAB_VIP4"

step "drift: ip addr del $LAB_VIP6/128 dev lo (in rs1)"
ip -n rs1 addr del "$LAB_VIP6/128" dev lo
repaired "IPv6 VIP repaired" rs_has_vip rs1 "$LAB_VIP6"

step "drift: echo 0 > /proc/sys/net/ipv4/conf/all/arp_ignore (in rs1)"
in_ns rs1 sh -c 'echo 0 >/proc/sys/net/ipv4/conf/all/arp_ignore'
repaired "arp_ignore repaired" arp_ignore_is_1

step "rs2 (flags form): ip addr del $LAB_VIP4/32 dev lo"
ip -n rs2 addr del "$LAB_VIP4/32" dev lo
repaired "rs2 IPv4 VIP repaired" rs_has_vip rs2 "$LAB_VIP4"

step "both drifts at once"
ip -n rs1 addr del "$LAB_VIP4/32" dev lo
in_ns rs1 sh -c 'echo 0 >/proc/sys/net/ipv4/conf/all/arp_ignore'
both() { rs_has_vip rs1 "$LAB_VIP4" && arp_ignore_is_1; }
repaired "VIP and arp_ignore repaired" both

step "after the repairs"
ip -n rs1 addr show dev lo | sed 's/^/    /'
info "rs1 arp_ignore=$(ns_sysctl rs1 net.ipv4.conf.all.arp_ignore) arp_announce=$(ns_sysctl rs1 net.ipv4.conf.all.arp_announce)"
check "agent status on rs1 reports no drift" agent_status rs1
in_ns rs1 curl -fsS --max-time 2 http://127.0.0.1:9109/metrics >"$LAB_WORK/metrics" || fail "GET /metrics failed"
metric() { awk -v m="$1" '$1 == m {print $2}' "$LAB_WORK/metrics"; }
info "/metrics: ready=$(metric lvsnode_agent_ready) repairs_total=$(metric lvsnode_agent_repairs_total) failures=$(metric lvsnode_agent_apply_failures_total)"
check "/metrics: lvsnode_agent_ready 1" test "$(metric lvsnode_agent_ready)" = 1
check "/metrics: lvsnode_agent_repairs_total counts the 4 repairs" test "$(metric lvsnode_agent_repairs_total)" -ge 4
answers=$(curl_vip v4 4)
info "answers: $(echo $answers)"
# shellcheck disable=SC2086
check "traffic still alternates between rs1 and rs2" check_alternates $answers

step "SIGHUP reloads the config: a third VIP 10.0.0.101 appears"
sed -i 's/^  - fd00::100$/  - fd00::100\n  - 10.0.0.101/' "$LAB_WORK/agent.yaml"
kill -HUP "$agent_pid"
repaired "reload applied (10.0.0.101 bound)" rs_has_vip rs1 10.0.0.101
check "agent run is still running after SIGHUP" kill -0 "$agent_pid"

step "SIGTERM stops the daemon cleanly"
kill -TERM "$agent_pid"
rc=0
wait "$agent_pid" || rc=$?
check "agent run exited 0 on SIGTERM (got $rc)" test "$rc" = 0
kill -TERM "$rs2_pid"
rc=0
wait "$rs2_pid" || rc=$?
check "rs2 agent run exited 0 on SIGTERM (got $rc)" test "$rc" = 0
check "the VIPs stay after a stop (no --teardown-on-stop)" rs_has_vip rs1 "$LAB_VIP4"
