#!/usr/bin/env bash
# lab-timeout: 600
# Benchmark (figures and ratios, not a timed pass/fail) of lvsnode's
# controller against ipvsadm on the same kernel, in one VM run, at 11,000
# rules (1,000 services x 10 real servers) and 110,000 rules (10,000 x 10):
#   first restore   lvsnode controller restore  vs  ipvsadm -R
#   no-op restore   lvsnode controller restore  vs  ipvsadm -S -n (its floor:
#                   a restore that changes nothing must read the whole table)
#   list            lvsnode controller list     vs  ipvsadm -Ln
# Each tool loads its table in a fresh network namespace of its own: each
# namespace has its own IPVS table and its own trash of deleted real
# servers, which the kernel searches on every add (ipvsadm -R of 110,000
# rules is ~5x slower right after a clear). It fails only on wrong results
# (rule counts, tables differing, a no-op restore that changes something).
set -euo pipefail
. "${LAB_GUEST:-/lab/guest}/topo.sh"

W=${LAB_WORK:-/tmp}

# ms CMD...: run CMD (stdout to $W/cmd.out), print its wall time in ms.
ms() {
	local t0=${EPOCHREALTIME/./} t1
	"$@" >"$W/cmd.out"
	t1=${EPOCHREALTIME/./}
	echo $(((t1 - t0) / 1000))
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "inf" }'; }
fresh() {
	ip netns add "$1"
	ip -n "$1" link set lo up
}

REPORT=()
# bench SERVICES: the three comparisons at SERVICES x 10 real servers.
bench() {
	local n=$1
	local rules=$((n * 11))
	step "rules: $n DR services x 10 real servers ($rules rules)"
	awk -v n="$n" 'BEGIN {
		for (i = 0; i < n; i++) {
			vip = sprintf("10.%d.%d.%d:80", 1 + int(i / 62500), int(i / 250) % 250, i % 250 + 1)
			printf "-A -t %s -s wrr\n", vip
			for (r = 1; r <= 10; r++) printf "-a -t %s -r 10.200.%d.%d:80 -g -w %d\n", vip, int(i / 250) % 250, r, r
		}
	}' >"$W/rules"
	check "$rules rules" test "$(wc -l <"$W/rules")" -eq "$rules"

	step "first restore, each tool in a fresh namespace"
	fresh "ia$n"
	fresh "lv$n"
	local t_ir t_lr t_is t_ln t_il t_ll
	t_ir=$(ms in_ns "ia$n" ipvsadm -R <"$W/rules")
	t_lr=$(ms in_ns "lv$n" lvsnode controller restore <"$W/rules")
	info "$(cat "$W/cmd.out")"
	in_ns "ia$n" ipvsadm -S -n >"$W/by-ipvsadm"
	in_ns "lv$n" ipvsadm -S -n >"$W/by-lvsnode"
	check "ipvsadm -R loaded $rules rules" test "$(wc -l <"$W/by-ipvsadm")" -eq "$rules"
	cmp -s "$W/by-ipvsadm" "$W/by-lvsnode" || fail "the two tables differ"
	ok "same $rules-rule table either way"

	step "no-op restore (lvsnode) and save (ipvsadm -S -n) of the loaded tables"
	t_is=$(ms in_ns "ia$n" ipvsadm -S -n)
	t_ln=$(ms in_ns "lv$n" lvsnode controller restore <"$W/rules")
	info "$(cat "$W/cmd.out")"
	grep -q '^restore: 0 changes' "$W/cmd.out" || fail "the no-op restore changed something"
	ok "zero changes"

	step "list"
	t_il=$(ms in_ns "ia$n" ipvsadm -Ln)
	cp "$W/cmd.out" "$W/list-ipvsadm"
	t_ll=$(ms in_ns "lv$n" lvsnode controller list)
	cmp -s "$W/list-ipvsadm" "$W/cmd.out" || fail "lvsnode list differs from ipvsadm -Ln"
	ok "lvsnode list is ipvsadm -Ln, byte for byte"
	ip netns del "ia$n"
	ip netns del "lv$n"

	REPORT+=("$(printf 'BENCH %7d rules  restore    %7d ms  ipvsadm -R    %7d ms  ratio %s' "$rules" "$t_lr" "$t_ir" "$(ratio "$t_lr" "$t_ir")")")
	REPORT+=("$(printf 'BENCH %7d rules  no-op      %7d ms  ipvsadm -S -n %7d ms  ratio %s' "$rules" "$t_ln" "$t_is" "$(ratio "$t_ln" "$t_is")")")
	REPORT+=("$(printf 'BENCH %7d rules  list       %7d ms  ipvsadm -Ln   %7d ms  ratio %s' "$rules" "$t_ll" "$t_il" "$(ratio "$t_ll" "$t_il")")")
}

t0=$(now_ms)
bench 1000
bench 10000
echo
echo "BENCH lvsnode controller vs ipvsadm, same VM run (QEMU TCG), each tool in a fresh netns; ratio = lvsnode / ipvsadm"
echo "BENCH targets: restore <= 0.5, no-op <= 1 (ipvsadm -S -n is its floor), list <= 1"
printf '%s\n' "${REPORT[@]}"
echo "BENCH whole benchmark: $((($(now_ms) - t0) / 1000)) s"
