package agent

// Regression tests for the faults of issue 7 on the local kernel, each in a
// fresh network namespace (root only), judged by iproute2 and /proc/sys.

import (
	"os"
	"strings"
	"testing"

	"github.com/lvsnode/lvsnode/internal/netnstest"
)

// Fault 8: a site's all.arp_ignore=2 was lowered to 1.
func TestKernelStricterSiteValuesAreKept(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	writeProcSys(t, "net.ipv4.conf.all.arp_ignore", "2")
	a := kernelAgent(t)
	o := opts(t, "10.0.0.100")
	if _, _, err := a.Apply(NewPlan(o), o); err != nil {
		t.Fatal(err)
	}
	if v := procSys(t, "net.ipv4.conf.all.arp_ignore"); v != "2" {
		t.Fatalf("all.arp_ignore = %s, want the site's 2 kept", v)
	}
	if v := procSys(t, "net.ipv4.conf.lo.arp_ignore"); v != "1" {
		t.Fatalf("lo.arp_ignore = %s, want 1", v)
	}
	if _, _, err := a.Teardown(nil); err != nil {
		t.Fatal(err)
	}
	if v := procSys(t, "net.ipv4.conf.all.arp_ignore"); v != "2" {
		t.Fatalf("after teardown all.arp_ignore = %s, want the site's 2", v)
	}
}

// Fault 2, the repro: a same-prefix static route made apply forget
// the agent's proto-76 route, which teardown then left behind.
func TestKernelOrphanedOwnedRouteIsRemovedNotForgotten(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	a := kernelAgent(t)
	both, one := opts(t, "10.0.0.1", "10.0.0.2"), opts(t, "10.0.0.2")
	if _, _, err := a.Apply(NewPlan(both), both); err != nil {
		t.Fatal(err)
	}
	ipOut(t, "route", "add", "10.0.0.1/32", "dev", "lo", "proto", "static", "metric", "10")
	if _, _, err := a.Apply(NewPlan(one), one); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Teardown(nil); err != nil {
		t.Fatal(err)
	}
	r := ipOut(t, "-4", "route", "show", "table", "main", "10.0.0.1")
	if strings.Contains(r, "proto 76") || !strings.Contains(r, "proto static") || !strings.Contains(r, "metric 10") {
		t.Fatalf("after teardown:\n%s", r)
	}
}

// Fault 6: the route check could not fail. For IPv6 the kernel's own
// `VIP dev lo proto kernel` route satisfied it; the agent now adds no IPv6
// route (the kernel's comes and goes with the address, shown here), and
// checks its IPv4 one by protocol, table, type and metric.
func TestKernelRouteCheckCanFail(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	a := kernelAgent(t)
	o := opts(t, "10.0.0.100", "fd00::100")
	if _, _, err := a.Apply(NewPlan(o), o); err != nil {
		t.Fatal(err)
	}
	if r := ipOut(t, "-6", "route", "show", "table", "all", "proto", "76"); strings.TrimSpace(r) != "" {
		t.Fatalf("an IPv6 route of lvsnode's:\n%s", r)
	}
	ipOut(t, "route", "del", "10.0.0.100/32", "dev", "lo", "proto", "76")
	ipOut(t, "route", "add", "10.0.0.100/32", "dev", "lo", "proto", "static", "metric", "10")
	rep, err := a.Check(NewPlan(o))
	if err != nil {
		t.Fatal(err)
	}
	if p := strings.Join(rep.Problems(), "\n"); !strings.Contains(p, "route 10.0.0.100/32 dev lo") {
		t.Fatalf("deleted proto-76 route not reported (problems %q)", p)
	}
	if _, _, err := a.Apply(NewPlan(o), o); err != nil {
		t.Fatal(err)
	}
	if r := ipOut(t, "-4", "route", "show", "table", "main", "10.0.0.100"); !strings.Contains(r, "10.0.0.100 dev lo proto 76 scope link") {
		t.Fatalf("not repaired:\n%s", r)
	}
	// The kernel's IPv6 route lives exactly as long as the address: the
	// address check covers it.
	if r := ipOut(t, "-6", "route", "show", "table", "main", "fd00::100"); !strings.Contains(r, "fd00::100 dev lo proto kernel") {
		t.Fatalf("no kernel route for the IPv6 VIP:\n%s", r)
	}
	ipOut(t, "-6", "addr", "del", "fd00::100/128", "dev", "lo")
	if r := ipOut(t, "-6", "route", "show", "table", "main", "fd00::100"); strings.TrimSpace(r) != "" {
		t.Fatalf("the kernel's route outlived the address:\n%s", r)
	}
	rep, _ = a.Check(NewPlan(o))
	if p := strings.Join(rep.Problems(), "\n"); !strings.Contains(p, "address fd00::100/128 dev lo: want present, have absent") {
		t.Fatalf("deleted IPv6 VIP not reported: %q", p)
	}
}

// Fault 1, the issue's repro: `apply --vip 10.0.0.1; mv state; apply;
// teardown` said "nothing to change" and left the address, its route and
// the sysctls. The IPv6 VIP is found by its address protocol (IFA_PROTO).
func TestKernelLostStateFileMarkedItemsAreReadopted(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	a := kernelAgent(t)
	o := opts(t, "10.0.0.1", "fd00::1")
	if _, _, err := a.Apply(NewPlan(o), o); err != nil {
		t.Fatal(err)
	}
	ipOut(t, "addr", "add", "fd00::9/128", "dev", "lo") // someone else's
	if err := os.Rename(a.StateFile, a.StateFile+".moved"); err != nil {
		t.Fatal(err)
	}
	_, changes, err := a.Apply(NewPlan(o), o)
	if err != nil || len(changes) != 3 {
		t.Fatalf("apply without the state file: %v %v, want 3 re-adoptions", changes, err)
	}
	_, notes, err := a.Teardown(nil)
	if err != nil {
		t.Fatal(err)
	}
	if addrs := ipOut(t, "addr", "show", "dev", "lo"); strings.Contains(addrs, "10.0.0.1") || strings.Contains(addrs, "fd00::1/") || !strings.Contains(addrs, "fd00::9/128") {
		t.Fatalf("after teardown:\n%s", addrs)
	}
	if r := ipOut(t, "route", "show", "table", "all", "proto", "76"); strings.TrimSpace(r) != "" {
		t.Fatalf("routes left:\n%s", r)
	}
	t.Logf("notes: %q", notes)
	// And straight to teardown, without a re-apply in between.
	if _, _, err := a.Apply(NewPlan(o), o); err != nil {
		t.Fatal(err)
	}
	os.Remove(a.StateFile)
	if _, _, err := a.Teardown(nil); err != nil {
		t.Fatal(err)
	}
	if addrs := ipOut(t, "addr", "show", "dev", "lo"); strings.Contains(addrs, "10.0.0.1") || strings.Contains(addrs, "fd00::1/") {
		t.Fatalf("teardown without a state file left:\n%s", addrs)
	}
}
