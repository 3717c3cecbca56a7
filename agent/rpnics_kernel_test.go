package agent

import (
	"strconv"
	"testing"

	"github.com/lvsnode/lvsnode/internal/netnstest"
)

// effectiveRP is what the kernel applies to dev: max(all, dev).
func effectiveRP(t *testing.T, dev string) int {
	t.Helper()
	all, _ := strconv.Atoi(procSys(t, "net.ipv4.conf.all.rp_filter"))
	own, _ := strconv.Atoi(procSys(t, "net.ipv4.conf."+dev+".rp_filter"))
	return max(all, own)
}

// A strict `all` lowered for the tunnel device leaves the named NICs
// filtering as before (their own value raised to all's old one, or kept if
// already loose), and teardown puts every value back.
func TestKernelTunKeepsNamedNICsReversePathFiltering(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	vethHost(t)
	ipOut(t, "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p")
	ipOut(t, "link", "add", "tun9", "type", "veth", "peer", "name", "tun9p")
	writeProcSys(t, "net.ipv4.conf.all.rp_filter", "1")
	writeProcSys(t, "net.ipv4.conf.eth0.rp_filter", "0")
	writeProcSys(t, "net.ipv4.conf.eth1.rp_filter", "2")
	a := kernelModeAgent(t)
	o := modeOpts(t, "mode", "tun", "vip", "10.0.0.100", "interface", "eth0", "interface", "eth1")
	p := standIn(NewPlan(o), "tun9")
	before := map[string]int{"eth0": effectiveRP(t, "eth0"), "eth1": effectiveRP(t, "eth1")}
	if _, _, err := a.Apply(p, o); err != nil {
		t.Fatal(err)
	}
	if got := effectiveRP(t, "tun9"); got != 0 {
		t.Fatalf("tun9 filtered (%d): unwrapped packets would drop", got)
	}
	for dev, want := range before {
		if got := effectiveRP(t, dev); got != want {
			t.Errorf("%s filters with %d, was %d before lvsnode lowered all", dev, got, want)
		}
	}
	if got := procSys(t, "net.ipv4.conf.eth1.rp_filter"); got != "2" {
		t.Errorf("eth1's own loose 2 changed to %s", got)
	}
	if rep, err := a.Check(p); err != nil || !rep.OK() {
		t.Fatalf("check: %v %v", err, rep.Problems())
	}
	if _, ch, err := a.Apply(p, o); err != nil || len(ch) != 0 {
		t.Fatalf("second apply: %v %q", err, ch)
	}
	if _, _, err := a.Teardown(nil); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"all": "1", "eth0": "0", "eth1": "2"} {
		if got := procSys(t, "net.ipv4.conf."+k+".rp_filter"); got != want {
			t.Errorf("after teardown %s.rp_filter = %s, want %s", k, got, want)
		}
	}
}
