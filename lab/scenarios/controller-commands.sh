#!/usr/bin/env bash
# Every `lvsnode controller` command against the real kernel, each result
# checked with ipvsadm (-S -n, -Ln and its variants) as the independent
# oracle: the IPVS version, add/edit/remove node and service, idempotency, DR port and NAT
# forwarding checks, list/--stats/--rate/--thresholds, save, zero, timeouts,
# a drain that waits for a live connection, clear.
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"

V=$LAB_VIP4
D() { in_ns director "$@"; }
L() { in_ns director lvsnode controller "$@"; }
W=${LAB_WORK:-/tmp}

# expect_rules TEXT: ipvsadm -S -n prints exactly TEXT.
expect_rules() {
	printf '%s\n' "$1" | sed '/^$/d' >"$W/want"
	D ipvsadm -S -n >"$W/got"
	if ! diff -u "$W/want" "$W/got"; then
		fail "ipvsadm -S -n differs from the expected rules (diff above)"
	fi
	ok "ipvsadm -S -n: $(wc -l <"$W/got") rules as expected"
}
# same_output DESC "LVSNODE ARGS" "IPVSADM ARGS": byte-identical outputs.
same_output() {
	# shellcheck disable=SC2086
	L $2 >"$W/ours"
	# shellcheck disable=SC2086
	D ipvsadm $3 >"$W/theirs"
	if ! diff -u "$W/theirs" "$W/ours"; then
		fail "$1: lvsnode controller $2 differs from ipvsadm $3"
	fi
	ok "$1: identical to ipvsadm $3 ($(wc -l <"$W/ours") lines)"
}
# expect_fail RC PATTERN CMD...: CMD exits RC with one stderr line matching
# PATTERN.
expect_fail() {
	_rc=$1 _pat=$2
	shift 2
	set +e
	"$@" >"$W/out" 2>"$W/err"
	_got=$?
	set -e
	sed 's/^/    /' "$W/out"
	info "stderr: $(cat "$W/err")"
	[ "$_got" = "$_rc" ] || fail "exit $_got, want $_rc: $*"
	grep -e "$_pat" "$W/err" >/dev/null || fail "no '$_pat' in the message"
	[ "$(wc -l <"$W/err")" = 1 ] || fail "message is not one line"
	ok "refused (exit $_rc): $_pat"
}

step "topology; rs1 gets the VIP from lvsnode agent (for the drain's live connection)"
topo_up 2
agent_apply rs1 --vip "$V" >/dev/null

step "lvsnode version reads the kernel's IPVS version (GET_INFO), as ipvsadm does"
want=$(D ipvsadm -Ln | sed -n '1s/^IP Virtual Server version \([0-9.]*\) (size=\([0-9]*\)).*/IPVS: \1 (connection table \2 buckets)/p')
got=$(D lvsnode version | sed -n '/^IPVS: /p')
info "ipvsadm: $(D ipvsadm -Ln | head -1)"
check "lvsnode version says '$got'" test -n "$want" -a "$got" = "$want"

step "add-node creates the service (default scheduler wlc) and the real server"
L add-node -t "$V:80" -r 10.0.0.11 -g | sed 's/^/    /'
expect_rules "-A -t $V:80 -s wlc
-a -t $V:80 -r 10.0.0.11:80 -g -w 1"

step "add-node again: no change, exit 0"
out=$(L add-node -t "$V:80" -r 10.0.0.11 -g)
info "$out"
check "says unchanged" test "${out#unchanged}" != "$out"
expect_rules "-A -t $V:80 -s wlc
-a -t $V:80 -r 10.0.0.11:80 -g -w 1"

step "add-node with another weight edits in place; a second real server"
L add-node -t "$V:80" -r 10.0.0.11 -w 3 | sed 's/^/    /'
L add-node -t "$V:80" -r 10.0.0.12:80 | sed 's/^/    /'
expect_rules "-A -t $V:80 -s wlc
-a -t $V:80 -r 10.0.0.11:80 -g -w 3
-a -t $V:80 -r 10.0.0.12:80 -g -w 1"

step "refused input changes nothing (exit 2)"
expect_fail 2 "cannot map ports" L add-node -t "$V:80" -r 10.0.0.13:8080 -g
expect_fail 2 "unknown scheduler" L add-service -t "$V:81" -s nosuch
expect_fail 2 "needs --tun-port" L add-node -t "$V:80" -r 10.0.0.13 -i --tun-type gue
expect_fail 1 "no such" L remove-service -t "$V:99"

step "NAT needs ip_forward on the director"
D sh -c 'echo 0 >/proc/sys/net/ipv4/ip_forward'
expect_fail 1 "net.ipv4.ip_forward is 0" L add-node -u "$V:53" -r 10.0.0.11:5353 -m
L add-node -u "$V:53" -r 10.0.0.11:5353 -m -s rr -o --enable-forwarding | sed 's/^/    /'
check "ip_forward is now 1" test "$(ns_sysctl director net.ipv4.ip_forward)" = 1

step "IPv6 with persistence, fwmark, tunnels (ipip, gue, gre), thresholds, scheduler flags"
L add-node -t "[$LAB_VIP6]:80" -r "[fd00::11]" -s rr -p 120 -M 64 | sed 's/^/    /'
L add-node -f 7 -r 10.0.0.11 -s lc | sed 's/^/    /'
L add-node -f 8 -6 -r "[fd00::12]" -p | sed 's/^/    /'
L add-node -t "$V:8080" -r 10.0.0.11 -i -s wrr | sed 's/^/    /'
L add-node -t "$V:8080" -r 10.0.0.12 -i --tun-type gue --tun-port 6079 | sed 's/^/    /'
# edit-node changes one tunnel option and keeps the type (gue) and the rest
L edit-node -t "$V:8080" -r 10.0.0.12 -i --tun-port 6080 | sed 's/^/    /'
L edit-node -t "$V:8080" -r 10.0.0.12 -i --tun-csum | sed 's/^/    /'
L add-node -t "$V:8080" -r 10.0.0.13 -i --tun-type gre --tun-csum | sed 's/^/    /'
L edit-node -t "$V:80" -r 10.0.0.12 -x 50 -y 5 | sed 's/^/    /'
L edit-service -t "$V:80" -s sh -b sh-port | sed 's/^/    /'
L add-service --sctp-service "$V:3868" -s mh -b mh-fallback -p 60 -M 255.255.255.0 | sed 's/^/    /'
expect_rules "-A -t $V:80 -s sh -b sh-port
-a -t $V:80 -r 10.0.0.11:80 -g -w 3
-a -t $V:80 -r 10.0.0.12:80 -g -w 1
-A -t $V:8080 -s wrr
-a -t $V:8080 -r 10.0.0.11:8080 -i -w 1 --tun-type ipip
-a -t $V:8080 -r 10.0.0.12:8080 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum
-a -t $V:8080 -r 10.0.0.13:8080 -i -w 1 --tun-type gre --tun-csum
-A -u $V:53 -s rr -o
-a -u $V:53 -r 10.0.0.11:5353 -m -w 1
-A --sctp-service $V:3868 -s mh -p 60 -M 255.255.255.0 -b mh-fallback
-A -t [$LAB_VIP6]:80 -s rr -p 120 -M 64
-a -t [$LAB_VIP6]:80 -r [fd00::11]:80 -g -w 1
-A -f 7 -s lc
-a -f 7 -r 10.0.0.11:0 -g -w 1
-A -f 8 -6 -s wlc -p 300
-a -f 8 -6 -r [fd00::12]:0 -g -w 1"
D ipvsadm -Ln --thresholds -t "$V:80" | grep -E '10.0.0.12:80 +50 +5 ' >/dev/null || fail "thresholds 50/5 not in ipvsadm --thresholds"
ok "ipvsadm --thresholds shows -x 50 -y 5"

step "listing and save match ipvsadm byte for byte"
same_output "list" "list" "-Ln"
same_output "list one service" "list -t $V:8080" "-Ln -t $V:8080"
same_output "list --rate (idle)" "list --rate" "-Ln --rate"
same_output "list --thresholds" "list --thresholds" "-Ln --thresholds"
same_output "list --persistent-conn" "list --persistent-conn" "-Ln --persistent-conn"
same_output "list --tun-info" "list --tun-info" "-Ln --tun-info"
# save adds -x/-y where ipvsadm -S drops them; otherwise identical.
L save | sed 's/ -x [0-9]* -y [0-9]*//' >"$W/ours"
D ipvsadm -S -n >"$W/theirs"
diff -u "$W/theirs" "$W/ours" || fail "save differs from ipvsadm -S -n"
ok "save: identical to ipvsadm -S -n (after dropping our -x/-y)"
L list --json >"$W/json"
grep '"tunnel_type": "gue"' "$W/json" >/dev/null || fail "list --json lacks the gue tunnel"
ok "list --json: $(grep -c '"address"' "$W/json") addresses"

step "timeouts (tcpfin 5s from here on, so closed connections leave InActConn quickly)"
same_output "timeouts" "timeouts" "-L --timeout"
L timeouts 900 5 0 | sed 's/^/    /'
check "ipvsadm -L --timeout: 900 5 300" test "$(D ipvsadm -L --timeout)" = "Timeout (tcp tcpfin udp): 900 5 300"

step "traffic, --stats, zero"
# rr skips weight-0 real servers (sh without sh-fallback would not): only
# rs1 has the VIP bound, so rs2 gets weight 0.
L edit-service -t "$V:80" -s rr | sed 's/^/    /'
L edit-node -t "$V:80" -r 10.0.0.12 -w 0 | sed 's/^/    /'
check "scheduler change dropped the sh flags" test "$(D ipvsadm -S -n | grep -- "-A -t $V:80 ")" = "-A -t $V:80 -s rr"
for _ in 1 2 3; do client_get "$V" >/dev/null || fail "request to the VIP failed"; done
# The kernel folds its per-CPU counters into what it reports every 2 s.
svc_conns() { D ipvsadm -Ln --stats -t "$V:80" | awk '$1 == "TCP" {print $3}'; }
conns_are() { test "$(svc_conns)" = "$1"; }
wait_for 6 conns_are 3 || fail "ipvsadm did not count 3 connections: $(svc_conns)"
ok "ipvsadm counted 3 connections"
sleep 2.5 # one more estimator tick, so both reads below see settled counters
same_output "list --stats" "list --stats" "-Ln --stats"
same_output "list --stats --exact" "list --stats --exact" "-Ln --stats --exact"
L zero -t "$V:80" | sed 's/^/    /'
conns=$(D ipvsadm -Ln --stats -t "$V:80" | awk '$1 == "TCP" {print $3}')
check "zero -t: ipvsadm shows 0 connections" test "$conns" = 0

step "drain-node waits for a live connection (tcpfin timeout 5s)"
# The socket lives in this bash only (sleep does not inherit fd 3), so
# killing it closes the connection. ip netns exec execs: $! is that bash.
ip netns exec client bash -c "exec 3<>/dev/tcp/$V/80; sleep 60 3>&-" &
holder=$!
active() { D ipvsadm -Ln -t "$V:80" | awk '$2 == "10.0.0.11:80" {print $5}'; }
has_conn() { test "$(active)" -ge 1; }
wait_for 5 has_conn || fail "no established IPVS connection from the client"
info "ipvsadm: 10.0.0.11:80 has $(active) active connection(s)"
expect_fail 1 "still has 1 active" L drain-node -t "$V:80" -r 10.0.0.11 --timeout 2s --interval 500ms
D ipvsadm -Ln -t "$V:80" | grep -E '10.0.0.11:80 +Route +0 ' >/dev/null || fail "not kept at weight 0 after the timeout"
ok "after the timeout: still there, weight 0"
kill "$holder" 2>/dev/null || true # closes the socket: FIN
t0=$(now_ms)
L drain-node -t "$V:80" -r 10.0.0.11 --timeout 60s --interval 500ms | sed 's/^/    /'
info "drained in $(($(now_ms) - t0)) ms"
if D ipvsadm -Ln -t "$V:80" | grep 10.0.0.11:80 >/dev/null; then fail "10.0.0.11:80 still in the service"; fi
ok "drained real server removed"

step "remove-node, remove-service, clear"
L remove-node -t "$V:8080" -r 10.0.0.13 | sed 's/^/    /'
L remove-service -u "$V:53" | sed 's/^/    /'
D ipvsadm -S -n | grep -e "10.0.0.13:8080" -e "-u $V:53" >/dev/null && fail "removed entries still listed"
ok "removed entries gone"
L clear | sed 's/^/    /'
check "ipvsadm -S -n is empty after clear" test -z "$(D ipvsadm -S -n)"
