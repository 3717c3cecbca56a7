#!/usr/bin/env bash
# lab-timeout: 300
# HA without sync: the control of ha-failover. The same story (ha_story in
# lab/guest/ha.sh) with the directors' sync: block left out: the upload
# through the master breaks when it dies, and the upload opened while the
# old master was away breaks when the VIP moves back to it.
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"
. "${LAB_GUEST:-/lab/guest}/pair.sh" # ms_until, now_us
. "${LAB_GUEST:-/lab/guest}/ha.sh"
trap ha_on_exit EXIT

ha_story nosync
b_fo=0 b_fb=0
[ "$R1" = ok ] || b_fo=1
[ "$R2" = ok ] || b_fb=1
echo "FIGURE ha control without sync: failover $FO_MS ms; broken connections: failover $b_fo of 1, failback $b_fb of 1"
check "control (a): without sync the master's death broke u1" test "$R1" != ok
check "control (b): without sync the move back broke u2" test "$R2" != ok
