#!/usr/bin/env bash
# Review probe (issue 12, c): a discriminating check of mh. The survivor
# already carries a flow of its own (ballast, pinned to it by the router)
# when the upload, pinned to the other director, moves to it. With
# active_active (mh) the survivor picks the upload's real server from the
# flow alone: it survives. Controls: rr, then wlc, with sloppy_tcp=1 by
# hand: the survivor's scheduler state differs (its own flow), so it may
# pick another real server: the upload is reset.
# lab-timeout: 400
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"
. "${LAB_GUEST:-/lab/guest}/pair.sh"
. "${LAB_GUEST:-/lab/guest}/ha.sh"
. "${LAB_GUEST:-/lab/guest}/aa.sh"
trap ha_on_exit EXIT
BYTES=786432 # 12 s at 64k
# the control's scheduler (AA_CTL_SCHED, default rr): state-dependent
aa_config_ctl() { aa_config "$@" | sed "s/^  - service: \(.*\)\$/  - service: \1\n    scheduler: ${AA_CTL_SCHED:-rr}/"; }
pinned() {
	aa_up || fail topology
	cfg=aa_config
	[ "$1" = off ] && cfg=aa_config_ctl
	ha_lv_run 1 "$cfg" "$1" aa_weights_up || fail "dir1"
	ha_lv_run 2 "$cfg" "$1" aa_weights_up || fail "dir2"
	if [ "$1" = off ]; then
		for n in 1 2; do ip netns exec "$(ha_ns "$n")" sh -c 'echo 1 >/proc/sys/net/ipv4/vs/sloppy_tcp'; done
	fi
	info "dir1: $(ip netns exec director ipvsadm -Ln | sed -n 4p | tr -s ' ')"
	# ballast flows come from a second client address, routed by the
	# router through dir2 only
	ip -n client addr add 192.168.1.20/24 dev eth0
	ip -n router rule add from 192.168.1.20 table 100
	ip -n router route add "$LAB_VIP4/32" via 10.0.0.3 dev eth0 table 100
	ip -n router route replace "$LAB_VIP4/32" via 10.0.0.2 dev eth0
	ha_upload_start u "$BYTES" 64k
	wait_for 30 ha_has_new_port "$HA_UPLOAD_PORT" none || fail "upload did not connect"
	up=$(ha_new_port "$HA_UPLOAD_PORT" none)
	wait_for 10 aa_has_conn 1 "$up" || fail "upload not on dir1"
	rs=$(aa_conn_dest 1 "$up")
	info "upload (port $up) on dir1 to $rs"
	# short flows through dir2 until one lands on the upload's real server:
	# a state-dependent scheduler (rr) then picks another one next
	for i in 1 2 3 4; do
		bp=$((41000 + i))
		ip netns exec client curl -s -m 5 --interface 192.168.1.20 --local-port "$bp" -H 'Expect:' --data-binary x "http://$LAB_VIP4:$HA_UPLOAD_PORT/" >/dev/null || true
		d=$(ip netns exec "$(ha_ns 2)" cat /proc/net/ip_vs_conn | awk -v c="$(printf '%04X' "$bp")" '$2 == "C0A80114" && $3 == c { print $6; exit }')
		info "ballast $bp on dir2 to ${d:-none}"
		[ "$d" = "$rs" ] && break
	done
	sleep 2
	aa_lose 1
	wait_for 10 aa_has_conn 2 "$up" || true
	info "dir2's entry for the upload: $(aa_conn_dest 2 "$up") (dir1 chose $rs)"
	R=$(ha_upload_result u "$BYTES")
	echo "RESULT $1: upload $R"
	set +e; ha_lv_stop 1
	ha_lv_stop 2
	topo_reset || echo "topo_reset: $?"
	sleep 1; set -e
}
pinned on
pinned off
AA_CTL_SCHED=wlc pinned off
ok probe-done
