#!/usr/bin/env bash
# Review probe (issue 12, c): is aa-ecmp's "same real server (mh)" check
# discriminating? The control the scenario lacks: without active_active
# (wlc) but with sloppy_tcp=1 set by hand on both directors.
# lab-timeout: 400
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"
. "${LAB_GUEST:-/lab/guest}/pair.sh"
. "${LAB_GUEST:-/lab/guest}/ha.sh"
. "${LAB_GUEST:-/lab/guest}/aa.sh"
trap ha_on_exit EXIT
aa_lv_start() {
	ha_lv_run "$1" aa_config "$2" aa_weights_up || return 1
	ip netns exec "$(ha_ns "$1")" sh -c 'echo 1 >/proc/sys/net/ipv4/vs/sloppy_tcp'
}
for i in 1 2; do
	step "run $i: wlc (no active_active), sloppy_tcp=1 by hand"
	aa_story off
	echo "RESULT run $i: survived=$AA_R same_rs=$AA_SAME stall=${AA_STALL_MS}ms"
	ha_lv_stop 1 || true
	ha_lv_stop 2 || true
	topo_reset
done
ok probe-done
