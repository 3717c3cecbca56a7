package agent

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/internal/netnstest"
	"github.com/lvsnode/lvsnode/systemd"
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
	teardownRestoresVethDefaults(t, a)
}

// A gateway the kernel would refuse (a broadcast address), or one whose
// named interface is missing, is lo, or does not reach it directly, is
// bad input found before anything changes: the host keeps its default
// routes, lvsnode's from an earlier apply included.
func TestKernelNATRefusesABadGatewayWithNothingChanged(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	vethHost(t)
	secondNIC(t, "fd01::11/64", "nodad")
	a := kernelModeAgent(t)
	for _, earlier := range []bool{false, true} {
		if earlier {
			o := modeOpts(t, "mode", "nat", "gateway", "10.0.0.2", "gateway", "fd00::2")
			if _, _, err := a.Apply(NewPlan(o), o); err != nil {
				t.Fatal(err)
			}
		}
		before := routesNotKernel(t)
		state, _ := os.ReadFile(a.StateFile)
		for _, gw := range []string{"10.0.0.255", "fe80::1%nosuch", "fd01::1%nosuch", "fd09::1%eth0", "fd01::1%eth0", "fd01::1%lo", "fe80::1%lo"} {
			o := modeOpts(t, "mode", "nat", "gateway", gw)
			_, ch, err := a.Apply(NewPlan(o), o)
			if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), "--gateway: gateway ") || len(ch) != 0 {
				t.Fatalf("%s (after an earlier apply: %v): want a bad-input error naming --gateway and no change, got %v %q", gw, earlier, err, ch)
			}
			t.Logf("%s: %v", gw, err)
		}
		if after := routesNotKernel(t); after != before {
			t.Fatalf("routes changed:\n%s\nwas:\n%s", after, before)
		}
		if now, _ := os.ReadFile(a.StateFile); string(now) != string(state) {
			t.Fatalf("the state file changed:\n%s\nwas:\n%s", now, state)
		}
	}
}

// routesNotKernel lists every route of every table but those the kernel
// adds itself (proto kernel): IPv6 adds the local and prefix routes of an
// address once its link is ready, which may be in the middle of a test
// (seen under load), and lvsnode never adds or removes those.
func routesNotKernel(t *testing.T) string {
	var out []string
	for _, l := range strings.Split(ipOut(t, "-4", "route", "show", "table", "all")+ipOut(t, "-6", "route", "show", "table", "all"), "\n") {
		if !strings.Contains(l, "proto kernel") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A flap of the gateway's NIC flushes lvsnode's IPv4 default route without
// a route event (the kernel sends only the link's): the daemon must take
// the link events of the devices the modes' routes use, or it repairs
// only at the next re-list (an hour here).
func TestKernelNATDaemonRepairsTheDefaultRouteAfterANICFlap(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	vethHost(t)
	ipOut(t, "-6", "route", "del", "default") // its deletion on the flap would be an event
	a := kernelModeAgent(t)
	o := modeOpts(t, "mode", "nat", "gateway", "10.0.0.2")
	o.ResyncInterval = time.Hour
	d := NewDaemon(a, &systemd.Recorder{}, slog.New(slog.NewTextHandler(io.Discard, nil)), o)
	stop := runDaemon(t, d)
	defer stop()
	waitFor(t, "ready", func() bool { ok, _ := d.Ready(); return ok })
	start := time.Now()
	ipOut(t, "link", "set", "eth0", "down")
	ipOut(t, "link", "set", "eth0", "up")
	waitFor(t, "default route back", func() bool {
		return strings.Contains(ipOut(t, "-4", "route", "show", "default"), "default via 10.0.0.2 dev eth0 proto 76")
	})
	t.Logf("default route back %v after the flap", time.Since(start))
}
