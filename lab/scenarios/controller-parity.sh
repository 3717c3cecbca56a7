#!/usr/bin/env bash
# Issue 8's parity points, each against the real kernel with ipvsadm as the
# oracle, with a control where the check could pass without the feature:
#  1. add-node/edit-node -w on a GUE real server keeps it GUE (--tun-info);
#     control: ipvsadm -e -w turns it into DR, which the check would see.
#  2. restore --dry-run exits 1 while changes are pending, 0 when it matches.
#  3. -M in a rules file is read as ipvsadm -R reads it (-M 24 = 0.0.0.24);
#     masks that are not prefixes save and restore as ipvsadm's.
#  4. a DR real server on another port (the kernel takes it from any client)
#     saves and restores to the same table; control: ipvsadm -R moves it.
#  5. --pe sip: saved, listed, kept by edits, restored both ways.
#  6. list --nosort (control: differs from the sorted list), --sort,
#     --timeout and --exact (control: a counter above 10^8 that the
#     abbreviated list shows as K) byte for byte.
#  7. drain-node waits for a persistence template (control: the template
#     outlives the connection) and warns about expire_quiescent_template=0.
#  8. drain-node --all-services.
#  9. real-server addresses the kernel always refuses are refused at parse
#     time (exit 2), the others accepted; ipvsadm is the oracle.
# 10. an IPv4-mapped IPv6 service stays IPv6 through save and restore.
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"

V=$LAB_VIP4
D() { in_ns director "$@"; }
L() { in_ns director lvsnode controller "$@"; }
W=${LAB_WORK:-/tmp}

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
# same_table FILE DESC: ipvsadm -S -n prints exactly FILE.
same_table() {
	D ipvsadm -S -n >"$W/got"
	if ! diff -u "$1" "$W/got"; then fail "$2: ipvsadm -S -n differs (diff above)"; fi
	ok "$2: ipvsadm -S -n identical ($(wc -l <"$W/got") rules)"
}
# rc CMD...: prints CMD's exit status (output to $W/rc.out).
rc() {
	set +e
	"$@" >"$W/rc.out" 2>&1
	echo $?
	set -e
}

step "topology; rs1 gets the VIP from lvsnode agent"
topo_up 2
agent_apply rs1 --vip "$V" >/dev/null

step "1. add-node -w on a GUE real server keeps it GUE"
tun() { D ipvsadm -Ln --tun-info -t "$V:80" | awk -v r="$1" '$2 == r {print $3, $4, $5}'; }
thr() { D ipvsadm -Ln --thresholds -t "$V:80" | awk -v r="$1" '$2 == r {print $3, $4}'; }
L add-node -t "$V:80" -r 10.0.0.12 -i --tun-type gue --tun-port 6080 --tun-csum -w 2 -x 50 -y 5 | sed 's/^/    /'
L add-node -t "$V:80" -r 10.0.0.13 -i --tun-type gue --tun-port 6080 --tun-csum -w 2 | sed 's/^/    /'
check "created: Tunnel gue:6080:+c 2" test "$(tun 10.0.0.12:80)" = "Tunnel gue:6080:+c 2"
D ipvsadm -e -t "$V:80" -r 10.0.0.13 -w 5
info "control, ipvsadm -e -w 5: $(tun 10.0.0.13:80)"
check "control: ipvsadm -e -w 5 made it DR (the check can fail)" test "$(tun 10.0.0.13:80)" = "Route n/a 5"
L add-node -t "$V:80" -r 10.0.0.12 -w 5 | sed 's/^/    /'
info "lvsnode add-node -w 5: $(tun 10.0.0.12:80), thresholds $(thr 10.0.0.12:80)"
check "add-node -w 5 kept GUE, port and checksum" test "$(tun 10.0.0.12:80)" = "Tunnel gue:6080:+c 5"
check "add-node -w 5 kept the thresholds" test "$(thr 10.0.0.12:80)" = "50 5"
L edit-node -t "$V:80" -r 10.0.0.12 -w 6 | sed 's/^/    /'
check "edit-node -w 6 kept GUE" test "$(tun 10.0.0.12:80)" = "Tunnel gue:6080:+c 6"
L edit-node -t "$V:80" -r 10.0.0.12 -i --tun-port 6081 | sed 's/^/    /'
check "edit-node -i --tun-port 6081 changed only the port" test "$(tun 10.0.0.12:80)" = "Tunnel gue:6081:+c 6"

step "2. restore --dry-run: exit 1 while changes are pending, 0 when the kernel matches"
L save >"$W/now.rules"
D ipvsadm -S -n >"$W/before"
check "dry run of the current table exits 0" test "$(rc L restore --dry-run "$W/now.rules")" = 0
{ cat "$W/now.rules"; echo "-A -t $V:8000 -s rr"; } >"$W/more.rules"
check "dry run with a service to add exits 1" test "$(rc L restore --dry-run "$W/more.rules")" = 1
sed 's/^/    /' "$W/rc.out"
grep "would add service TCP $V:8000" "$W/rc.out" >/dev/null || fail "the plan was not printed"
same_table "$W/before" "dry run changed nothing"
L restore "$W/more.rules" | sed 's/^/    /'
check "dry run after the restore exits 0" test "$(rc L restore --dry-run "$W/more.rules")" = 0

step "3. -M in a rules file as ipvsadm -R reads it; masks that are not prefixes"
cat >"$W/mask.rules" <<EOF
-A -t $V:7000 -s rr -p 60 -M 24
-A -t $V:7001 -s rr -p 60 -M 255.0.255.0
-A -t $V:7002 -s rr -p 60 -M 255.255.255.0
EOF
D ipvsadm -C
D ipvsadm -R <"$W/mask.rules"
D ipvsadm -S -n >"$W/ipvsadm-R"
sed 's/^/    ipvsadm -R: /' "$W/ipvsadm-R"
grep -- "-M 0.0.0.24" "$W/ipvsadm-R" >/dev/null || fail "ipvsadm -R did not read -M 24 as 0.0.0.24 (the premise)"
same_output "save of ipvsadm's masks" "save" "-S -n"
check "restore of ipvsadm's own save: nothing to do" test "$(rc L restore --dry-run "$W/ipvsadm-R")" = 0
same_output "list with masks" "list" "-Ln"
D ipvsadm -C
L restore "$W/mask.rules" | sed 's/^/    /'
same_table "$W/ipvsadm-R" "lvsnode restore of -M 24 and 255.0.255.0 = ipvsadm -R's table"

step "4. a DR real server on another port than its service's round-trips"
printf '%s\n' "-A -t $V:7100 -s rr" "-a -t $V:7100 -r 10.0.0.11:8080 -g -w 1" >"$W/port.rules"
L restore "$W/port.rules" | sed 's/^/    /'
same_table "$W/port.rules" "the kernel kept 10.0.0.11:8080 with -g"
same_output "save" "save" "-S -n"
D ipvsadm -S -n >"$W/port.saved"
check "restore of ipvsadm -S -n: nothing to do" test "$(rc L restore --dry-run "$W/port.saved")" = 0
D ipvsadm -C
D ipvsadm -R <"$W/port.saved"
info "control, ipvsadm -R of its own save: $(D ipvsadm -S -n | grep -- -a)"
D ipvsadm -S -n | grep -- "-r 10.0.0.11:7100 -g" >/dev/null || fail "control: ipvsadm -R kept the port (then this check proves nothing)"
ok "control: ipvsadm -R moved it to the service port; lvsnode restore keeps it"

step "5. --pe sip (ip_vs_pe_sip)"
# The guest kernel cannot autoload modules (no /sbin/modprobe there).
modprobe ip_vs_pe_sip
D ipvsadm -C
L add-service -u "$V:5060" -s rr -p 60 --pe sip | sed 's/^/    /'
L add-node -u "$V:5060" -r 10.0.0.11 -g | sed 's/^/    /'
L add-service -u "$V:5061" -s rr -p 60 -M 255.255.255.0 --pe sip -o | sed 's/^/    /'
L add-service -u "$V:5062" -s rr --pe sip | sed 's/^/    /'
L add-service -t "$V:5063" -s sh -b sh-port -p 20 --pe sip | sed 's/^/    /'
D ipvsadm -S -n | sed 's/^/    ipvsadm -S -n: /'
same_output "save with --pe" "save" "-S -n"
same_output "list with pe" "list" "-Ln"
same_output "list --persistent-conn with pe" "list --persistent-conn" "-Ln --persistent-conn"
L edit-service -u "$V:5060" -s wrr | sed 's/^/    /'
D ipvsadm -S -n | grep -- "-A -u $V:5060 -s wrr -p 60 --pe sip" >/dev/null || fail "edit-service -s wrr lost the engine"
ok "edit-service -s wrr kept --pe sip"
L save >"$W/pe.rules"
D ipvsadm -C
D ipvsadm -R <"$W/pe.rules"
same_table "$W/pe.rules" "lvsnode save -> ipvsadm -R"
D ipvsadm -S -n >"$W/pe.saved"
D ipvsadm -C
L restore "$W/pe.saved" | sed 's/^/    /'
same_table "$W/pe.saved" "ipvsadm -S -n -> lvsnode restore"
L edit-service -u "$V:5060" --no-pe | sed 's/^/    /'
D ipvsadm -S -n | grep -- "-A -u $V:5060 -s wrr -p 60\$" >/dev/null || fail "--no-pe did not drop the engine"
ok "edit-service --no-pe dropped it"
check "an unknown engine is refused (exit 1)" test "$(rc L add-service -u "$V:5070" -p 60 --pe nosuch)" = 1
info "$(cat "$W/rc.out")"
grep "persistence engine" "$W/rc.out" >/dev/null || fail "the message does not mention the persistence engine"

step "6. list --nosort, --sort, --timeout, --exact"
D ipvsadm -C
for p in 90 70 80 60; do L add-service -t "$V:$p" -s rr >/dev/null; done
for r in 10.0.0.13 10.0.0.11 10.0.0.12; do L add-node -t "$V:80" -r "$r" >/dev/null; done
L add-service -f 3 -s wlc >/dev/null
same_output "list --nosort" "list --nosort" "-Ln --nosort"
L list >"$W/sorted"
if cmp -s "$W/sorted" "$W/ours"; then fail "control: sorted and --nosort lists are equal, the check proves nothing"; fi
ok "control: the kernel's order differs from the sorted one"
same_output "list --sort" "list --sort" "-Ln --sort"
same_output "list -t --nosort" "list -t $V:80 --nosort" "-Ln -t $V:80 --nosort"
same_output "list --timeout" "list --timeout" "-Ln --timeout"
L add-node -t "$V:9000" -r 10.0.0.11 -s rr >/dev/null
in_ns rs1 socat -u TCP-LISTEN:9000,reuseaddr OPEN:/dev/null &
sink=$!
sleep 0.3
t0=$(now_ms)
head -c 110000000 /dev/zero | in_ns client socat -u - "TCP:$V:9000"
info "sent 110 MB through the director in $(($(now_ms) - t0)) ms"
wait "$sink" 2>/dev/null || true
sleep 2.5 # the estimator refreshes the counters every 2 s
same_output "list --stats --exact" "list --stats --exact" "-Ln --stats --exact"
same_output "list --stats" "list --stats" "-Ln --stats"
same_output "list --exact" "list --exact" "-Ln --exact"
L list --stats -t "$V:9000" | grep -E ' [0-9]+K( |$)' >/dev/null || fail "control: no abbreviated counter (K), --exact proves nothing"
L list --stats --exact -t "$V:9000" | grep -E ' 1[0-9]{8}( |$)' >/dev/null || fail "--exact does not show the 9-digit byte count"
ok "control: --stats abbreviates the byte count (K), --stats --exact prints all of it"

step "7. drain-node waits for a persistence template"
D ipvsadm -C
L timeouts 5 2 5 | sed 's/^/    /'
# IPVS sysctls are per network namespace: set them in the director's.
quiescent() { D sh -c "echo $1 >/proc/sys/net/ipv4/vs/expire_quiescent_template"; }
quiescent 0
# Persistence 10 s: the template outlives the connection (tcpfin 2 s).
L add-node -t "$V:80" -r 10.0.0.11 -s rr -p 10 | sed 's/^/    /'
pc() { D ipvsadm -Ln --persistent-conn -t "$V:80" | awk '$2 == "10.0.0.11:80" {print $4, $5, $6}'; }
out=$(in_ns client curl -s -m 5 "http://$V/")
info "client got: $out (PersistConn ActiveConn InActConn: $(pc))"
[ "$out" = rs1 ] || fail "the first request did not reach rs1"
conns_gone() { set -- $(pc); test "$2" = 0 && test "$3" = 0; }
wait_for 10 conns_gone || fail "the connection did not end: $(pc)"
set -- $(pc)
info "control: connections gone, PersistConn $1"
check "control: the template outlives the connection (a drain on connections alone would stop here)" test "$1" -ge 1
t0=$(now_ms)
L drain-node -t "$V:80" -r 10.0.0.11 --interval 200ms --timeout 40s >"$W/drain" || fail "drain failed: $(cat "$W/drain")"
sed 's/^/    /' "$W/drain"
info "drained in $(($(now_ms) - t0)) ms"
grep "warning: net.ipv4.vs.expire_quiescent_template=0" "$W/drain" >/dev/null || fail "no expire_quiescent_template warning"
grep "0 active, 0 inactive connections, 1 persistence templates" "$W/drain" >/dev/null || fail "the template was not reported"
grep "0 active, 0 inactive connections, 0 persistence templates" "$W/drain" >/dev/null || fail "the drain did not wait for the template"
if D ipvsadm -Ln -t "$V:80" | grep 10.0.0.11:80 >/dev/null; then fail "10.0.0.11:80 still in the service"; fi
ok "drained after the template expired, then removed"
quiescent 1
L add-node -t "$V:80" -r 10.0.0.12 >/dev/null
L drain-node -t "$V:80" -r 10.0.0.12 --interval 200ms >"$W/drain"
if grep warning "$W/drain" >/dev/null; then fail "warned with expire_quiescent_template=1"; fi
ok "no warning with expire_quiescent_template=1"
quiescent 0

step "8. drain-node --all-services"
D ipvsadm -C
for s in "-t $V:80" "-t $V:443" "-f 9"; do
	# shellcheck disable=SC2086
	L add-node $s -r 10.0.0.11 >/dev/null
done
L add-node -t "$V:80" -r 10.0.0.12 >/dev/null
L drain-node --all-services -r 10.0.0.11 --interval 200ms | sed 's/^/    /'
printf '%s\n' "-A -t $V:80 -s wlc" "-a -t $V:80 -r 10.0.0.12:80 -g -w 1" "-A -t $V:443 -s wlc" "-A -f 9 -s wlc" >"$W/left"
same_table "$W/left" "10.0.0.11 left every service and the fwmark"

step "9. real-server addresses: lvsnode refuses at parse time (exit 2) exactly those the kernel refuses"
# ipvsadm is the oracle: its -a is refused by the kernel (EINVAL) or not.
# 10.0.0.255 is eth0's subnet broadcast: refused by the kernel, but only
# because of this host's interfaces, so lvsnode leaves it to the kernel
# (exit 1, the kernel's refusal). Without the parse-time check every
# refused row would be exit 1 after changes were made, not 2 before.
for a in 255.255.255.255 0.0.0.0 0.1.2.3 224.0.0.1 239.1.1.1 127.0.0.1 240.0.0.1 10.0.0.255 fe80::1 ff02::1 :: ::1 ::ffff:10.0.0.9; do
	case $a in
	*:*) svc="[fd00::100]:90" r="[$a]:90" ;;
	*) svc="$V:90" r="$a:90" ;;
	esac
	D ipvsadm -C
	D ipvsadm -A -t "$svc" -s rr
	ip_rc=$(rc D ipvsadm -a -t "$svc" -r "$r" -g -w 1)
	D ipvsadm -C
	lv_rc=$(rc L add-node -t "$svc" -r "$r" -g)
	lv_msg=$(head -c 160 "$W/rc.out" | tr '\n' ' ')
	want=0
	[ "$ip_rc" = 0 ] || want=2
	[ "$a" != 10.0.0.255 ] || want=1
	info "$r: ipvsadm exit $ip_rc, lvsnode exit $lv_rc: $lv_msg"
	[ "$lv_rc" = "$want" ] || fail "$r: lvsnode exit $lv_rc, want $want (ipvsadm exit $ip_rc)"
done
D ipvsadm -C
ok "lvsnode refuses at parse time every real-server address the kernel always refuses, and accepts the others"

step "10. an IPv4-mapped IPv6 service stays IPv6, as ipvsadm keeps it"
# Control: before, lvsnode made it the IPv4 service 10.0.0.5:80, which
# ipvsadm -S -n would show without brackets.
D ipvsadm -C
printf '%s\n' "-A -t [::ffff:10.0.0.5]:80 -s rr" "-a -t [::ffff:10.0.0.5]:80 -r [fd00::11]:80 -g -w 1" >"$W/mapped"
L restore <"$W/mapped" >/dev/null
same_table "$W/mapped" "lvsnode restore of a mapped service"
same_output "mapped service" "list" "-Ln"
L save >"$W/mapped.lv"
D ipvsadm -C
D ipvsadm -R <"$W/mapped.lv"
same_table "$W/mapped" "ipvsadm -R of lvsnode's save"
check "lvsnode restore --dry-run of ipvsadm's table: no change" test "$(rc L restore --dry-run "$W/mapped")" = 0
D ipvsadm -C
