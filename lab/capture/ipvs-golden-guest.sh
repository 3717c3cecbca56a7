#!/usr/bin/env bash
# Guest half of lab/capture/ipvs-golden.sh: runs ipvsadm commands one by one
# with an nlmon device capturing the netlink traffic, and prints each capture
# as "@@CAP name", the command, the pcap in base64, then "@@CAPEND"
# (lab/capture/ipvs-golden.sh turns it into hex on the host).
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"

ip link add nlmon0 type nlmon
ip link set nlmon0 up
modprobe ip_vs_pe_sip # --pe sip: the kernel's own autoload does not find it
ip link add sync0 type dummy
ip link set sync0 up multicast on

# cap NAME CMD...: capture the netlink traffic of CMD.
cap() {
	local name=$1 pid
	shift
	tcpdump -Z root -i nlmon0 --immediate-mode -U -w /tmp/cap.pcap 2>/tmp/td.err &
	pid=$!
	wait_for 5 grep -q listening /tmp/td.err || fail "tcpdump did not start"
	"$@" >/tmp/cap.out 2>&1 || { cat /tmp/cap.out; fail "$name: $* failed"; }
	sleep 0.3
	kill -INT "$pid"
	wait "$pid" || true
	echo "@@CAP $name"
	echo "# $*"
	base64 -w 76 /tmp/cap.pcap
	echo "@@CAPEND"
}

cap add-service-tcp ipvsadm -A -t 10.0.0.100:80 -s wrr
cap add-service-persistent ipvsadm -A -t 10.0.0.100:443 -s sh -b sh-port -p 300 -M 255.255.255.0
cap add-service-netmask0 ipvsadm -A -t 10.0.0.100:444 -s rr -p 60 -M 0.0.0.0
cap add-service-udp-ops ipvsadm -A -u 10.0.0.100:53 -s rr -o
cap add-service-sctp ipvsadm -A --sctp-service 10.0.0.100:3868 -s lc
cap add-service-fwmark6 ipvsadm -A -f 7 -6 -s mh -b mh-fallback,mh-port -p 60 -M 64
cap add-service-ipv6 ipvsadm -A -t [fd00::100]:80 -s wlc
cap add-service-pe-sip ipvsadm -A -u 10.0.0.100:5060 -s rr -p 60 --pe sip
cap add-dest-dr ipvsadm -a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 3 -x 100 -y 10
cap add-dest-nat ipvsadm -a -t 10.0.0.100:80 -r 10.0.0.12:8080 -m -w 1
cap add-dest-tun-gue ipvsadm -a -t 10.0.0.100:80 -r 10.0.0.13:80 -i --tun-type gue --tun-port 6080 --tun-csum -w 2
cap add-dest-tun-gre ipvsadm -a -t 10.0.0.100:80 -r 10.0.0.14:80 -i --tun-type gre --tun-nocsum -w 1
cap add-dest-ipip ipvsadm -a -t 10.0.0.100:80 -r 10.0.0.15:80 -i -w 1
cap add-dest-ipv6 ipvsadm -a -t [fd00::100]:80 -r [fd00::11]:80 -g -w 1
cap add-dest-fwmark6 ipvsadm -a -f 7 -6 -r [fd00::12]:0 -g -w 1
cap edit-service ipvsadm -E -t 10.0.0.100:80 -s rr
cap edit-dest ipvsadm -e -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 5
cap list ipvsadm -Ln
cap list-stats ipvsadm -Ln --stats
cap delete-dest ipvsadm -d -t 10.0.0.100:80 -r 10.0.0.12:8080
cap zero-service ipvsadm -Z -t 10.0.0.100:80
cap zero-all ipvsadm -Z
cap set-timeouts ipvsadm --set 1000 110 310
cap get-timeouts ipvsadm -L --timeout
cap start-daemon ipvsadm --start-daemon master --mcast-interface sync0 --syncid 5
cap get-daemon ipvsadm -L --daemon
cap stop-daemon ipvsadm --stop-daemon master
cap start-daemon-backup-full ipvsadm --start-daemon backup --mcast-interface sync0 --syncid 7 --sync-maxlen 1400 --mcast-group 224.0.0.82 --mcast-port 9000 --mcast-ttl 2
cap start-daemon-master6 ipvsadm --start-daemon master --mcast-interface sync0 --syncid 8 --mcast-group ff02::99
cap get-daemon-both ipvsadm -L --daemon
cap stop-daemon-backup ipvsadm --stop-daemon backup
ipvsadm --stop-daemon master
cap delete-service ipvsadm -D -t 10.0.0.100:80
cap delete-service-fwmark6 ipvsadm -D -f 7 -6
cap flush ipvsadm -C
cap list-empty ipvsadm -Ln
