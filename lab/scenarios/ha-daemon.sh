#!/usr/bin/env bash
# HA, the kernel's rules for sync daemons and the two new listings, with
# ipvsadm as the oracle:
# - each rule ipvs.Fake models (ipvs/fake_daemon.go) shown on Linux 6.1:
#   ENODEV for a missing interface, checked before EEXIST; EEXIST for a
#   running role whatever the settings; ESRCH on stopping a role that does
#   not run; defaults and the message size (MTU - 28, IPv6 group - 48,
#   backup clamped to 1024.., a backup's MTU up to 65535) filled in; a
#   daemon whose interface is deleted goes on running; a real server of the
#   other family than its service and a sync daemon exclude each other
#   (EINVAL both ways);
# - lvsnode's start-daemon: the same settings again is a no-op (exit 0),
#   others say what differs (exit 1) and change nothing, a missing
#   interface or a bad group is one line and changes nothing;
# - `list --daemon` equals `ipvsadm -L --daemon` in every state, and
#   `list --connections` equals `ipvsadm -Lnc` (the expire column within
#   1 s: the two read the table a moment apart);
# - controller run restarts a daemon whose link was deleted and re-created
#   (a new index): control, with the run stopped, nothing syncs until then.
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"
. "${LAB_GUEST:-/lab/guest}/pair.sh" # slow_stream_*
. "${LAB_GUEST:-/lab/guest}/ha.sh"   # ha_ns, ha_ns_create

topo_up 2
for rs in rs1 rs2; do agent_apply "$rs" >/dev/null; done
lv() { ip netns exec director lvsnode controller "$@"; }
ka() { ip netns exec director ipvsadm "$@"; }
# same_daemons: lvsnode's list --daemon is ipvsadm -L --daemon, byte for byte.
same_daemons() {
	a=$(lv list --daemon) b=$(ka -L --daemon)
	[ "$a" = "$b" ] || { echo "lvsnode: $a"; echo "ipvsadm: $b"; return 1; }
}
# try CMD...: run CMD, its output in OUT and exit status in RC.
try() {
	set +e
	OUT=$("$@" 2>&1)
	RC=$?
	set -e
	info "\$ ${*#ip netns exec director } -> exit $RC: $OUT"
}
ip -n director link add sync9k mtu 9000 type dummy
ip -n director link set sync9k up
info "sync9k: $(ip -n director -o link show sync9k | grep -o 'mtu [0-9]*')"

step "nothing runs: both list nothing"
check "list --daemon = ipvsadm -L --daemon (empty)" same_daemons
check "empty" test -z "$(lv list --daemon)"

step "missing interface: one line, exit 1, nothing started"
try lv start-daemon master --mcast-interface nosuch0 --syncid 5
check "exit 1, one line naming it" test "$RC" = 1 -a "$OUT" = "lvsnode: start master sync daemon on nosuch0: no such interface"
check "nothing runs" test -z "$(ka -L --daemon)"

step "bad group, bad syncid: usage errors (exit 2), nothing started"
try lv start-daemon backup --mcast-interface eth0 --mcast-group 10.0.0.1
check "exit 2 naming --mcast-group" test "$RC" = 2 -a "$(echo "$OUT" | grep -c 'mcast-group "10.0.0.1"')" = 1
try lv start-daemon backup --mcast-interface eth0 --syncid 256
check "exit 2 naming --syncid" test "$RC" = 2
# Go's netip calls ::ffff:224.0.0.81 multicast; the kernel (IPv6, not
# ff00::/8) answers EINVAL (the review's probe B): refused as usage.
try lv start-daemon backup --mcast-interface eth0 --mcast-group ::ffff:224.0.0.81
check "exit 2 for an IPv4-mapped group" test "$RC" = 2 -a "$(echo "$OUT" | grep -c 'not a multicast address')" = 1
check "nothing runs" test -z "$(ka -L --daemon)"

step "start master: defaults filled in by the kernel; again: no-op"
try lv start-daemon master --mcast-interface eth0 --syncid 5
check "started" test "$RC" = 0
check "list --daemon = ipvsadm -L --daemon" same_daemons
check "kernel's defaults (1500 - 28, 224.0.0.81:8848, ttl 1)" test "$(ka -L --daemon)" = "master sync daemon (mcast=eth0, syncid=5, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)"
try lv start-daemon master --mcast-interface eth0 --syncid 5
check "same settings: exit 0, unchanged" test "$RC" = 0 -a "${OUT%%:*}" = unchanged

step "other settings: says what differs, exit 1, the daemon unchanged"
before=$(ka -L --daemon)
try lv start-daemon master --mcast-interface eth0 --syncid 6
check "exit 1 naming syncid 5 vs 6" test "$RC" = 1 -a "$(echo "$OUT" | grep -c 'syncid: running 5, wanted 6')" = 1
try lv start-daemon master --mcast-interface sync9k --syncid 5 --mcast-port 9000
check "names interface and port" test "$RC" = 1 -a "$(echo "$OUT" | grep -c 'mcast-interface: running eth0, wanted sync9k; mcast-port: running 8848, wanted 9000')" = 1
check "daemon unchanged" test "$(ka -L --daemon)" = "$before"

step "the kernel (what the Fake models): EEXIST whatever the settings, ENODEV before it"
try ka --start-daemon master --mcast-interface sync9k --syncid 9
check "EEXIST for a running role with other settings" test "$OUT" = "Daemon has already run"
try ka --start-daemon master --mcast-interface nosuch0 --syncid 5
check "ENODEV, not EEXIST, for a missing interface while the role runs" test "$OUT" = "No such device"
check "daemon unchanged" test "$(ka -L --daemon)" = "$before"

step "backup beside it: message sizes from the MTU"
try lv start-daemon backup --mcast-interface sync9k --syncid 5
check "backup on MTU 9000: maxlen 8972" test "$(ka -L --daemon | sed -n 2p)" = "backup sync daemon (mcast=sync9k, syncid=5, maxlen=8972, group=224.0.0.81, port=8848, ttl=1)"
check "list --daemon = ipvsadm -L --daemon (both)" same_daemons
json=$(lv list --daemon --json)
check "json has both roles" test "$(echo "$json" | grep -c '"role"')" = 2
lv stop-daemon backup >/dev/null
try lv start-daemon backup --mcast-interface eth0 --sync-maxlen 100 --mcast-group ff02::99 --mcast-port 9000 --mcast-ttl 2
check "backup: size clamped to 1024, IPv6 group" test "$(ka -L --daemon | sed -n 2p)" = "backup sync daemon (mcast=eth0, syncid=0, maxlen=1024, group=ff02::99, port=9000, ttl=2)"
try lv start-daemon backup --mcast-interface eth0 --sync-maxlen 100 --mcast-group ff02::99 --mcast-port 9000 --mcast-ttl 2
check "the same clamped size again: exit 0, unchanged (compared as the kernel clamps it)" test "$RC" = 0 -a "${OUT%%:*}" = unchanged
check "list --daemon = ipvsadm -L --daemon" same_daemons
lv stop-daemon backup >/dev/null
lv start-daemon backup --mcast-interface eth0 --mcast-group ff02::99 >/dev/null
check "IPv6 group: 1500 - 48" test "$(ka -L --daemon | sed -n 2p)" = "backup sync daemon (mcast=eth0, syncid=0, maxlen=1452, group=ff02::99, port=8848, ttl=1)"

step "stop: a role that does not run is a no-op for lvsnode, ESRCH for the kernel"
try lv stop-daemon backup
check "stopped" test "$RC" = 0 -a "$OUT" = "stopped: backup sync daemon"
try lv stop-daemon backup
check "again: exit 0, unchanged" test "$RC" = 0 -a "${OUT%%:*}" = unchanged
try ka --stop-daemon backup
check "ipvsadm: the kernel's ESRCH" test "$OUT" = "No daemon is running"
check "list --daemon = ipvsadm -L --daemon (master only)" same_daemons

step "interface deleted under a running daemon: it goes on running"
lv start-daemon backup --mcast-interface sync9k --syncid 5 >/dev/null
ip -n director link del sync9k
sleep 0.3
check "backup still listed on sync9k" test "$(ka -L --daemon | sed -n 2p | cut -d, -f1)" = "backup sync daemon (mcast=sync9k"
check "list --daemon = ipvsadm -L --daemon" same_daemons
lv stop-daemon backup >/dev/null

step "mixed-family real servers vs sync daemons (the kernel's EINVAL both ways; the Fake models it)"
try ka -A -t 10.0.0.100:81 -s rr
try ka -a -t 10.0.0.100:81 -r "[fd00::11]:81" -i
check "kernel: an IPv6 real server in an IPv4 service while the master runs is refused" test "$RC" != 0
ka -D -t 10.0.0.100:81
before=$(ka -Ln)
try lv add-node -t 10.0.0.100:81 -r "[fd00::11]" -i -s rr
check "lvsnode add-node: exit 1, one line naming the running daemon" test "$RC" = 1 -a "$(echo "$OUT" | wc -l)" = 1 -a "$(echo "$OUT" | grep -c 'master sync daemon (mcast=eth0')" = 1
check "nothing changed (no service left without its real server)" test "$(ka -Ln)" = "$before"
lv stop-daemon master >/dev/null
try lv add-node -t 10.0.0.100:81 -r "[fd00::11]" -i -s rr
check "no daemon: the mixed-family real server goes in" test "$RC" = 0
try ka --start-daemon master --mcast-interface eth0
check "kernel: start master refused while it exists" test "$RC" != 0
try ka --start-daemon backup --mcast-interface eth0
check "kernel: start backup refused too" test "$RC" != 0
check "nothing runs" test -z "$(ka -L --daemon)"
ka -D -t 10.0.0.100:81
lv start-daemon master --mcast-interface eth0 --syncid 5 >/dev/null

step "connections: list --connections = ipvsadm -Lnc"
lv add-node -t "$LAB_VIP4:$LAB_PORT" -r "$(node_ip4 rs1)" -g -s rr >/dev/null
lv add-node -t "$LAB_VIP4:$LAB_PORT" -r "$(node_ip4 rs2)" -g >/dev/null
lv add-node -t "[$LAB_VIP6]:$LAB_PORT" -r "[$(node_ip6 rs1)]" -g >/dev/null
curl_vip v4 4 >/dev/null
curl_vip v6 2 >/dev/null
slow_stream_server rs1 81
slow_stream_server rs2 81
lv add-node -t "$LAB_VIP4:81" -r "$(node_ip4 rs1)" -g -p 60 >/dev/null # a template beside the stream
s=$(slow_stream_client "$LAB_VIP4" 81 /tmp/ha-stream)
sleep 1
a=$(lv list --connections) b=$(ka -Lnc)
# The expire column (2nd) may tick between the two reads: compare it
# within 1 s, everything else exactly.
norm() { awk 'NR > 2 { split($2, t, ":"); $2 = t[1] * 60 + t[2] } { print }'; }
info "ipvsadm -Lnc:"
echo "$b" | sed 's/^/      /'
check "headers identical" test "$(echo "$a" | head -2)" = "$(echo "$b" | head -2)"
check "same number of lines ($(echo "$b" | wc -l))" test "$(echo "$a" | wc -l)" = "$(echo "$b" | wc -l)"
check "at least 8 entries (ESTABLISHED, TIME_WAIT/FIN_WAIT, IPv6, a template)" test "$(echo "$b" | wc -l)" -ge 10
check "a template (client port 0) and an ESTABLISHED entry among them" test "$(echo "$b" | grep -c '10.0.0.10:0 ')" -ge 1 -a "$(echo "$b" | grep -c ESTABLISHED)" -ge 1
# (files, not <(...): the guest has no /dev/fd)
echo "$a" | norm >/tmp/ha-a
echo "$b" | norm >/tmp/ha-b
awk 'NR == FNR { l[FNR] = $0; next }
	{ n = split(l[FNR], x, " "); split($0, y, " ")
	  for (i = 1; i <= n; i++) if (x[i] != y[i] && !(i == 2 && x[i] - y[i] <= 1 && y[i] - x[i] <= 1)) { print "differs: " l[FNR] " | " $0; bad = 1 } }
	END { exit bad }' /tmp/ha-a /tmp/ha-b && ok "every line equal (expire within 1 s)" || fail "lines differ"
# Column widths: byte-equal but for the expire column.
echo "$a" | cut -c1-3,11- >/tmp/ha-a
echo "$b" | cut -c1-3,11- >/tmp/ha-b
check "byte-equal but for the expire column" cmp -s /tmp/ha-a /tmp/ha-b
check "json: one entry per line" test "$(lv list --connections --json | grep -c '"state"')" = "$(($(echo "$b" | wc -l) - 2))"
kill "$s" 2>/dev/null || true

step "sync link deleted and re-created: controller run restarts the daemon on the new link (control: until then nothing syncs)"
lv stop-daemon master >/dev/null
lv2() { ip netns exec director2 lvsnode controller "$@"; }
ha_ns_create 2 || fail "director2"
ip link add sbr type bridge
ip link set sbr up
mk_sync() { # N ADDR: a sync0 link of director N on bridge sbr
	ns=$(ha_ns "$1")
	ip link add "s-$ns" type veth peer name sync0 netns "$ns"
	ip link set "s-$ns" master sbr up
	ip -n "$ns" addr add "$2/24" dev sync0
	ip -n "$ns" link set sync0 up
}
mk_sync 1 192.168.9.1
mk_sync 2 192.168.9.2
cat >/tmp/r1.yaml <<YAML
state_file: /run/lvsnode/r1.json
resync: 1s
api: {socket: /run/lvsnode/r1.sock}
sync: {mcast_interface: sync0, syncid: 7, roles: [master]}
services:
  - service: tcp $LAB_VIP4:$LAB_PORT
    scheduler: rr
    nodes:
      - {address: $(node_ip4 rs1), method: dr}
      - {address: $(node_ip4 rs2), method: dr}
YAML
ip netns exec director lvsnode controller run --config /tmp/r1.yaml >/tmp/r1.log 2>&1 &
LVP=$!
st() { ip netns exec director lvsnode controller status --api /run/lvsnode/r1.sock; }
wait_for 30 st >/dev/null || fail "controller run did not start: $(tail -3 /tmp/r1.log)"
lv2 add-node -t "$LAB_VIP4:$LAB_PORT" -r "$(node_ip4 rs1)" -g -s rr >/dev/null
lv2 start-daemon backup --mcast-interface sync0 --syncid 7 >/dev/null
# synced PORT: director2 has a connection from client port PORT learnt by sync.
synced() {
	ip netns exec director2 awk -v c="$(printf '%04X' "$1")" '$3 == c && $9 == "SYNC" { n++ } END { exit !n }' /proc/net/ip_vs_conn_sync
}
conn() { ip netns exec client curl -s -o /dev/null --max-time 3 --local-port "$1" "http://$LAB_VIP4:$LAB_PORT/"; }
conn 40001
check "baseline: a connection reaches director2 by sync" wait_for 6 synced 40001
idx0=$(st | grep -o 'sync0 index [0-9]*')
info "status before: $(st | grep '^Sync')"
kill -STOP "$LVP" # no pass runs: the control
ip -n director link del sync0
sleep 0.5
mk_sync 1 192.168.9.1
sleep 1
check "the kernel still lists the master on sync0" test "$(ka -L --daemon | cut -d, -f1)" = "master sync daemon (mcast=sync0"
conn 40002
check "control: on the re-created link, without a repair, nothing syncs" eval "! wait_for 6 synced 40002"
kill -CONT "$LVP"
wait_for 10 eval '[ -n "$(st | grep -o "sync0 index [0-9]*")" ] && [ "$(st | grep -o "sync0 index [0-9]*")" != "$idx0" ]' || fail "status never showed the new link: $(st | grep '^Sync')"
info "status after: $(st | grep '^Sync')"
check "controller run restarted the master (log says re-created)" grep -q "re-created" /tmp/r1.log
conn 40003
check "after the repair a new connection is synced again" wait_for 6 synced 40003
kill "$LVP"
wait "$LVP" 2>/dev/null || true
