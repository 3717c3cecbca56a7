package agent

// Regression tests for the faults of issue 7 on the local kernel, each in a
// fresh network namespace (root only), judged by iproute2 and /proc/sys.

import (
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
