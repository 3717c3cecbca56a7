#!/usr/bin/env bash
# LVS-DR over IPv6: lvsnode agent on the real servers, a round-robin DR
# service on the director, requests alternate between rs1 and rs2 through
# IPVS (the steps are in lab/guest/dr.sh, shared with the other family).
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"
. "${LAB_GUEST:-/lab/guest}/dr.sh"
dr_scenario v6
