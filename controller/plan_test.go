package controller

import (
	"fmt"
	"strings"
	"testing"

	"github.com/lvsnode/lvsnode/ipvs"
)

func mustTable(t *testing.T, s string) Table {
	t.Helper()
	tab, err := ParseRules(strings.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

func ops(plan []Change) string {
	var out []string
	for _, c := range plan {
		out = append(out, c.String())
	}
	return strings.Join(out, "\n")
}

func TestPlan(t *testing.T) {
	base := "-A -t 10.0.0.100:80 -s rr\n-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 1\n-a -t 10.0.0.100:80 -r 10.0.0.12:80 -g -w 1\n"
	cases := []struct {
		name, cur, want, plan string
		keep                  bool
	}{
		{"identical", base, base, "", false},
		{"empty to one", "", "-A -t 10.0.0.100:80 -s rr\n-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 1\n",
			"add service TCP 10.0.0.100:80 (missing)\nadd real server 10.0.0.11:80 to TCP 10.0.0.100:80 (missing)", false},
		{"weight", base, strings.Replace(base, "10.0.0.12:80 -g -w 1", "10.0.0.12:80 -g -w 0", 1),
			"edit real server 10.0.0.12:80 of TCP 10.0.0.100:80 (weight 1 -> 0)", false},
		{"scheduler", base, strings.Replace(base, "-s rr", "-s wlc", 1),
			"edit service TCP 10.0.0.100:80 (scheduler rr -> wlc)", false},
		{"extra real server", base, "-A -t 10.0.0.100:80 -s rr\n-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 1\n",
			"remove real server 10.0.0.12:80 from TCP 10.0.0.100:80 (not in the desired table)", false},
		{"extra kept", base, "-A -t 10.0.0.100:80 -s rr\n-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 1\n", "", true},
		{"extra service", base + "-A -u 10.0.0.100:53 -s rr\n", base,
			"remove service UDP 10.0.0.100:53 (not in the desired table)", false},
		{"method", base, strings.Replace(base, "10.0.0.11:80 -g", "10.0.0.11:80 -i", 1),
			"edit real server 10.0.0.11:80 of TCP 10.0.0.100:80 (method Route -> Tunnel)", false},
		{"tunnel type", "-A -t 10.0.0.100:80\n-a -t 10.0.0.100:80 -r 10.0.0.11:80 -i --tun-type gue --tun-port 6080\n",
			"-A -t 10.0.0.100:80\n-a -t 10.0.0.100:80 -r 10.0.0.11:80 -i --tun-type gue --tun-port 6081\n",
			"edit real server 10.0.0.11:80 of TCP 10.0.0.100:80 (tunnel settings)", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := ops(Plan(mustTable(t, c.cur), mustTable(t, c.want), PlanOptions{KeepExtra: c.keep}))
			if got != c.plan {
				t.Errorf("plan:\n%s\nwant:\n%s", got, c.plan)
			}
		})
	}
}

// The kernel reports Local for a real server that is the director itself;
// that must not look like a difference, or restore would never converge.
func TestPlanLocalMatchesAnyMethod(t *testing.T) {
	want := mustTable(t, "-A -t 10.0.0.100:80\n-a -t 10.0.0.100:80 -r 10.0.0.1:80 -g -w 1\n")
	cur := mustTable(t, "-A -t 10.0.0.100:80\n-a -t 10.0.0.100:80 -r 10.0.0.1:80 -g -w 1\n")
	cur.Services[0].Dests[0].Forward = ipvs.Local
	if p := Plan(cur, want, PlanOptions{}); len(p) != 0 {
		t.Errorf("plan for a Local real server: %s", ops(p))
	}
}

// Applying a plan and planning again must give nothing, from any start.
func TestPlanConverges(t *testing.T) {
	starts := []string{"", canonical, "-A -t 10.0.0.100:80 -s sh\n-a -t 10.0.0.100:80 -r 10.0.0.99:80 -m -w 9\n-A -f 7 -s rr\n"}
	for _, start := range starts {
		f := ipvs.NewFake()
		if _, err := Apply(f, Plan(Table{}, mustTable(t, start), PlanOptions{})); err != nil {
			t.Fatal(err)
		}
		cur, _ := ReadTable(f)
		if _, err := Apply(f, Plan(cur, mustTable(t, canonical), PlanOptions{})); err != nil {
			t.Fatal(err)
		}
		cur, _ = ReadTable(f)
		if p := Plan(cur, mustTable(t, canonical), PlanOptions{}); len(p) != 0 {
			t.Errorf("from %q: second plan not empty:\n%s", start, ops(p))
		}
	}
}

// Services with more real servers than smallService are matched through
// maps, smaller ones by scanning: both give the same plan, each change
// naming its input line, whatever the kernel's order of real servers.
func TestPlanLargeService(t *testing.T) {
	for _, n := range []int{smallService, smallService + 1, 3 * smallService} {
		var cur, want strings.Builder
		cur.WriteString("-A -t 10.0.0.100:80 -s rr\n")
		want.WriteString("-A -t 10.0.0.100:80 -s rr\n")
		for r := n; r >= 1; r-- { // the kernel's order: the newest first
			if r != 2 {
				fmt.Fprintf(&cur, "-a -t 10.0.0.100:80 -r 10.1.0.%d:80 -g -w 1\n", r)
			}
		}
		fmt.Fprintf(&cur, "-a -t 10.0.0.100:80 -r 10.9.0.1:80 -g -w 1\n") // extra
		for r := 1; r <= n; r++ {
			w := 1
			if r == 3 {
				w = 5
			}
			fmt.Fprintf(&want, "-a -t 10.0.0.100:80 -r 10.1.0.%d:80 -g -w %d\n", r, w)
		}
		plan := Plan(mustTable(t, cur.String()), mustTable(t, want.String()), PlanOptions{})
		var got []string
		for _, c := range plan {
			got = append(got, fmt.Sprintf("line %d: %s", c.Line, c))
		}
		wantPlan := "line 3: add real server 10.1.0.2:80 to TCP 10.0.0.100:80 (missing)\n" +
			"line 4: edit real server 10.1.0.3:80 of TCP 10.0.0.100:80 (weight 1 -> 5)\n" +
			"line 0: remove real server 10.9.0.1:80 from TCP 10.0.0.100:80 (not in the desired table)"
		if g := strings.Join(got, "\n"); g != wantPlan {
			t.Errorf("%d real servers: plan\n%s\nwant\n%s", n, g, wantPlan)
		}
		if p := Plan(mustTable(t, want.String()), mustTable(t, want.String()), PlanOptions{}); len(p) != 0 {
			t.Errorf("%d real servers: no-op plan %v", n, p)
		}
	}
}
