package controller

import (
	"fmt"
	"github.com/lvsnode/lvsnode/ipvs"
	"strings"
	"testing"
)

// benchRules is the lab benchmark's input: services x 10 DR real servers.
func benchRules(services int) string {
	var b strings.Builder
	for i := 0; i < services; i++ {
		vip := fmt.Sprintf("10.1.%d.%d:80", i/250, i%250+1)
		fmt.Fprintf(&b, "-A -t %s -s wrr\n", vip)
		for r := 1; r <= 10; r++ {
			fmt.Fprintf(&b, "-a -t %s -r 10.2.%d.%d:80 -g -w %d\n", vip, i/250, r, r)
		}
	}
	return b.String()
}

// BenchmarkParseRules parses 11,000 rules (1,000 services x 10 real
// servers); allocs/op divided by 11,000 is the allocations per line.
func BenchmarkParseRules(b *testing.B) {
	in := benchRules(1000)
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if _, err := ParseRules(strings.NewReader(in)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPlanNoop plans a restore of the same 11,000 rules (no change).
func BenchmarkPlanNoop(b *testing.B) {
	want, err := ParseRules(strings.NewReader(benchRules(1000)))
	if err != nil {
		b.Fatal(err)
	}
	cur, _ := ParseRules(strings.NewReader(benchRules(1000)))
	b.ReportAllocs()
	for b.Loop() {
		if p := Plan(cur, want, PlanOptions{}); len(p) != 0 {
			b.Fatal("changes")
		}
	}
}

// BenchmarkList renders ipvsadm -Ln of 11,000 rules.
func BenchmarkList(b *testing.B) {
	tab, err := ParseRules(strings.NewReader(benchRules(1000)))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var out strings.Builder
		if err := List(&out, ipvs.Info{}, tab, ListOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
