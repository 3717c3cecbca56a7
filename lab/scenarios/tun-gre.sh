#!/usr/bin/env bash
# LVS-TUN with gre over IPv4: the director programmed with lvsnode controller
# add-node -i --tun-type gre, the real server with lvsnode agent apply --mode
# tun --tun-type gre (steps and controls in lab/guest/tun.sh).
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"
. "${LAB_GUEST:-/lab/guest}/tun.sh"
tun_scenario gre v4
