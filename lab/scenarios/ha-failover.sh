#!/usr/bin/env bash
# lab-timeout: 300
# HA with sync: two directors (`lvsnode controller run`, the same services
# and the sync: block) on one bridge with the client and two DR real
# servers, keepalived from Debian with the shipped example
# (examples/keepalived/: VRRPv3 advert_int 0.2, both BACKUP + nopreempt,
# vrrp_startup_delay 5) moving the VIP. The story (ha_story in
# lab/guest/ha.sh): an upload through the master; the master dies (link
# down, every process killed, its namespace and IPVS table gone); the
# backup takes the VIP; a second upload through it; the old master boots
# (lvsnode, then keepalived) and stays backup; the VIP is moved back by
# hand once the old master has the second upload in its table.
# (a) the upload survives the master's death; (b) failback breaks nothing:
# the second upload (opened while the old master was away) and the first if still
# open survive the move back. The control without sync is ha-control.
# FIGUREs: failover time (death to the backup holding the VIP), the move
# back's handover time, broken connections. Timings are figures.
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"
. "${LAB_GUEST:-/lab/guest}/pair.sh" # ms_until, now_us
. "${LAB_GUEST:-/lab/guest}/ha.sh"
trap ha_on_exit EXIT

ha_story sync
check "keepalived accepted the shipped example" ip netns exec director keepalived -t -f "${LAB_GUEST:-/lab/guest}/ha-keepalived.conf"
echo "FIGURE ha failover: the backup holds the VIP $FO_MS ms after the master died (keepalived example: VRRPv3 advert_int 0.2; TCG guest)"
echo "FIGURE ha failback handover: the returned director holds the VIP $FB_MS ms after keepalived stopped on the other"
b_fo=0 b_fb=0 n_fb=1
[ "$R1" = ok ] || b_fo=1
if [ "$OPEN1_FB" = yes ]; then
	n_fb=2
	[ "$R1" = ok ] || b_fb=1
fi
[ "$R2" = ok ] || b_fb=$((b_fb + 1))
echo "FIGURE ha broken connections: failover $b_fo of 1, failback $b_fb of $n_fb (with sync)"
check "(a) u1 survived the master's death" test "$R1" = ok
check "(b) u2, opened while the old master was away, survived the move back" test "$R2" = ok
