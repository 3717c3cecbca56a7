#!/usr/bin/env bash
# lab-timeout: 900
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
# rules is ~5x slower right after a clear). The no-op restore and the list
# then read the same table (lvsnode's namespace; the two tables were just
# found equal), in rounds, the two tools one after the other in each round:
# the figure is each tool's best round (the host is shared and TCG is
# noisy: one slow round says more about the neighbours than the tool), and
# the per-round ratios are printed beside it. The fixed cost of a run
# (process start, socket, family lookup: list of an empty table, and
# --help) is measured the same way. It fails only on wrong results (rule
# counts, tables differing, a no-op restore that changes something).
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
# rounds N NS IPVSADM-ARGS -- LVSNODE-ARGS: N rounds of both commands in
# namespace NS (stdin: $W/rules); sets BEST_I, BEST_L (ms) and RATIOS.
rounds() {
	local n=$1 ns=$2 i t_i t_l ia=() la=()
	shift 2
	while [ "$1" != -- ]; do ia+=("$1"); shift; done
	shift
	la=("$@")
	BEST_I= BEST_L= RATIOS=
	for i in $(seq "$n"); do
		t_i=$(ms in_ns "$ns" "${ia[@]}" <"$W/rules")
		cp "$W/cmd.out" "$W/by-ipvsadm.out"
		t_l=$(ms in_ns "$ns" "${la[@]}" <"$W/rules")
		[ -z "$BEST_I" ] || [ "$t_i" -lt "$BEST_I" ] && BEST_I=$t_i
		[ -z "$BEST_L" ] || [ "$t_l" -lt "$BEST_L" ] && BEST_L=$t_l
		RATIOS+="${RATIOS:+ }$(ratio "$t_l" "$t_i")"
	done
}
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
	local t_ir t_lr t_is t_ln t_il t_ll r_n r_l
	t_ir=$(ms in_ns "ia$n" ipvsadm -R <"$W/rules")
	t_lr=$(ms in_ns "lv$n" lvsnode controller restore <"$W/rules")
	info "$(cat "$W/cmd.out")"
	in_ns "ia$n" ipvsadm -S -n >"$W/by-ipvsadm"
	in_ns "lv$n" ipvsadm -S -n >"$W/by-lvsnode"
	check "ipvsadm -R loaded $rules rules" test "$(wc -l <"$W/by-ipvsadm")" -eq "$rules"
	cmp -s "$W/by-ipvsadm" "$W/by-lvsnode" || fail "the two tables differ"
	ok "same $rules-rule table either way"

	step "no-op restore (lvsnode) and save (ipvsadm -S -n) of the loaded tables, $ROUNDS rounds"
	rounds "$ROUNDS" "lv$n" ipvsadm -S -n -- lvsnode controller restore
	info "$(cat "$W/cmd.out")"
	grep -q '^restore: 0 changes' "$W/cmd.out" || fail "the no-op restore changed something"
	ok "zero changes"
	t_ln=$BEST_L t_is=$BEST_I r_n=$RATIOS

	step "list, $ROUNDS rounds"
	rounds "$ROUNDS" "lv$n" ipvsadm -Ln -- lvsnode controller list
	cmp -s "$W/by-ipvsadm.out" "$W/cmd.out" || fail "lvsnode list differs from ipvsadm -Ln"
	ok "lvsnode list is ipvsadm -Ln, byte for byte"
	t_ll=$BEST_L t_il=$BEST_I r_l=$RATIOS
	ip netns del "ia$n"
	ip netns del "lv$n"

	REPORT+=("$(printf 'BENCH %7d rules  restore    %7d ms  ipvsadm -R    %7d ms  ratio %s' "$rules" "$t_lr" "$t_ir" "$(ratio "$t_lr" "$t_ir")")")
	REPORT+=("$(printf 'BENCH %7d rules  no-op      %7d ms  ipvsadm -S -n %7d ms  ratio %s  (rounds: %s)' "$rules" "$t_ln" "$t_is" "$(ratio "$t_ln" "$t_is")" "$r_n")")
	REPORT+=("$(printf 'BENCH %7d rules  list       %7d ms  ipvsadm -Ln   %7d ms  ratio %s  (rounds: %s)' "$rules" "$t_ll" "$t_il" "$(ratio "$t_ll" "$t_il")" "$r_l")")
}

# fixed: the start-up cost, 20 runs of each command per round, in a
# namespace with an empty table.
fixed() {
	step "fixed cost: 20 runs of each, empty table"
	fresh empty
	: >"$W/rules"
	rounds 3 empty bash -c 'for i in $(seq 20); do ipvsadm -Ln; done' -- bash -c 'for i in $(seq 20); do lvsnode controller list; done'
	REPORT+=("$(printf 'BENCH   empty table  list x20  %7d ms  ipvsadm -Ln   %7d ms  ratio %s  (rounds: %s)' "$BEST_L" "$BEST_I" "$(ratio "$BEST_L" "$BEST_I")" "$RATIOS")")
	rounds 3 empty bash -c 'for i in $(seq 20); do ipvsadm -h; done >/dev/null 2>&1; true' -- bash -c 'for i in $(seq 20); do lvsnode --help; done'
	REPORT+=("$(printf 'BENCH   --help x20            %7d ms  ipvsadm -h    %7d ms  ratio %s  (rounds: %s)' "$BEST_L" "$BEST_I" "$(ratio "$BEST_L" "$BEST_I")" "$RATIOS")")
	REPORT+=("BENCH   binaries: lvsnode $(($(stat -c %s "$(command -v lvsnode)") / 1024)) KiB static; ipvsadm $(($(stat -c %s "$(command -v ipvsadm)") / 1024)) KiB, dynamic (libnl-3, libnl-genl-3, libpopt)")
	ip netns del empty
}

t0=$(now_ms)
fixed
ROUNDS=5
bench 1000
ROUNDS=3
bench 10000
echo
echo "BENCH lvsnode controller vs ipvsadm, same VM run (QEMU TCG), each tool in a fresh netns; ratio = lvsnode / ipvsadm"
echo "BENCH targets: restore <= 0.5, no-op <= 1 (ipvsadm -S -n is its floor), list <= 1"
printf '%s\n' "${REPORT[@]}"
echo "BENCH whole benchmark: $((($(now_ms) - t0) / 1000)) s"
