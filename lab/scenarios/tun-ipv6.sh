#!/usr/bin/env bash
# LVS-TUN over IPv6 (IPVS sends ip6ip6; ip6tnl0 unwraps): lvsnode controller
# add-node -i on the director, lvsnode agent apply --mode tun on the real
# server (steps and controls in lab/guest/tun.sh).
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"
. "${LAB_GUEST:-/lab/guest}/tun.sh"
tun_scenario ipip v6
