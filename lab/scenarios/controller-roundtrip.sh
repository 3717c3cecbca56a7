#!/usr/bin/env bash
# save/restore against the real kernel, ipvsadm as the oracle, on a rule set
# with every scheduler, protocol (TCP UDP SCTP fwmark), family, forwarding
# method (DR, NAT, TUN ipip/gue/gre with checksum modes) and service flag
# (persistence, netmask including -M 0.0.0.0, one-packet, scheduler flags):
#   lvsnode restore -> ipvsadm -S -n is the input
#   lvsnode save -> ipvsadm -R: identical table
#   ipvsadm -S -n -> lvsnode restore: identical table
#   a second restore makes zero changes; an edited input applies only the
#   differences; a bad line changes nothing; --dry-run changes nothing.
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"

W=${LAB_WORK:-/tmp}
ip netns add director
ip -n director link set lo up # the kernel refuses real servers (EINVAL) in a netns whose lo is down
D() { in_ns director "$@"; }
L() { in_ns director lvsnode controller "$@"; }

# same_table WANTFILE DESC: ipvsadm -S -n prints exactly WANTFILE.
same_table() {
	D ipvsadm -S -n >"$W/got"
	if ! diff -u "$1" "$W/got"; then fail "$2: ipvsadm -S -n differs (diff above)"; fi
	ok "$2: ipvsadm -S -n identical ($(wc -l <"$W/got") rules)"
}
# no_thresholds: ipvsadm -S drops -x/-y, and flag-3 of the sh and mh
# schedulers (the kernel keeps it: lvsnode save shows it), so compare
# ipvsadm's view without them.
no_thresholds() { sed -e 's/ -x [0-9]* -y [0-9]*//' -e '/ -s [sm]h /s/,flag-3//' "$1"; }

# In ipvsadm -S -n order (fwmark last, IPv4 before IPv6, TCP < UDP < SCTP,
# then address and port), so the text itself is the expected output.
cat >"$W/rules" <<'EOF'
-A -t 10.0.0.100:0 -s rr -p 600
-a -t 10.0.0.100:0 -r 10.0.0.11:0 -g -w 1
-A -t 10.0.0.100:21 -s rr
-a -t 10.0.0.100:21 -r 10.0.0.11:21 -g -w 1
-a -t 10.0.0.100:21 -r 10.0.0.12:21 -g -w 2
-A -t 10.0.0.100:80 -s wrr -p 300
-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 3
-a -t 10.0.0.100:80 -r 10.0.0.12:80 -g -w 0
-A -t 10.0.0.100:443 -s lc -p 60 -M 255.255.255.0
-a -t 10.0.0.100:443 -r 10.0.0.11:8443 -m -w 1
-a -t 10.0.0.100:443 -r 10.0.0.12:8443 -m -w 1 -x 100 -y 10
-A -t 10.0.0.100:444 -s wlc
-a -t 10.0.0.100:444 -r 10.0.0.11:444 -i -w 1 --tun-type ipip
-a -t 10.0.0.100:444 -r 10.0.0.12:444 -i -w 1 --tun-type gue --tun-port 6080 --tun-nocsum
-a -t 10.0.0.100:444 -r 10.0.0.13:444 -i -w 1 --tun-type gue --tun-port 6081 --tun-csum
-a -t 10.0.0.100:444 -r 10.0.0.14:444 -i -w 1 --tun-type gue --tun-port 6082 --tun-remcsum
-a -t 10.0.0.100:444 -r 10.0.0.15:444 -i -w 1 --tun-type gre --tun-nocsum
-a -t 10.0.0.100:444 -r 10.0.0.16:444 -i -w 1 --tun-type gre --tun-csum
-A -t 10.0.0.100:445 -s lblc
-a -t 10.0.0.100:445 -r 10.0.0.11:445 -g -w 1
-A -t 10.0.0.100:446 -s lblcr
-A -t 10.0.0.100:447 -s dh
-A -t 10.0.0.100:448 -s sh -b sh-fallback,sh-port
-a -t 10.0.0.100:448 -r 10.0.0.11:448 -g -w 5
-A -t 10.0.0.100:449 -s sed
-A -t 10.0.0.100:450 -s nq
-A -t 10.0.0.100:451 -s fo
-A -t 10.0.0.100:452 -s ovf
-A -t 10.0.0.100:453 -s mh -b mh-fallback,mh-port
-A -t 10.0.0.100:454 -s sh -b sh-port,flag-3
-A -t 10.0.0.100:455 -s rr -p 60 -M 0.0.0.0
-a -t 10.0.0.100:455 -r 10.0.0.11:455 -g -w 1
-A -u 10.0.0.100:53 -s rr -o
-a -u 10.0.0.100:53 -r 10.0.0.11:5353 -m -w 2
-a -u 10.0.0.100:53 -r 10.0.0.12:53 -g -w 1
-A --sctp-service 10.0.0.100:3868 -s rr
-a --sctp-service 10.0.0.100:3868 -r 10.0.0.11:3868 -g -w 1
-A -t [fd00::100]:80 -s rr -p 120 -M 64
-a -t [fd00::100]:80 -r [fd00::11]:80 -g -w 1
-a -t [fd00::100]:80 -r [fd00::12]:8080 -m -w 1
-a -t [fd00::100]:80 -r 10.0.0.13:80 -i -w 1 --tun-type ipip
-A -u [fd00::100]:53 -s sh
-a -u [fd00::100]:53 -r [fd00::11]:53 -i -w 1 --tun-type gue --tun-port 6080 --tun-csum
-A -f 1 -s rr
-a -f 1 -r 10.0.0.11:0 -g -w 1
-A -f 2 -6 -s wlc -p 300
-a -f 2 -6 -r [fd00::11]:0 -g -w 1
EOF
no_thresholds "$W/rules" >"$W/rules.ipvsadm"
info "rule set: $(grep -c '^-A' "$W/rules") services, $(grep -c '^-a' "$W/rules") real servers"

step "lvsnode restore into an empty table"
L restore --enable-forwarding <"$W/rules" | sed 's/^/    /'
same_table "$W/rules.ipvsadm" "after lvsnode restore"
D ipvsadm -Ln --thresholds -t 10.0.0.100:443 | grep -E '10.0.0.12:8443 +100 +10 ' >/dev/null || fail "thresholds -x 100 -y 10 missing"
ok "thresholds restored (ipvsadm -Ln --thresholds)"

step "the same restore again makes zero changes"
out=$(L restore --enable-forwarding <"$W/rules")
info "$out"
check "0 changes" test "${out#restore: 0 changes}" != "$out"
same_table "$W/rules.ipvsadm" "after the second restore"

step "lvsnode save is ipvsadm -S -n (plus -x/-y), and round-trips"
L save >"$W/saved"
diff -u "$W/rules" "$W/saved" || fail "save differs from the input rules"
ok "lvsnode save = the input, thresholds included"

step "lvsnode save -> ipvsadm -C; ipvsadm -R"
D ipvsadm -C
D ipvsadm -R <"$W/saved"
same_table "$W/rules.ipvsadm" "ipvsadm -R of lvsnode save"
D ipvsadm -Ln --thresholds -t 10.0.0.100:443 | grep -E '10.0.0.12:8443 +100 +10 ' >/dev/null || fail "ipvsadm -R lost -x/-y"
ok "ipvsadm -R took our -x/-y"

step "ipvsadm -S -n -> lvsnode clear; lvsnode restore"
D ipvsadm -S -n >"$W/theirs"
L clear | sed 's/^/    /'
check "table empty" test -z "$(D ipvsadm -S -n)"
L restore <"$W/theirs" | sed 's/^/    /'
same_table "$W/theirs" "lvsnode restore of ipvsadm -S -n"
L list >"$W/ours.list"
D ipvsadm -Ln >"$W/theirs.list"
diff -u "$W/theirs.list" "$W/ours.list" || fail "list differs from ipvsadm -Ln"
ok "lvsnode list = ipvsadm -Ln ($(wc -l <"$W/ours.list") lines)"

step "an edited input applies only the differences"
sed -e 's/^-a -t 10.0.0.100:21 -r 10.0.0.12:21 -g -w 2$/-a -t 10.0.0.100:21 -r 10.0.0.12:21 -g -w 7/' \
	-e '/^-A -t 10.0.0.100:452 /d' \
	-e 's/^-A -t 10.0.0.100:447 -s dh$/-A -t 10.0.0.100:447 -s rr/' \
	-e '/^-a -t 10.0.0.100:445 /a -a -t 10.0.0.100:445 -r 10.0.0.12:445 -g -w 1' \
	"$W/theirs" >"$W/edited"
out=$(L restore <"$W/edited")
info "$out"
check "4 changes (weight, removed service, scheduler, added real server)" test "${out#restore: 4 changes}" != "$out"
same_table "$W/edited" "after the edited restore"

step "a bad line changes nothing"
D ipvsadm -S -n >"$W/before"
{ head -n 5 "$W/theirs"; echo "-a -t 10.0.0.100:21 -r 10.0.0.19:21 -g -x 1 -y 2"; cat "$W/theirs"; } >"$W/bad"
set +e
L restore <"$W/bad" >"$W/out" 2>"$W/err"
rc=$?
set -e
info "exit $rc: $(cat "$W/err")"
check "exit 2" test "$rc" = 2
check "error names line 6" grep '^lvsnode: line 6: ' "$W/err"
same_table "$W/before" "after the refused restore"

step "--dry-run prints the plan and changes nothing (exit 1: changes pending)"
set +e
L restore --dry-run <"$W/theirs" >"$W/out"
rc=$?
set -e
sed 's/^/    /' "$W/out"
check "exit 1" test "$rc" = 1
same_table "$W/before" "after --dry-run"

step "--keep-extra adds without removing"
printf '%s\n' '-A -t 10.0.0.100:9999 -s rr' '-a -t 10.0.0.100:9999 -r 10.0.0.11:9999 -g -w 1' | L restore --keep-extra | sed 's/^/    /'
check "old services kept" test "$(D ipvsadm -S -n | grep -c '^-A')" = "$(($(grep -c '^-A' "$W/before") + 1))"

step "a kernel refusal in the middle of a batched restore is reported precisely"
# With lo down the kernel refuses every real server (EINVAL) but accepts
# services: both real servers are refused, the service after them is still
# made (the kernel goes on with a batch), and the output says which.
ip netns add lodown
printf '%s\n' '-A -t 10.0.0.100:80 -s rr' '-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 1' \
	'-a -t 10.0.0.100:80 -r 10.0.0.12:80 -g -w 1' '-A -t 10.0.0.100:81 -s rr' >"$W/small"
set +e
in_ns lodown lvsnode controller restore <"$W/small" >"$W/out" 2>"$W/err"
rc=$?
set -e
info "exit $rc: $(cat "$W/err")"
check "exit 1" test "$rc" = 1
check "names the failed change, its line and the count" grep 'applied 2 of 4 changes, then: line 2: add real server 10.0.0.11:80 to TCP 10.0.0.100:80.*(in all: 2 refused)' "$W/err"
check "says the batch went on (the service after the refusals was made)" grep -x 'applied: add service TCP 10.0.0.100:81 (missing)' "$W/out"

step "edit-service keeps -M 0.0.0.0 (/0: one persistence group for all clients)"
L edit-service -t 10.0.0.100:455 -s wrr | sed 's/^/    /'
D ipvsadm -S -n | grep -qx -e '-A -t 10.0.0.100:455 -s wrr -p 60 -M 0.0.0.0' || fail "edit-service rewrote the /0 netmask: $(D ipvsadm -S -n | grep ':455 ')"
ok "ipvsadm -S -n: -A -t 10.0.0.100:455 -s wrr -p 60 -M 0.0.0.0"
