#!/usr/bin/env bash
# lab-timeout: 400
# Active-active directors behind ECMP (issue 12): a router with a multipath
# route to the VIP over two directors (fib_multipath_hash_policy=1), both
# running `lvsnode controller run` with the same director.yaml and
# active_active: true (every service on mh with mh-fallback,mh-port,
# sloppy_tcp=1); DR real servers answer the client straight through the
# router. A slow
# upload through the VIP; the director carrying it (ipvsadm -Lnc) is lost:
# link down and its nexthop removed from the router's route. The other
# director never saw the SYN: it must schedule the mid-stream packets to
# the same real server, and the upload must complete, with no connection
# sync. Control: the same file without active_active (wlc, sloppy_tcp=0):
# the upload breaks. Topology and story: lab/guest/aa.sh.
# The single upload cannot tell mh from wlc (idle directors make the same
# first choice): a pinned story (aa_pinned) gives the survivor a flow of
# its own on the upload's real server first; with mh the moved upload
# survives, with wlc and sloppy_tcp=1 by hand (control) it is reset.
# Then, on the survivor, by hand: why mh-fallback (a real server at weight
# 0 keeps its slots; without the flag the flows hashed there are lost).
# FIGUREs: connections broken when the director is lost (aim 0), how long
# the flow stalled (loss to the next acknowledged byte). Timings are figures.
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"
. "${LAB_GUEST:-/lab/guest}/pair.sh" # now_us
. "${LAB_GUEST:-/lab/guest}/ha.sh"
. "${LAB_GUEST:-/lab/guest}/aa.sh"
trap ha_on_exit EXIT

step "active_active: true on both directors"
aa_story on
for n in 1 2; do
	check "dir$n: sloppy_tcp=1" test "$(ns_sysctl "$(ha_ns "$n")" net.ipv4.vs.sloppy_tcp)" = 1
	check "dir$n: lvsnode put the service on mh with mh-fallback,mh-port" aa_sched_is "$n" "mh (mh-fallback,mh-port)"
done
on_r=$AA_R on_stall=$AA_STALL_MS on_same=$AA_SAME
broken=0
[ "$on_r" = ok ] || broken=1
echo "FIGURE aa ecmp: $broken of 1 connections broken when the director carrying it was lost (active_active; aim 0)"
echo "FIGURE aa ecmp stall: the upload stalled $on_stall ms after its director was lost (link down + nexthop removed; TCG guest)"
check "the survivor scheduled the flow to the same real server (mh)" test "$on_same" = yes
check "the upload survived the loss of its director" test "$on_r" = ok

step "mh-fallback: a real server at weight 0 keeps its slots in mh's table"
aa_fallback "$((3 - AA_LOST))" || fail "the by-hand mh service"
echo "FIGURE aa mh weight 0: $AA_FB_NO of $AA_FB_N new connections failed with mh-port alone, $AA_FB_YES with mh-fallback,mh-port"
check "control: without mh-fallback some new connections found no real server" test "$AA_FB_NO" -gt 0
check "with mh-fallback (what active_active sets) every one was served" test "$AA_FB_YES" = 0

step "mh, not the survivor's state: the survivor carries a flow of its own on the upload's real server"
ha_lv_stop 1 || true
ha_lv_stop 2 || true
topo_reset
aa_pinned on
check "the survivor scheduled the pinned upload to the same real server" test "$AA_PIN_SAME" = yes
check "the pinned upload survived the loss of its director" test "$AA_PIN_R" = ok
step "control: wlc with sloppy_tcp=1 (no mh), the same story"
ha_lv_stop 1 || true
ha_lv_stop 2 || true
topo_reset
aa_pinned wlc
check "control: the survivor's wlc sent the moved upload to the other real server" test "$AA_PIN_SAME" = no
check "control: the pinned upload broke with wlc and sloppy_tcp=1" test "$AA_PIN_R" != ok

step "control: the same file without active_active"
ha_lv_stop 1 || true
ha_lv_stop 2 || true
topo_reset
aa_story off
for n in 1 2; do
	check "control: dir$n: sloppy_tcp=0 (untouched)" test "$(ns_sysctl "$(ha_ns "$n")" net.ipv4.vs.sloppy_tcp)" = 0
done
cbroken=0
[ "$AA_R" = ok ] || cbroken=1
echo "FIGURE aa ecmp control: $cbroken of 1 connections broken without active_active (wlc, sloppy_tcp=0)"
check "control: the survivor made no entry for the mid-stream flow" test "$AA_SAME" = none
check "control: the upload broke without active_active" test "$AA_R" != ok
