#!/usr/bin/env bash
# HA, failover time alone: the two directors with keepalived and the
# shipped example and nothing else running (no lvsnode, no traffic), so
# the figure is keepalived's and the guest's. The master's link goes down
# 3 times (each time it comes back and stays backup: nopreempt, so the
# roles alternate); timed from the link going down to the other holding
# the VIP (a builtin-only poller of /proc/net/fib_trie in its namespace).
# FIGURE: min-max and median of the 3; a figure, not pass/fail.
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"
. "${LAB_GUEST:-/lab/guest}/pair.sh" # now_us, stats
. "${LAB_GUEST:-/lab/guest}/ha.sh"
trap ha_on_exit EXIT

ha_up
ha_ka_start 1
ha_ka_start 2
wait_for 30 test_master || fail "no director took the VIP"
times=()
for i in 1 2 3; do
	m=$(ha_master)
	b=$((3 - m))
	wait_for 30 ha_ka_backup "$b" || fail "dir$b not backup"
	sleep 2
	ha_vip_watch "$b" "$HA_W/vip.$i"
	t0=$(now_us)
	ip -n "$(ha_ns "$m")" link set eth0 down
	ms=$(watch_ms "$t0" "$HA_W/vip.$i") || fail "dir$b did not take the VIP"
	info "run $i: dir$m's link down, dir$b holds the VIP ${ms} ms later"
	times+=("$ms")
	echo "=== keepalived start" >>"$HA_W/ka-$m.log" # ha_ka_backup: wait for its new BACKUP
	ip -n "$(ha_ns "$m")" link set eth0 up
done
echo "FIGURE ha failover (keepalived example alone, VRRPv3 advert_int 0.2): $(stats "${times[@]}")"
