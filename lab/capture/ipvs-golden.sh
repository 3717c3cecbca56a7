#!/usr/bin/env bash
# Capture what ipvsadm (libipvs) sends over generic netlink, and what the lab
# kernel answers, for the golden-bytes tests of package ipvs: boots the lab
# VM, runs lab/capture/ipvs-golden-guest.sh there (an nlmon device and
# tcpdump around each ipvsadm command), and writes one ipvs/testdata/NAME.hex
# per command: the command as a comment, then one line of hex per netlink
# datagram in the order seen (see ipvs/testdata/README.md).
# Usage: LVSNODE_LAB_CACHE=... bash lab/capture/ipvs-golden.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
out=ipvs/testdata
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
bash lab/run script lab/capture/ipvs-golden-guest.sh 2>&1 | tee "$tmp/run.out"
log=$(sed -n 's/.*console log: //p' "$tmp/run.out" | tail -n 1)
[ -f "$log" ] || { echo "no console log" >&2; exit 1; }
# The console is indented by lab/run and may carry CRs.
tr -d '\r' <"$log" | sed 's/^ *//' | awk -v dir="$tmp" '
	/^@@CAP / { name = $2; next }
	/^@@CAPEND/ { close(dir "/" name ".b64"); print name > (dir "/names"); name = ""; next }
	name != "" && /^# / { print > (dir "/" name ".cmd"); next }
	name != "" { print > (dir "/" name ".b64") }'
n=0
while read -r name; do
	base64 -d "$tmp/$name.b64" >"$tmp/$name.pcap"
	{
		cat "$tmp/$name.cmd"
		# -xx: every byte of each packet (the hex is the first 8 groups of
		# each line). tcpdump cannot decode the NETLINK link type and so
		# prints the bytes twice: keep one copy. Each packet starts with
		# the 16-byte cooked header nlmon adds (packet type, ARPHRD_NETLINK,
		# protocol): drop it, leaving the netlink datagram.
		tcpdump -r "$tmp/$name.pcap" -nn -xx 2>/dev/null | awk '
			function out() {
				if (p == "") return
				n = length(p) / 2
				if (substr(p, 1, n) == substr(p, n + 1)) p = substr(p, 1, n)
				print substr(p, 33)
				p = ""
			}
			/^[0-9]/ { out(); next }
			/^[ \t]+0x[0-9a-f]+:/ {
				sub(/^[ \t]+0x[0-9a-f]+: +/, ""); h = substr($0, 1, 39); gsub(/ /, "", h); p = p h
			}
			END { out() }'
	} >"$out/$name.hex"
	n=$((n + 1))
done <"$tmp/names"
echo "$n captures written to $out"
