package agent

// Regression tests for the faults of issue 7, on the fakes. Each is named
// after its fault; kernel_faults_test.go holds the netns counterparts.

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/loopback"
	"github.com/lvsnode/lvsnode/sysctl"
)

// Fault 8: a site's all.arp_ignore=2 (stricter than the 1 needed) was
// lowered to 1.
func TestStricterSiteValuesAreKept(t *testing.T) {
	h := newHost(t)
	h.sys.Poke("net.ipv4.conf.all.arp_ignore", "2")  // also checks the sender's subnet
	h.sys.Poke("net.ipv4.conf.lo.arp_ignore", "8")   // never replies
	h.sys.Poke("net.ipv4.conf.eth0.arp_ignore", "3") // NOT stricter: replies for global-scope addresses, the VIP too
	o := opts(t, "10.0.0.100")
	o.Interfaces = []string{"eth0"}
	o.SysctlFile = filepath.Join(t.TempDir(), "99-lvsnode.conf")
	h.apply(t, o)
	for key, want := range map[string]string{
		"net.ipv4.conf.all.arp_ignore":  "2",
		"net.ipv4.conf.lo.arp_ignore":   "8",
		"net.ipv4.conf.eth0.arp_ignore": "1",
	} {
		if got := h.sys.Value(key); got != want {
			t.Errorf("%s = %s, want %s", key, got, want)
		}
	}
	for _, w := range h.sys.Writes {
		if strings.HasPrefix(w, "net.ipv4.conf.all.arp_ignore=") || strings.HasPrefix(w, "net.ipv4.conf.lo.arp_ignore=") {
			t.Errorf("wrote %s over a stricter value", w)
		}
	}
	// The drop-in must not lower them at the next boot either.
	dropIn, err := os.ReadFile(o.SysctlFile)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(dropIn), "net.ipv4.conf.all.arp_ignore = 2\n") || !strings.Contains(string(dropIn), "net.ipv4.conf.lo.arp_ignore = 8\n") {
		t.Errorf("drop-in would lower the site's values:\n%s", dropIn)
	}
	// Nothing recorded for them: teardown has nothing of lvsnode's to undo.
	st, err := LoadState(h.agent.StateFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st.Sysctls["net.ipv4.conf.all.arp_ignore"]; ok {
		t.Errorf("recorded a change to all.arp_ignore that was not made")
	}
	if again := h.apply(t, o); len(again) != 0 {
		t.Errorf("second apply changed %v", again)
	}
}

// Fault 5: a vanished --interface NIC failed the whole apply, so a deleted
// VIP was never put back. Only the NIC's rows may suffer.
func TestVanishedInterfaceDegradesOnlyItsRow(t *testing.T) {
	h := newHost(t)
	o := opts(t, "10.0.0.100")
	o.Interfaces = []string{"eth0"}
	o.ResyncInterval = time.Hour
	r := startReady(t, h, o)
	h.sys.Drop("net.ipv4.conf.eth0.arp_ignore", "net.ipv4.conf.eth0.arp_announce") // the NIC is gone
	delVIP(t, h, "10.0.0.100/32")
	waitFor(t, "VIP re-added despite the missing NIC", hasVIP(h, "10.0.0.100/32"))
	waitFor(t, "not ready", func() bool { ok, _ := r.d.Ready(); return !ok })
	_, why := r.d.Ready()
	if !strings.Contains(strings.Join(why, "\n"), "eth0.arp_ignore") || strings.Contains(strings.Join(why, "\n"), "10.0.0.100") {
		t.Fatalf("readiness reasons %q: want the NIC's row named, and not the VIP", why)
	}
	// The NIC comes back: its rows are set again and the node is ready.
	h.sys.Poke("net.ipv4.conf.eth0.arp_ignore", "0")
	h.sys.Poke("net.ipv4.conf.eth0.arp_announce", "0")
	waitFor(t, "ready again", func() bool { ok, _ := r.d.Ready(); return ok })
	if h.sys.Value("net.ipv4.conf.eth0.arp_ignore") != "1" {
		t.Fatal("eth0 not set again")
	}
}

// Fault 5, the CLI side: `agent apply` with a NIC that does not exist
// refuses before changing anything (Preflight), as bad input does.
func TestPreflightRefusesMissingInterface(t *testing.T) {
	h := newHost(t)
	o := opts(t, "10.0.0.100")
	o.Interfaces = []string{"eth9"}
	if err := h.agent.Preflight(NewPlan(o)); !errors.Is(err, sysctl.ErrNotExist) || !strings.Contains(err.Error(), "eth9") {
		t.Fatalf("err = %v, want ErrNotExist naming eth9", err)
	}
	o.Interfaces = []string{"eth0"}
	if err := h.agent.Preflight(NewPlan(o)); err != nil {
		t.Fatal(err)
	}
}

// Fault 2: `apply A B; ip route add A/32 dev lo proto static metric 10;
// apply B; teardown` left A's proto-76 route behind, forgotten by the
// state file: apply looked at one route per prefix (the static one),
// judged it foreign and dropped its own from the record.
func TestOrphanedOwnedRouteIsRemovedNotForgotten(t *testing.T) {
	h := newHost(t)
	h.apply(t, opts(t, "10.0.0.1", "10.0.0.2"))
	pf := netip.MustParsePrefix("10.0.0.1/32")
	static := loopback.Route{Dev: "lo", Dst: pf, Protocol: 4, Metric: 10}
	if err := h.nl.AddRoute(static); err != nil {
		t.Fatal(err)
	}
	h.apply(t, opts(t, "10.0.0.2"))
	if _, _, err := h.agent.Teardown(nil); err != nil {
		t.Fatal(err)
	}
	routes, _ := h.nl.Routes("lo")
	if len(routes) != 1 || routes[0].Protocol != 4 || routes[0].Metric != 10 {
		t.Fatalf("routes after teardown %+v, want only the static one", routes)
	}
}

// Fault 6 (IPv4 side): the route check looked for any route to the VIP,
// so a foreign one with another metric hid the loss of the agent's own.
func TestRouteCheckWantsTheAgentsSlot(t *testing.T) {
	h := newHost(t)
	o := opts(t, "10.0.0.1")
	h.apply(t, o)
	pf := netip.MustParsePrefix("10.0.0.1/32")
	if err := h.nl.DelRoute(loopback.Route{Dev: "lo", Dst: pf, Protocol: OwnerProto}); err != nil {
		t.Fatal(err)
	}
	if err := h.nl.AddRoute(loopback.Route{Dev: "lo", Dst: pf, Protocol: 4, Metric: 10}); err != nil {
		t.Fatal(err)
	}
	r, err := h.agent.Check(NewPlan(o))
	if err != nil {
		t.Fatal(err)
	}
	if r.OK() {
		t.Fatalf("deleted proto-76 route not reported: %+v", r.Items)
	}
	changes := h.apply(t, o)
	if !slices.Contains(changes, "added route 10.0.0.1/32 dev lo") {
		t.Fatalf("not repaired: %v", changes)
	}
}

// Fault 6: no IPv6 route is planned (the kernel's own prefix route for a
// /128 does the job), and one an older lvsnode added is removed.
func TestNoIPv6RoutePlannedAndAnOldOneRemoved(t *testing.T) {
	o := opts(t, "fd00::100", "10.0.0.1")
	for _, rt := range NewPlan(o).Routes {
		if rt.Dst.Addr().Is6() {
			t.Fatalf("plan has an IPv6 route %+v", rt)
		}
	}
	h := newHost(t)
	pf := netip.MustParsePrefix("fd00::100/128")
	if err := h.nl.AddRoute(loopback.Route{Dev: "lo", Dst: pf, Protocol: OwnerProto, Metric: 1024}); err != nil {
		t.Fatal(err)
	}
	st := &State{Version: stateVersion, Routes: []netip.Prefix{pf}}
	if err := st.Save(h.agent.StateFile); err != nil {
		t.Fatal(err)
	}
	changes := h.apply(t, o)
	if !slices.Contains(changes, "removed route fd00::100/128 dev lo") {
		t.Fatalf("old IPv6 route kept: %v", changes)
	}
}

// Fault 1: with the state file gone, `apply` said "nothing to change" and
// `teardown` left the lo:lvsnode address, its proto-76 route and the
// sysctls. Items with lvsnode's marks (IPv4 label, route protocol, IPv6
// address protocol) are re-adopted; foreign look-alikes are not.
func TestLostStateFileMarkedItemsAreReadopted(t *testing.T) {
	for _, reapply := range []bool{true, false} {
		h := newHost(t)
		o := opts(t, "10.0.0.1", "fd00::1")
		h.apply(t, o)
		foreign := []loopback.Addr{
			{Dev: "lo", Prefix: netip.MustParsePrefix("10.0.0.9/32"), Label: "lo:other"},
			{Dev: "lo", Prefix: netip.MustParsePrefix("fd00::9/128")},
			{Dev: "lo", Prefix: netip.MustParsePrefix("fd00::8/128"), Protocol: 3},
		}
		for _, a := range foreign {
			if err := h.nl.AddAddr(a); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Remove(h.agent.StateFile); err != nil {
			t.Fatal(err)
		}
		if reapply {
			changes := h.apply(t, o)
			if !slices.Contains(changes, "re-adopted address 10.0.0.1/32 dev lo (lvsnode's mark, no state record)") ||
				!slices.Contains(changes, "re-adopted address fd00::1/128 dev lo (lvsnode's mark, no state record)") ||
				!slices.Contains(changes, "re-adopted route 10.0.0.1/32 dev lo (lvsnode's mark, no state record)") {
				t.Fatalf("reapply after a lost state file: %v", changes)
			}
		}
		_, notes, err := h.agent.Teardown(nil)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"10.0.0.9/32 lo:other", "fd00::8/128 ", "fd00::9/128 "}
		if got := h.addrs(t); !slices.Equal(got, want) {
			t.Fatalf("reapply=%v: addresses after teardown %v, want the foreign ones %v", reapply, got, want)
		}
		if rs, _ := h.nl.Routes("lo"); len(rs) != 0 {
			t.Fatalf("reapply=%v: routes after teardown %+v", reapply, rs)
		}
		if !slices.ContainsFunc(notes, func(n string) bool { return strings.Contains(n, "values from before lvsnode are unknown") }) {
			t.Fatalf("reapply=%v: no note about the sysctls: %v", reapply, notes)
		}
	}
}
