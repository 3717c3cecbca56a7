#!/usr/bin/env bash
# HA, sync coverage (d): 500 short connections opened on the master in
# about a second are present in the backup's connection table. Both
# directors run `lvsnode controller run` with the sync: block (both roles
# on each); dir1 holds the VIP (added by hand: no failover here). The
# client opens each connection with bash's /dev/tcp (no process per
# connection), writes a line and closes it; the real servers' listener is
# their agent's HTTP server (Go: nothing forks under emulation). The master syncs an
# established connection at its 3rd packet and again when it closes.
# FIGUREs: how many of the 500 reached the backup, and how long after the
# last one was opened; the opening rate achieved.
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"
. "${LAB_GUEST:-/lab/guest}/pair.sh" # now_us
. "${LAB_GUEST:-/lab/guest}/ha.sh"
trap ha_on_exit EXIT

N=500 PORT=9000
ha_up
# The listener: each real server's own `lvsnode agent run` HTTP server on
# all addresses (the VIP included), port 9000: Go, a goroutine per
# connection, the kernel's full accept queue; no process per connection.
for rs in rs1 rs2; do
	ip netns exec "$rs" lvsnode agent run --vip "$LAB_VIP4" --vip "$LAB_VIP6" --state-file "$LAB_STATE_DIR/$rs.json" \
		--listen ":$PORT" >"$HA_W/agent-$rs.log" 2>&1 &
done
wait_for 20 bash -c "ip netns exec rs2 ss -Htln | grep -q ':$PORT '" || fail "agent listener on rs2"
wait_for 20 bash -c "ip netns exec rs1 ss -Htln | grep -q ':$PORT '" || fail "agent listener on rs1"
ha_lv_start 1 sync
ha_lv_start 2 sync
ip netns exec director lvsnode controller add-node -t "$LAB_VIP4:$PORT" -r "$(node_ip4 rs1)" -g -s rr >/dev/null
ip netns exec director lvsnode controller add-node -t "$LAB_VIP4:$PORT" -r "$(node_ip4 rs2)" -g >/dev/null
ip netns exec director2 lvsnode controller add-node -t "$LAB_VIP4:$PORT" -r "$(node_ip4 rs1)" -g -s rr >/dev/null
ip netns exec director2 lvsnode controller add-node -t "$LAB_VIP4:$PORT" -r "$(node_ip4 rs2)" -g >/dev/null
ip -n director addr add "$LAB_VIP4/32" dev eth0
for n in 1 2; do
	check "dir$n: both sync roles run" test "$(ip netns exec "$(ha_ns "$n")" ipvsadm -L --daemon | wc -l)" = 2
done

# count N: director N's entries for the VIP's PORT from the client.
count() {
	ip netns exec "$(ha_ns "$1")" cat /proc/net/ip_vs_conn |
		awk -v p="$(printf '%04X' "$PORT")" '$4 == "0A000064" && $5 == p && $2 == "0A00000A" { n++ } END { print n + 0 }'
}

step "open $N connections from the client through dir1"
t0=$(now_us)
# One opener: in a parallel variant (10 bash loops) the emulated guest
# refused a third of them under a loaded host.
# SIGPIPE ignored and each success counted: under a loaded host a
# connection reset before its line is written killed the loop (CI: 482 of
# 500, exit 141).
ip netns exec client bash -c '
	trap "" PIPE
	n=0
	for ((i = 0; i < $1; i++)); do
		if exec 3<>"/dev/tcp/$2/$3"; then
			n=$((n + 1))
			echo x >&3 || true
			# read the answer to its end, then close: a close
			# with unread data sends RST, and IPVS keeps a reset entry
			# only 10 s (the master lost the first ones before the count)
			while read -r -t 3 -u 3 _; do :; done
			exec 3>&-
		fi
	done 2>/dev/null
	echo "$n" >"$4"' _ "$N" "$LAB_VIP4" "$PORT" "$HA_W/opened"
t1=$(now_us)
opened=$(cat "$HA_W/opened")
open_ms=$(((t1 - t0) / 1000))
echo "FIGURE ha sync opening: $opened of $N connections opened in $open_ms ms ($((opened * 1000 / (open_ms > 0 ? open_ms : 1))) per second)"
check "the client opened at least 90 % of them ($opened of $N)" test "$opened" -ge $((N * 9 / 10))
on1=$(count 1)
# The emulated client resets a few under a slow host (a reset entry lives
# 10 s in IPVS: CI saw 490 of 500 after a 16 s opening); the coverage
# below is of what the master holds.
info "dir1 (master) holds $on1 of the $opened opened"
check "dir1 (master) holds at least 95 % of them ($on1 of $opened)" test "$on1" -ge $((opened * 95 / 100))
N=$on1

step "the backup's table"
last=0 at=$t1 end=$(($(now_us) + 10000000))
while :; do
	c=$(count 2)
	if [ "$c" != "$last" ]; then last=$c at=$(now_us); fi
	[ "$c" -ge "$N" ] && break
	[ "$(now_us)" -lt "$end" ] || break
	sleep 0.05
done
echo "FIGURE ha sync coverage: $last of $N connections on the backup, the last $(((at - t1) / 1000)) ms after the last one was opened"
check "every connection reached the backup" test "$last" = "$N"
origin=$(ip netns exec director2 awk -v p="$(printf '%04X' "$PORT")" '$5 == p && $9 == "SYNC"' /proc/net/ip_vs_conn_sync | wc -l)
check "the backup's entries came from sync (Origin SYNC: $origin)" test "$origin" = "$N"
