#!/usr/bin/env bash
# LVS-TUN with GUE over IPv4, port 6080: the director programmed with lvsnode
# controller add-node -i --tun-type gue --tun-port 6080, the real server with
# lvsnode agent apply --mode tun --tun-type gue --tun-port 6080 (steps and
# controls in lab/guest/tun.sh).
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"
. "${LAB_GUEST:-/lab/guest}/tun.sh"
tun_scenario gue v4 6080
