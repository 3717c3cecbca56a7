package agent

import (
	"strings"
	"testing"

	"github.com/lvsnode/lvsnode/internal/netnstest"
)

// A mode change left the sysctls the new plan no longer needs: after TUN,
// `apply --mode dr` left all.rp_filter=0 and the tunnel device's 0; after
// DR, a NAT plan left the ARP sysctls. They are restored as teardown would
// (unless someone changed them since) and reported until they are.
func TestKernelModeChangeRestoresSysctlsNoLongerPlanned(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	vethHost(t)
	ipOut(t, "link", "add", "tun9", "type", "veth", "peer", "name", "tun9p")
	writeProcSys(t, "net.ipv4.conf.all.rp_filter", "1")
	writeProcSys(t, "net.ipv4.conf.tun9.rp_filter", "1")
	a := kernelModeAgent(t)
	o := modeOpts(t, "mode", "tun", "vip", "10.0.0.100")
	if _, _, err := a.Apply(standIn(NewPlan(o), "tun9"), o); err != nil {
		t.Fatal(err)
	}
	writeProcSys(t, "net.ipv4.conf.tun9.rp_filter", "2") // someone else's since
	o = modeOpts(t, "mode", "dr", "vip", "10.0.0.100")
	dr := NewPlan(o)
	// Check before the apply: the stale rows are drift.
	rep, err := a.Check(dr)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || !strings.Contains(strings.Join(rep.Problems(), ";"), "net.ipv4.conf.all.rp_filter") {
		t.Fatalf("stale rp_filter not reported: %v", rep.Problems())
	}
	_, ch, err := a.Apply(dr, o)
	t.Logf("changes %q", ch)
	if err != nil {
		t.Fatal(err)
	}
	if got := procSys(t, "net.ipv4.conf.all.rp_filter"); got != "1" {
		t.Fatalf("all.rp_filter %s after the change to DR, want the site's 1 back", got)
	}
	if procSys(t, "net.ipv4.conf.tun9.rp_filter") != "2" {
		t.Fatal("a value changed by someone else since was overwritten")
	}
	if procSys(t, "net.ipv4.conf.all.arp_ignore") != "1" {
		t.Fatal("DR's ARP sysctl lost")
	}
	// DR -> NAT: the ARP sysctls go back.
	o = modeOpts(t, "mode", "nat", "gateway", "10.0.0.2")
	if _, _, err := a.Apply(NewPlan(o), o); err != nil {
		t.Fatal(err)
	}
	if got := procSys(t, "net.ipv4.conf.all.arp_ignore") + procSys(t, "net.ipv4.conf.all.arp_announce"); got != "00" {
		t.Fatalf("all.arp_ignore,arp_announce %s under NAT, want the original 0 0", got)
	}
	if rep, err := a.Check(NewPlan(o)); err != nil || !rep.OK() {
		t.Fatalf("check: %v %v", err, rep.Problems())
	}
}
