#!/usr/bin/env bash
# Traffic through LVS-DR services built only with `lvsnode controller
# add-node` (IPv4 and IPv6), the real servers set up by `lvsnode agent
# apply`: requests alternate between rs1 and rs2, IPVS counts them (seen by
# both ipvsadm and `list --json`), and after `drain-node rs1` every request
# goes to rs2.
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"

L() { in_ns director lvsnode controller "$@"; }

step "topology and real servers (lvsnode agent apply, both VIPs)"
topo_up 2
for rs in rs1 rs2; do
	agent_apply "$rs" | sed "s/^/    $rs: /"
done

step "director: only lvsnode controller add-node"
for rs in rs1 rs2; do
	L add-node -t "$LAB_VIP4:$LAB_PORT" -r "$(node_ip4 "$rs")" -g -s rr | sed 's/^/    /'
	L add-node -t "[$LAB_VIP6]:$LAB_PORT" -r "[$(node_ip6 "$rs")]" -g -s rr | sed 's/^/    /'
done
# A short FIN_WAIT timeout, so closed connections leave the counters (and
# the drain below) within seconds instead of 2 minutes.
L timeouts 900 2 0 | sed 's/^/    /'
L list | sed 's/^/    /'
check "ipvsadm sees the same table" test "$(in_ns director ipvsadm -Ln)" = "$(L list)"

for fam in v4 v6; do
	step "client: 6 requests to the $fam VIP"
	answers=$(curl_vip "$fam" 6)
	info "answers: $(echo $answers)"
	# shellcheck disable=SC2086
	check "$fam answers alternate between rs1 and rs2" check_alternates $answers
done

step "IPVS counted every connection"
# Cumulative counters (the kernel folds them in every 2 s), not the
# connection table: with tcpfin 2s closed connections leave it quickly.
svc_conns() { in_ns director ipvsadm -Ln --stats | awk '$1 == "TCP" {s += $3} END {print s + 0}'; }
json_conns() { L list --json | awk -F': ' '/"conns"/ {gsub(/,/, "", $2); s += $2} END {print s + 0}'; }
counted() { test "$(svc_conns)" -eq 12; }
wait_for 6 counted || fail "ipvsadm --stats counted $(svc_conns) connections, want 12"
ok "ipvsadm --stats: 12 connections"
check "list --json: 12 for the services + 12 for their real servers" test "$(json_conns)" -eq 24

step "drain rs1 (v4): weight 0 at once, removed when its connections are gone"
L drain-node -t "$LAB_VIP4:$LAB_PORT" -r "$(node_ip4 rs1)" --timeout 90s --interval 500ms | sed 's/^/    /'
if in_ns director ipvsadm -Ln -t "$LAB_VIP4:$LAB_PORT" | grep "$(node_ip4 rs1):" >/dev/null; then
	fail "rs1 still in the v4 service"
fi
ok "rs1 removed from the v4 service"
answers=$(curl_vip v4 4)
info "answers: $(echo $answers)"
check "every v4 request now goes to rs2" test "$(echo $answers)" = "rs2 rs2 rs2 rs2"
answers=$(curl_vip v6 2)
check "the v6 service still uses both" test "$(echo $answers | tr ' ' '\n' | sort -u | tr '\n' ' ')" = "rs1 rs2 "
