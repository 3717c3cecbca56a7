#!/usr/bin/env bash
# Review probe (issue 12, a): etcd frozen (SIGSTOP) longer than the lease
# ttl, then resumed: every registration expires at once. Do the directors
# drop all real servers at once (new connections refused) until the agents
# register again? A client makes a request through the VIP every ~0.1 s.
# lab-timeout: 300
set -uo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"
. "${LAB_GUEST:-/lab/guest}/pair.sh"
. "${LAB_GUEST:-/lab/guest}/fleet.sh"
trap fleet_on_exit EXIT
fleet_probe_up
etcd_start
for d in $FLEET_DIRECTORS; do fleet_ctl_start "$d"; done
fleet_agent_start rs1
fleet_agent_start rs2
wait_for 60 rs_in_both "$RIP1" 1 || fail "rs1 not in"
wait_for 60 rs_in_both "$RIP2" 1 || fail "rs2 not in"
ok "both registered"
fleet_via director
ip netns exec client bash -c '
	while :; do
		r=FAIL
		if exec 3<>/dev/tcp/'"$LAB_VIP4"'/80; then
			printf "GET / HTTP/1.0\r\n\r\n" >&3
			read -r -t 1 l <&3 && r=$l
			while read -r -t 1 l <&3; do r=$l; done
			exec 3<&-
		fi
		echo "${EPOCHREALTIME} $r"
		read -r -t 0.05 _ <>/dev/null 2>/dev/null || true
	done' >"$FLEET_W/reqs" 2>/dev/null &
L=$!
ip netns exec director bash -c '
	while :; do
		mapfile -t X </proc/net/ip_vs
		s=""
		for x in "${X[@]}"; do [[ $x == *"-> "[0-9A-F]* ]] && { set -- $x; s="$s $2/$4"; }; done
		echo "${EPOCHREALTIME} $s"
		read -r -t 0.05 _ <>/dev/null 2>/dev/null || true
	done' >"$FLEET_W/tab" &
T=$!
sleep 3
for i in 1 2 3; do
	kill -STOP "$ETCD_PID"; echo "    [$i] etcd stopped $(date +%T)"
	sleep 10
	kill -CONT "$ETCD_PID"; t1=$(date +%s); echo "    [$i] etcd resumed $(date +%T)"
	sleep 8
	echo "    [$i] director's table from 1 s before the resume to 5 s after (distinct states):"
	awk -v a="$t1" '$1 >= a - 1 && $1 <= a + 5 { s = ""; for (i = 2; i <= NF; i++) s = s " " $i; if (s != last) { print "      " $0; last = s } }' "$FLEET_W/tab"
	echo "    [$i] requests failed from 1 s before the resume to 5 s after: $(awk -v a="$t1" '$1 >= a - 1 && $1 <= a + 5 && $2 == "FAIL"' "$FLEET_W/reqs" | wc -l) of $(awk -v a="$t1" '$1 >= a - 1 && $1 <= a + 5' "$FLEET_W/reqs" | wc -l)"
	awk -v a="$t1" '$1 >= a - 1 && $1 <= a + 5 && $2 != "rs1" && $2 != "rs2"' "$FLEET_W/reqs" | head -5 | sed 's/^/      /'
done
kill "$L" "$T"
grep -h "registration\|etcd" "$FLEET_W/ctl-director.log" | tail -20 | cut -c1-160
ok probe-done
