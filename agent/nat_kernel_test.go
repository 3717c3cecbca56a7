package agent

import (
	"strings"
	"testing"

	"github.com/lvsnode/lvsnode/internal/netnstest"
)

// A gateway change replaces lvsnode's own default route in its slot: the
// kernel refuses a second route there (EEXIST), which must not be taken
// for "the wanted one is there" before the old one is deleted.
func TestKernelNATGatewayChangeKeepsADefaultRoute(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	vethHost(t)
	a := kernelModeAgent(t)
	o := modeOpts(t, "mode", "nat", "gateway", "10.0.0.3", "gateway", "fd00::3")
	if _, _, err := a.Apply(NewPlan(o), o); err != nil {
		t.Fatal(err)
	}
	o = modeOpts(t, "mode", "nat", "gateway", "10.0.0.2", "gateway", "fd00::2")
	rep, ch, err := a.Apply(NewPlan(o), o)
	t.Logf("changes %q", ch)
	if err != nil || !rep.OK() {
		t.Fatalf("gateway change: %v %v", err, rep.Problems())
	}
	if r := ipOut(t, "-4", "route", "show", "default"); strings.TrimSpace(r) != "default via 10.0.0.2 dev eth0 proto 76" {
		t.Fatalf("IPv4 default routes:\n%s", r)
	}
	if r := ipOut(t, "-6", "route", "show", "default"); !strings.HasPrefix(r, "default via fd00::2 dev eth0 proto 76 metric 1 ") || strings.Count(r, "default") != 1 {
		t.Fatalf("IPv6 default routes:\n%s", r)
	}
	if _, _, err := a.Teardown(nil); err != nil {
		t.Fatal(err)
	}
	if r := ipOut(t, "-4", "route", "show", "default"); strings.TrimSpace(r) != "default via 10.0.0.1 dev eth0" {
		t.Fatalf("IPv4 default after teardown:\n%s", r)
	}
	if r := ipOut(t, "-6", "route", "show", "default"); !strings.HasPrefix(r, "default via fd00::1 dev eth0 metric 1 ") {
		t.Fatalf("IPv6 default after teardown:\n%s", r)
	}
}
