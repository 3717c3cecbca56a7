package agent

// Integration tier for the TUN and NAT modes on the local kernel, which has
// policy rules, routes with advmss, rp_filter and veth but no ipip, fou or
// gre: a veth stands in for the tunnel device where one is needed, and the
// tunnel devices themselves are proven in the lab (lab/scenarios/tun-*.sh).

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/lvsnode/lvsnode/internal/netnstest"
	"github.com/lvsnode/lvsnode/sysctl"
	"github.com/lvsnode/lvsnode/tunnel"
)

func kernelModeAgent(t *testing.T) *Agent {
	t.Helper()
	a := kernelAgent(t)
	tun, err := tunnel.NewKernel()
	if err != nil {
		t.Fatal(err)
	}
	a.Tun = tun
	return a
}

// vethHost gives the namespace eth0 (a veth, peer eth0p) on 10.0.0.11/24 and
// fd00::11/64 with default routes via 10.0.0.1 and fd00::1.
func vethHost(t *testing.T) {
	t.Helper()
	ipOut(t, "link", "add", "eth0", "type", "veth", "peer", "name", "eth0p")
	ipOut(t, "link", "set", "eth0p", "up")
	ipOut(t, "link", "set", "eth0", "up")
	ipOut(t, "addr", "add", "10.0.0.11/24", "dev", "eth0")
	ipOut(t, "addr", "add", "fd00::11/64", "dev", "eth0", "nodad")
	ipOut(t, "route", "add", "default", "via", "10.0.0.1", "dev", "eth0")
	ipOut(t, "-6", "route", "add", "default", "via", "fd00::1", "dev", "eth0", "metric", "1")
}

func TestKernelNATReplacesDefaultRouteAndTeardownRestoresIt(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	vethHost(t)
	a := kernelModeAgent(t)
	o := modeOpts(t, "mode", "nat", "gateway", "10.0.0.2", "gateway", "fd00::2")
	if _, _, err := a.Apply(NewPlan(o), o); err != nil {
		t.Fatal(err)
	}
	if r := ipOut(t, "-4", "route", "show", "default"); strings.TrimSpace(r) != "default via 10.0.0.2 dev eth0 proto 76" {
		t.Fatalf("IPv4 default routes:\n%s", r)
	}
	if r := ipOut(t, "-6", "route", "show", "default"); !strings.HasPrefix(r, "default via fd00::2 dev eth0 proto 76 metric 1 ") || strings.Count(r, "default") != 1 {
		t.Fatalf("IPv6 default routes:\n%s", r)
	}
	if rep, err := a.Check(NewPlan(o)); err != nil || !rep.OK() {
		t.Fatalf("check: %v %v", err, rep.Problems())
	}
	// Redirects refused on the gateway's NIC, read from /proc as the
	// kernel has them; the previous values back after teardown.
	redirects := func() string {
		var out []string
		for _, f := range []string{"ipv4/conf/all", "ipv4/conf/eth0", "ipv6/conf/eth0"} {
			b, err := os.ReadFile("/proc/sys/net/" + f + "/accept_redirects")
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, strings.TrimSpace(string(b)))
		}
		return strings.Join(out, " ")
	}
	if got := redirects(); got != "0 0 0" {
		t.Fatalf("accept_redirects ipv4 all, eth0, ipv6 eth0 = %s after apply, want 0 0 0", got)
	}
	// Idempotent.
	if _, ch, err := a.Apply(NewPlan(o), o); err != nil || len(ch) != 0 {
		t.Fatalf("second apply: %v %q", err, ch)
	}
	teardownRestoresVethDefaults(t, a)
	if got := redirects(); got != "1 1 1" {
		t.Fatalf("accept_redirects after teardown = %s, want the fresh namespace's 1 1 1", got)
	}
}

// secondNIC adds eth1 (a veth, peer eth1p), both up, with addr.
func secondNIC(t *testing.T, addr ...string) {
	t.Helper()
	ipOut(t, "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p")
	ipOut(t, "link", "set", "eth1p", "up")
	ipOut(t, "link", "set", "eth1", "up")
	ipOut(t, append([]string{"addr", "add", addr[0], "dev", "eth1"}, addr[1:]...)...)
}

// teardownRestoresVethDefaults tears down and checks that vethHost's own
// default routes are back.
func teardownRestoresVethDefaults(t *testing.T, a *Agent) {
	t.Helper()
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

// tunStandInHost is vethHost with TUN applied for 10.0.0.100, a veth tun9
// standing in for tunl0.
func tunStandInHost(t *testing.T) (*Agent, Options, Plan) {
	t.Helper()
	vethHost(t)
	ipOut(t, "link", "add", "tun9", "type", "veth", "peer", "name", "tun9p")
	a := kernelModeAgent(t)
	o := modeOpts(t, "mode", "tun", "vip", "10.0.0.100")
	p := standIn(NewPlan(o), "tun9")
	if _, _, err := a.Apply(p, o); err != nil {
		t.Fatal(err)
	}
	return a, o, p
}

func TestKernelNATRefusesAGatewayBehindARouter(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	vethHost(t)
	a := kernelModeAgent(t)
	before := ipOut(t, "-4", "route", "show", "table", "all") + ipOut(t, "-6", "route", "show", "table", "all")
	for _, gw := range []string{"192.0.2.1", "10.0.0.11"} {
		o := modeOpts(t, "mode", "nat", "gateway", gw)
		_, _, err := a.Apply(NewPlan(o), o)
		if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), "--gateway: gateway "+gw) {
			t.Fatalf("%s: want a bad-input error naming --gateway, got %v", gw, err)
		}
		t.Logf("%s: %v", gw, err)
	}
	if after := ipOut(t, "-4", "route", "show", "table", "all") + ipOut(t, "-6", "route", "show", "table", "all"); after != before {
		t.Fatalf("routes changed:\n%s\nwas:\n%s", after, before)
	}
	if _, err := os.Stat(a.StateFile); err == nil {
		t.Fatal("a state file was written")
	}
}

func TestKernelTunWithoutIPIPModuleChangesNothing(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	if _, err := os.Stat("/proc/sys/net/ipv4/conf/tunl0"); err == nil {
		t.Skip("this kernel has ipip: the missing-module path cannot be shown here")
	}
	vethHost(t)
	a := kernelModeAgent(t)
	o := modeOpts(t, "mode", "tun", "vip", "10.0.0.100")
	_, ch, err := a.Apply(NewPlan(o), o)
	if err == nil || !strings.Contains(err.Error(), "modules-load.d") {
		t.Fatalf("want an error saying how to load ipip, got %v", err)
	}
	t.Logf("error: %v", err)
	if len(ch) != 0 || strings.Contains(ipOut(t, "addr", "show", "dev", "lo"), "10.0.0.100") || procSys(t, "net.ipv4.conf.all.arp_ignore") != "0" {
		t.Fatalf("something changed: %q", ch)
	}
}

// standIn makes a TUN plan use devs (veths here) in place of the tunnel
// devices the local kernel lacks, with their rp_filter rows.
func standIn(p Plan, devs ...string) Plan {
	for d, dev := range devs {
		old := p.Tun.Devices[d].Name
		p.Tun.Devices[d].Name = dev
		for i, s := range p.Sysctls {
			if s.Dev == old {
				p.Sysctls[i].Dev = dev
				p.Sysctls[i].Key = sysctl.ConfKey(dev, s.Name)
			}
		}
	}
	return p
}

func TestKernelTunRPFilterRuleAndAdvmssRoutes(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	vethHost(t)
	ipOut(t, "link", "add", "tun9", "type", "veth", "peer", "name", "tun9p") // down, like tunl0
	ipOut(t, "link", "add", "tun6", "type", "veth", "peer", "name", "tun6p") // and ip6tnl0
	writeProcSys(t, "net.ipv4.conf.all.rp_filter", "1")
	writeProcSys(t, "net.ipv4.conf.tun9.rp_filter", "1")
	a := kernelModeAgent(t)
	o := modeOpts(t, "mode", "tun", "vip", "10.0.0.100", "vip", "fd00::100")
	p := standIn(NewPlan(o), "tun9", "tun6")
	if _, _, err := a.Apply(p, o); err != nil {
		t.Fatal(err)
	}
	if got := procSys(t, "net.ipv4.conf.tun9.rp_filter") + procSys(t, "net.ipv4.conf.all.rp_filter"); got != "00" {
		t.Fatalf("rp_filter dev,all = %s, want 0 on both", got)
	}
	if !strings.Contains(ipOut(t, "link", "show", "tun9"), ",UP") {
		t.Fatal("tun9 not up")
	}
	for fam, src := range map[string]string{"-4": "10.0.0.100", "-6": "fd00::100"} {
		if r := ipOut(t, fam, "rule", "show"); !strings.Contains(r, "32700:\tfrom "+src+" lookup 76 proto 76") {
			t.Fatalf("rules %s:\n%s", fam, r)
		}
	}
	if r := ipOut(t, "-4", "route", "show", "table", "76"); !strings.Contains(r, "default via 10.0.0.1 dev eth0 proto 76 advmss 1440") ||
		!strings.Contains(r, "10.0.0.0/24 dev eth0 proto 76 scope link advmss 1440") {
		t.Fatalf("table 76:\n%s", r)
	}
	// The route the kernel picks for a reply from the VIP (the SYN-ACK)
	// carries the advmss; one from the host's own address does not.
	if r := ipOut(t, "-4", "route", "get", "10.0.0.10", "from", "10.0.0.100"); !strings.Contains(r, "advmss 1440") {
		t.Fatalf("route get from the VIP: %s", r)
	}
	if r := ipOut(t, "-4", "route", "get", "10.0.0.10", "from", "10.0.0.11"); strings.Contains(r, "advmss") {
		t.Fatalf("route get from the RIP: %s", r)
	}
	if r := ipOut(t, "-6", "route", "get", "2001:db8::1", "from", "fd00::100"); !strings.Contains(r, "advmss 1400") {
		t.Fatalf("IPv6 route get from the VIP: %s", r)
	}
	if rep, err := a.Check(p); err != nil || !rep.OK() {
		t.Fatalf("check: %v %v", err, rep.Problems())
	}
	// Drift: the rule deleted, a route added to main.
	ipOut(t, "rule", "del", "from", "10.0.0.100", "lookup", "76")
	ipOut(t, "route", "add", "192.168.0.0/16", "via", "10.0.0.254")
	if rep, _ := a.Check(p); rep.OK() {
		t.Fatal("drift not reported")
	}
	if _, ch, err := a.Apply(p, o); err != nil || len(ch) != 2 {
		t.Fatalf("repair: %v %q", err, ch)
	}
	if _, _, err := a.Teardown(nil); err != nil {
		t.Fatal(err)
	}
	if got := procSys(t, "net.ipv4.conf.tun9.rp_filter") + procSys(t, "net.ipv4.conf.all.rp_filter"); got != "11" {
		t.Fatalf("tun9, all rp_filter %s, want the site's 1 back on both", got)
	}
	if strings.Contains(ipOut(t, "rule", "show")+ipOut(t, "-6", "rule", "show"), "lookup 76") ||
		ipOut(t, "route", "show", "table", "76")+ipOut(t, "-6", "route", "show", "table", "76") != "" {
		t.Fatal("rules or table 76 left after teardown")
	}
	if strings.Contains(ipOut(t, "link", "show", "tun9"), ",UP") {
		t.Fatal("tun9 left up")
	}
}

// A foreign rule consulted before lvsnode's MSS rule for the VIP's packets
// (`ip rule add from VIP lookup main pref 100`) defeats the advmss: it is
// reported, and left alone.
func TestKernelTunReportsARuleShadowingTheMSSRule(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	a, _, p := tunStandInHost(t)
	ipOut(t, "rule", "add", "from", "10.0.0.100", "lookup", "main", "pref", "100")
	rep, err := a.Check(p)
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK() || !strings.Contains(strings.Join(rep.Problems(), ";"), "pref 100 from 10.0.0.100/32 lookup 254") {
		t.Fatalf("the shadowing rule is not reported: %v", rep.Problems())
	}
	t.Logf("%v", rep.Problems())
	if !strings.Contains(ipOut(t, "rule", "show"), "100:\tfrom 10.0.0.100 lookup main") {
		t.Fatal("the foreign rule was touched")
	}
}

// After a lost state file, lvsnode's MSS rules show TUN was in use: the
// next apply records the planned devices that are up as its own, so a
// teardown lowers them (it left tunl0 up).
func TestKernelTunLostStateReadoptsTheRaisedDevice(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	a, o, p := tunStandInHost(t)
	if err := os.Remove(a.StateFile); err != nil {
		t.Fatal(err)
	}
	_, ch, err := a.Apply(p, o)
	if err != nil || !slices.Contains(ch, "re-adopted link tun9 up (lvsnode's MSS rules show TUN was in use; no state record)") {
		t.Fatalf("apply after the loss: %v %q", err, ch)
	}
	if _, _, err := a.Teardown(nil); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(ipOut(t, "link", "show", "tun9"), ",UP") {
		t.Fatal("tun9 left up")
	}
}
