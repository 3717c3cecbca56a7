package agent

import (
	"strings"
	"testing"

	"github.com/lvsnode/lvsnode/internal/netnstest"
)

// Table 76 copies main with advmss. A route through a gateway of the other
// family (`via inet6`, FRR's BGP unnumbered) came out on-link, and a
// multipath route lost its weights. The first cannot be copied through
// this library's route model: table 76 throws it back to main (followed
// without advmss, which is safe); the weights are carried.
func TestKernelMirrorThrowsViaRoutesAndKeepsWeights(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	vethHost(t)
	ipOut(t, "link", "add", "tun9", "type", "veth", "peer", "name", "tun9p")
	secondNIC(t, "10.0.1.11/24")
	ipOut(t, "route", "add", "10.71.0.0/16", "via", "inet6", "fd00::1", "dev", "eth0")
	ipOut(t, "route", "add", "10.72.0.0/16", "nexthop", "via", "10.0.0.1", "dev", "eth0", "weight", "3", "nexthop", "via", "10.0.1.1", "dev", "eth1", "weight", "1")
	a := kernelModeAgent(t)
	o := modeOpts(t, "mode", "tun", "vip", "10.0.0.100")
	p := standIn(NewPlan(o), "tun9")
	if _, _, err := a.Apply(p, o); err != nil {
		t.Fatal(err)
	}
	t76 := ipOut(t, "route", "show", "table", "76")
	if !strings.Contains(t76, "throw 10.71.0.0/16 proto 76") {
		t.Fatalf("the via-inet6 route is not a throw route in table 76:\n%s", t76)
	}
	if !strings.Contains(t76, "nexthop via 10.0.0.1 dev eth0 weight 3") || !strings.Contains(t76, "nexthop via 10.0.1.1 dev eth1 weight 1") {
		t.Fatalf("multipath weights lost:\n%s", t76)
	}
	if r := ipOut(t, "route", "get", "10.71.1.1", "from", "10.0.0.100"); !strings.Contains(r, "via inet6 fd00::1") {
		t.Fatalf("a VIP-sourced packet to the via-inet6 route no longer follows it: %s", r)
	}
	if rep, err := a.Check(p); err != nil || !rep.OK() {
		t.Fatalf("check: %v %v", err, rep.Problems())
	}
	if _, ch, err := a.Apply(p, o); err != nil || len(ch) != 0 {
		t.Fatalf("second apply: %v %q", err, ch)
	}
}
