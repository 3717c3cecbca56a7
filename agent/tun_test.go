package agent

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lvsnode/lvsnode/loopback"
	"github.com/lvsnode/lvsnode/sysctl"
	"github.com/lvsnode/lvsnode/tunnel"
)

// modeHost is a fake real server for the TUN and NAT modes: lo and eth0
// (MTU 1500) on 10.0.0.11/24 and fd00::11/64 with default routes via .1 and
// ::1, the tunnel modules loaded (tunl0, ip6tnl0, gre0, ip6gre0 down) and
// rp_filter strict as a distribution sets it.
type modeHost struct {
	nl  *loopback.Fake
	tun *tunnel.Fake
	sys *sysctl.Fake
	a   *Agent
}

func newModeHost(t *testing.T) *modeHost {
	t.Helper()
	vals := map[string]string{}
	for _, dev := range []string{"all", "lo", "eth0", "default", "tunl0", "gre0"} {
		for _, n := range []string{"arp_ignore", "arp_announce"} {
			vals[sysctl.ConfKey(dev, n).String()] = "0"
		}
		vals[sysctl.ConfKey(dev, "rp_filter").String()] = "1"
		// A host that does not forward accepts redirects (kernel default).
		vals[sysctl.ConfKey(dev, "accept_redirects").String()] = "1"
		vals["net.ipv6.conf."+dev+".accept_redirects"] = "1"
	}
	h := &modeHost{nl: loopback.NewFake("lo", "eth0"), tun: tunnel.NewFake("lo", "eth0"), sys: sysctl.NewFake(vals)}
	for _, k := range []tunnel.Kind{tunnel.KindIPIP, tunnel.KindIP6Tnl, tunnel.KindGRE, tunnel.KindIP6GRE} {
		h.tun.AddLink(tunnel.FallbackName(k), 1480)
	}
	for _, r := range []tunnel.Route{
		{Table: MainTable, Family: 4, Dst: netip.MustParsePrefix("10.0.0.0/24"), Dev: "eth0", Protocol: 2, Scope: 253, Type: 1},
		{Table: MainTable, Family: 4, Dst: netip.MustParsePrefix("0.0.0.0/0"), Gw: netip.MustParseAddr("10.0.0.1"), Dev: "eth0", Protocol: 3, Type: 1},
		{Table: MainTable, Family: 6, Dst: netip.MustParsePrefix("fd00::/64"), Dev: "eth0", Protocol: 2, Metric: 256, Type: 1},
		{Table: MainTable, Family: 6, Dst: netip.MustParsePrefix("::/0"), Gw: netip.MustParseAddr("fd00::1"), Dev: "eth0", Protocol: 3, Metric: 1024, Type: 1},
	} {
		h.tun.Route(r)
	}
	h.a = &Agent{NL: h.nl, Tun: h.tun, Sys: h.sys, StateFile: filepath.Join(t.TempDir(), "state.json")}
	return h
}

func modeOpts(t *testing.T, kv ...string) Options {
	t.Helper()
	var c Config
	for i := 0; i < len(kv); i += 2 {
		v := Value{S: kv[i+1], Where: "--" + kv[i]}
		switch kv[i] {
		case "mode":
			c.Mode = v
		case "vip":
			c.VIPs = append(c.VIPs, v)
		case "tun-type":
			c.TunType = v
		case "tun-port":
			c.TunPort = v
		case "gateway":
			c.Gateways = append(c.Gateways, v)
		case "interface":
			c.Interfaces = append(c.Interfaces, v)
		}
	}
	o, err := c.Options()
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func (h *modeHost) apply(t *testing.T, o Options) []string {
	t.Helper()
	_, ch, err := h.a.Apply(NewPlan(o), o)
	if err != nil {
		t.Fatalf("apply: %v (changes %q)", err, ch)
	}
	return ch
}

func (h *modeHost) table(n, family int) []tunnel.Route {
	var out []tunnel.Route
	for _, r := range h.tun.AllRoutes() {
		if r.Table == n && r.Family == family {
			out = append(out, r)
		}
	}
	return out
}

func TestTunIPIPAppliesVerifiesAndTearsDown(t *testing.T) {
	h := newModeHost(t)
	o := modeOpts(t, "mode", "tun", "vip", "10.0.0.100")
	h.apply(t, o)
	if l, _ := h.tun.Link("tunl0"); !l.Up {
		t.Fatal("tunl0 not up")
	}
	if got := h.sys.Value("net.ipv4.conf.tunl0.rp_filter") + h.sys.Value("net.ipv4.conf.all.rp_filter"); got != "00" {
		t.Fatalf("rp_filter tunl0,all = %s, want 0 on both (the kernel uses the larger)", got)
	}
	if got := h.sys.Value("net.ipv4.conf.eth0.rp_filter"); got != "1" {
		t.Fatalf("eth0 rp_filter %s: the NIC's own value must stay", got)
	}
	want := tunnel.Rule{Src: netip.MustParsePrefix("10.0.0.100/32"), Table: MSSTable, Priority: MSSRulePriority, Protocol: OwnerProto}
	if !slices.Contains(h.tun.AllRules(), want) {
		t.Fatalf("rules %v lack %v", h.tun.AllRules(), want)
	}
	mss := h.table(MSSTable, 4)
	if len(mss) != 2 {
		t.Fatalf("table 76 = %v, want main's two IPv4 routes", mss)
	}
	for _, r := range mss {
		if r.AdvMSS != 1500-20-40 || r.Protocol != OwnerProto {
			t.Fatalf("%v: want advmss 1440 (1500 - ipip 20 - 40), proto 76", r)
		}
	}
	if len(h.table(MSSTable, 6)) != 0 {
		t.Fatal("an IPv4-only plan copied IPv6 routes")
	}
	if ch := h.apply(t, o); len(ch) != 0 {
		t.Fatalf("second apply changed %q", ch)
	}
	r, err := h.a.Check(NewPlan(o))
	if err != nil || !r.OK() {
		t.Fatalf("check: %v %v", err, r.Problems())
	}
	if _, _, err := h.a.Teardown(nil); err != nil {
		t.Fatal(err)
	}
	if len(h.tun.AllRules()) != 0 || len(h.table(MSSTable, 4)) != 0 {
		t.Fatalf("left rules %v, routes %v", h.tun.AllRules(), h.table(MSSTable, 4))
	}
	if l, _ := h.tun.Link("tunl0"); l.Up {
		t.Fatal("tunl0 still up: lvsnode raised it and should lower it")
	}
	if v := h.sys.Value("net.ipv4.conf.tunl0.rp_filter"); v != "1" {
		t.Fatalf("tunl0 rp_filter %s, want the site's 1 back", v)
	}
}

func TestTunRPFilterRowsAllThenDevice(t *testing.T) {
	p := NewPlan(modeOpts(t, "mode", "tun", "tun-type", "gre", "vip", "10.0.0.100", "vip", "10.0.0.101"))
	var rp []string
	for _, s := range p.Sysctls {
		if s.Name == "rp_filter" {
			rp = append(rp, s.Key.String()+"="+s.Value)
		}
	}
	want := []string{"net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.gre0.rp_filter=0"}
	if !slices.Equal(rp, want) {
		t.Fatalf("rp_filter rows %q, want %q (all before the device, once each)", rp, want)
	}
	if p6 := NewPlan(modeOpts(t, "mode", "tun", "vip", "fd00::100")); slices.ContainsFunc(p6.Sysctls, func(s SysctlItem) bool { return s.Name == "rp_filter" }) {
		t.Fatal("an IPv6-only plan sets rp_filter (IPv4 only)")
	}
}

func TestTunGUEOpensPortAndAdvertisesSmallerMSS(t *testing.T) {
	h := newModeHost(t)
	o := modeOpts(t, "mode", "tun", "tun-type", "gue", "tun-port", "6080", "vip", "10.0.0.100", "vip", "fd00::100")
	h.apply(t, o)
	for _, fam := range []int{4, 6} {
		ports, _ := h.tun.FouPorts(fam)
		if len(ports) != 1 || ports[0].Port != 6080 || !ports[0].GUE {
			t.Fatalf("ipv%d fou ports %v", fam, ports)
		}
	}
	for _, c := range []struct{ fam, mss int }{{4, 1500 - 40 - 40}, {6, 1500 - 60 - 60}} {
		for _, r := range h.table(MSSTable, c.fam) {
			if r.AdvMSS != c.mss {
				t.Fatalf("%v: want advmss %d", r, c.mss)
			}
		}
	}
	for _, n := range []string{"tunl0", "ip6tnl0"} {
		if l, _ := h.tun.Link(n); !l.Up {
			t.Fatalf("%s not up: it receives what the FOU port unwraps", n)
		}
	}
	if _, _, err := h.a.Teardown(nil); err != nil {
		t.Fatal(err)
	}
	for _, fam := range []int{4, 6} {
		if ports, _ := h.tun.FouPorts(fam); len(ports) != 0 {
			t.Fatalf("teardown left ipv%d fou ports %v", fam, ports)
		}
	}
}

func TestTunGUELeavesAForeignPortAlone(t *testing.T) {
	h := newModeHost(t)
	if err := h.tun.AddFou(tunnel.Fou{Port: 6080, Family: 4}); err != nil {
		t.Fatal(err)
	}
	o := modeOpts(t, "mode", "tun", "tun-type", "gue", "tun-port", "6080", "vip", "10.0.0.100")
	if _, _, err := h.a.Apply(NewPlan(o), o); err == nil || !strings.Contains(err.Error(), "non-GUE") {
		t.Fatalf("want a refusal naming the non-GUE port, got %v", err)
	}
	if _, _, err := h.a.Teardown(nil); err != nil {
		t.Fatal(err)
	}
	if ports, _ := h.tun.FouPorts(4); len(ports) != 1 {
		t.Fatalf("teardown removed a port lvsnode did not open: %v", ports)
	}
}

func TestTunMSSTableFollowsMain(t *testing.T) {
	h := newModeHost(t)
	o := modeOpts(t, "mode", "tun", "vip", "10.0.0.100")
	h.apply(t, o)
	extra := tunnel.Route{Table: MainTable, Family: 4, Dst: netip.MustParsePrefix("192.168.0.0/16"), Gw: netip.MustParseAddr("10.0.0.254"), Dev: "eth0", Type: 1}
	h.tun.Route(extra)
	r, _ := h.a.Check(NewPlan(o))
	if r.OK() {
		t.Fatal("a route added to main is not reported missing from table 76")
	}
	h.apply(t, o)
	if len(h.table(MSSTable, 4)) != 3 {
		t.Fatalf("table 76 = %v, want 3 routes", h.table(MSSTable, 4))
	}
	if err := h.tun.DelRoute(extra); err != nil {
		t.Fatal(err)
	}
	h.apply(t, o)
	if len(h.table(MSSTable, 4)) != 2 {
		t.Fatalf("table 76 = %v, want the copy of the deleted route gone", h.table(MSSTable, 4))
	}
}

func TestTunRulesAndRoutesGoWithoutTheStateFile(t *testing.T) {
	h := newModeHost(t)
	h.apply(t, modeOpts(t, "mode", "tun", "vip", "10.0.0.100", "vip", "fd00::100"))
	if err := os.Remove(h.a.StateFile); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.a.Teardown(nil); err != nil {
		t.Fatal(err)
	}
	if len(h.tun.AllRules()) != 0 || len(h.table(MSSTable, 4))+len(h.table(MSSTable, 6)) != 0 {
		t.Fatalf("marked items left: rules %v routes %v %v", h.tun.AllRules(), h.table(MSSTable, 4), h.table(MSSTable, 6))
	}
}

func TestTunMissingModuleRefusedWithNothingChanged(t *testing.T) {
	h := newModeHost(t)
	if err := h.tun.DelLink("gre0"); err != nil {
		t.Fatal(err)
	}
	h.tun.Modules[tunnel.KindGRE] = false
	o := modeOpts(t, "mode", "tun", "tun-type", "gre", "vip", "10.0.0.100")
	_, ch, err := h.a.Apply(NewPlan(o), o)
	if err == nil || !strings.Contains(err.Error(), "ip_gre") {
		t.Fatalf("want an error naming the module ip_gre, got %v", err)
	}
	if len(ch) != 0 || len(h.sys.Writes) != 0 || len(h.nl.Log) != 0 {
		t.Fatalf("changed something: %q %q %q", ch, h.sys.Writes, h.nl.Log)
	}
}

func TestTunVIPTeardownRemovesOnlyItsRule(t *testing.T) {
	h := newModeHost(t)
	h.apply(t, modeOpts(t, "mode", "tun", "vip", "10.0.0.100", "vip", "10.0.0.101"))
	if _, _, err := h.a.Teardown([]netip.Addr{netip.MustParseAddr("10.0.0.101")}); err != nil {
		t.Fatal(err)
	}
	rules := h.tun.AllRules()
	if len(rules) != 1 || rules[0].Src != netip.MustParsePrefix("10.0.0.100/32") {
		t.Fatalf("rules %v, want only 10.0.0.100's", rules)
	}
}

func natHost(t *testing.T) *modeHost {
	h := newModeHost(t)
	h.tun.Gets[netip.MustParseAddr("10.0.0.2")] = tunnel.Route{Dev: "eth0", Type: 1}
	h.tun.Gets[netip.MustParseAddr("fd00::2")] = tunnel.Route{Dev: "eth0", Type: 1}
	h.tun.Gets[netip.MustParseAddr("10.9.9.9")] = tunnel.Route{Gw: netip.MustParseAddr("10.0.0.1"), Dev: "eth0", Type: 1}
	h.tun.Gets[netip.MustParseAddr("10.0.0.11")] = tunnel.Route{Dev: "lo", Type: tunnel.RouteTypeLocal}
	return h
}

func defaults(h *modeHost, fam int) []string {
	var out []string
	for _, r := range h.table(MainTable, fam) {
		if r.IsDefault() {
			out = append(out, r.String())
		}
	}
	slices.Sort(out)
	return out
}

func TestNATReplacesTheDefaultRouteAndRestoresIt(t *testing.T) {
	h := natHost(t)
	before4, before6 := defaults(h, 4), defaults(h, 6)
	o := modeOpts(t, "mode", "nat", "gateway", "10.0.0.2", "gateway", "fd00::2")
	h.apply(t, o)
	want4 := []string{"table 254 default via 10.0.0.2 dev eth0 metric 0 proto 76"}
	if got := defaults(h, 4); !slices.Equal(got, want4) {
		t.Fatalf("IPv4 defaults %q, want %q (the metric-0 one replaced)", got, want4)
	}
	// The IPv6 default at metric 1024 stays: lvsnode's at metric 1 wins.
	if got := defaults(h, 6); len(got) != 2 {
		t.Fatalf("IPv6 defaults %q, want lvsnode's and the RA's", got)
	}
	// Redirects refused on the gateway's NIC (IPv4: all and eth0; IPv6: eth0).
	redirects := func() string {
		var s []string
		for _, k := range []string{"net.ipv4.conf.all.accept_redirects", "net.ipv4.conf.eth0.accept_redirects",
			"net.ipv4.conf.lo.accept_redirects", "net.ipv6.conf.eth0.accept_redirects", "net.ipv6.conf.lo.accept_redirects"} {
			s = append(s, h.sys.Value(k))
		}
		return strings.Join(s, " ")
	}
	if got := redirects(); got != "0 0 1 0 1" {
		t.Fatalf("accept_redirects all/eth0/lo, v6 eth0/lo = %s, want 0 0 1 0 1", got)
	}
	if ch := h.apply(t, o); len(ch) != 0 {
		t.Fatalf("second apply changed %q", ch)
	}
	h.sys.Poke("net.ipv6.conf.eth0.accept_redirects", "1")
	if r, _ := h.a.Check(NewPlan(o)); r.OK() {
		t.Fatal("accept_redirects put back to 1 is not reported")
	}
	h.apply(t, o)
	if got := redirects(); got != "0 0 1 0 1" {
		t.Fatalf("after repair: %s", got)
	}
	// Drift: a DHCP client puts its metric-0 default back.
	h.tun.Route(tunnel.Route{Table: MainTable, Family: 4, Dst: netip.MustParsePrefix("0.0.0.0/0"), Gw: netip.MustParseAddr("10.0.0.1"), Dev: "eth0", Protocol: 16, Type: 1})
	if r, _ := h.a.Check(NewPlan(o)); r.OK() {
		t.Fatal("a default route taking precedence is not reported")
	}
	h.apply(t, o)
	if got := defaults(h, 4); !slices.Equal(got, want4) {
		t.Fatalf("after repair: %q", got)
	}
	if _, _, err := h.a.Teardown(nil); err != nil {
		t.Fatal(err)
	}
	if got := defaults(h, 4); !slices.Equal(got, before4) {
		t.Fatalf("after teardown IPv4 defaults %q, want %q", got, before4)
	}
	if got := redirects(); got != "1 1 1 1 1" {
		t.Fatalf("after teardown accept_redirects %s, want the previous 1s", got)
	}
	if got := defaults(h, 6); !slices.Equal(got, before6) {
		t.Fatalf("after teardown IPv6 defaults %q, want %q", got, before6)
	}
}

func TestNATRefusesAGatewayNotDirectlyConnected(t *testing.T) {
	for gw, msg := range map[string]string{
		"10.9.9.9":  "not on a directly connected network",
		"10.0.0.11": "this host's own address",
		"10.7.7.7":  "no route to it",
	} {
		h := natHost(t)
		o := modeOpts(t, "mode", "nat", "gateway", gw)
		_, ch, err := h.a.Apply(NewPlan(o), o)
		if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), msg) || !strings.Contains(err.Error(), "--gateway") {
			t.Fatalf("%s: want a bad-input error naming --gateway and %q, got %v", gw, msg, err)
		}
		if len(ch) != 0 || len(h.tun.Log) != 0 || len(h.sys.Writes) != 0 {
			t.Fatalf("%s: changed %q %q", gw, ch, h.tun.Log)
		}
		if _, err := os.Stat(h.a.StateFile); err == nil {
			t.Fatalf("%s: a state file was written", gw)
		}
	}
}

func TestModeOptionsRefuseMisplacedValues(t *testing.T) {
	for _, c := range []struct {
		kv  []string
		msg string
	}{
		{[]string{"mode", "tun", "vip", "10.0.0.1", "tun-type", "gue"}, "needs --tun-port"},
		{[]string{"mode", "tun", "vip", "10.0.0.1", "tun-port", "6080"}, "gue only"},
		{[]string{"mode", "tun", "vip", "10.0.0.1", "tun-type", "vxlan"}, "unknown tunnel type"},
		{[]string{"mode", "tun", "vip", "10.0.0.1", "tun-type", "gue", "tun-port", "70000"}, "1-65535"},
		{[]string{"mode", "dr", "vip", "10.0.0.1", "tun-type", "gre"}, "tun-type \"gre\" applies to mode tun only"},
		{[]string{"mode", "dr", "vip", "10.0.0.1", "gateway", "10.0.0.2"}, "gateway \"10.0.0.2\" applies to mode nat only"},
		{[]string{"mode", "nat", "vip", "10.0.0.1", "gateway", "10.0.0.2"}, "binds no VIP"},
		{[]string{"mode", "nat"}, "needs --gateway"},
		{[]string{"mode", "nat", "gateway", "10.0.0.2", "gateway", "10.0.0.3"}, "a second IPv4 gateway"},
		{[]string{"mode", "nat", "gateway", "fe80::1"}, "link-local"},
	} {
		var cfg Config
		for i := 0; i < len(c.kv); i += 2 {
			v := Value{S: c.kv[i+1], Where: "--" + c.kv[i]}
			switch c.kv[i] {
			case "mode":
				cfg.Mode = v
			case "vip":
				cfg.VIPs = append(cfg.VIPs, v)
			case "tun-type":
				cfg.TunType = v
			case "tun-port":
				cfg.TunPort = v
			case "gateway":
				cfg.Gateways = append(cfg.Gateways, v)
			}
		}
		_, err := cfg.Options()
		if !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("%v: want bad input with %q, got %v", c.kv, c.msg, err)
		}
	}
}

func TestNATGatewayChangeReplacesLvsnodesRouteInItsSlot(t *testing.T) {
	h := natHost(t)
	h.tun.Gets[netip.MustParseAddr("10.0.0.3")] = tunnel.Route{Dev: "eth0", Type: 1}
	h.apply(t, modeOpts(t, "mode", "nat", "gateway", "10.0.0.3"))
	h.apply(t, modeOpts(t, "mode", "nat", "gateway", "10.0.0.2"))
	want := []string{"table 254 default via 10.0.0.2 dev eth0 metric 0 proto 76"}
	if got := defaults(h, 4); !slices.Equal(got, want) {
		t.Fatalf("IPv4 defaults %q, want %q", got, want)
	}
	if _, _, err := h.a.Teardown(nil); err != nil {
		t.Fatal(err)
	}
	if got := defaults(h, 4); !slices.Equal(got, []string{"table 254 default via 10.0.0.1 dev eth0 metric 0 proto 3"}) {
		t.Fatalf("after teardown %q", got)
	}
}

// The kernel refusing lvsnode's default route leaves the one in its slot
// in place, and the state file does not claim it was replaced.
func TestNATRouteRefusedByTheKernelLeavesTheDefaultRoute(t *testing.T) {
	h := natHost(t)
	before := defaults(h, 4)
	h.tun.Fail = map[string]error{"ReplaceRoute": errors.New("invalid argument")}
	o := modeOpts(t, "mode", "nat", "gateway", "10.0.0.2")
	if _, _, err := h.a.Apply(NewPlan(o), o); err == nil {
		t.Fatal("no error")
	}
	if got := defaults(h, 4); !slices.Equal(got, before) {
		t.Fatalf("IPv4 defaults %q, want %q", got, before)
	}
	if st, err := loadOrNew(h.a.StateFile); err != nil || st.NAT != nil && len(st.NAT.Replaced) > 0 {
		t.Fatalf("state remembers a replaced route: %v %+v", err, st.NAT)
	}
}

// `agent apply --mode tun` on a host whose ipip module is not loaded yet:
// tunl0 and its sysctls appear only when Apply asks for the device, so
// Preflight must not refuse them.
func TestPreflightLeavesTunnelDevicesToApply(t *testing.T) {
	vals := map[string]string{}
	for _, dev := range []string{"all", "lo", "default"} {
		for _, n := range []string{"arp_ignore", "arp_announce", "rp_filter"} {
			vals[sysctl.ConfKey(dev, n).String()] = "0"
		}
	}
	a := &Agent{NL: loopback.NewFake("lo"), Tun: tunnel.NewFake("lo"), Sys: sysctl.NewFake(vals), StateFile: filepath.Join(t.TempDir(), "s.json")}
	p := NewPlan(modeOpts(t, "mode", "tun", "vip", "10.0.0.100"))
	if err := a.Preflight(p); err != nil {
		t.Fatalf("preflight: %v", err)
	}
	p = NewPlan(modeOpts(t, "mode", "tun", "vip", "10.0.0.100", "interface", "eth9"))
	if err := a.Preflight(p); !errors.Is(err, sysctl.ErrNotExist) || !strings.Contains(err.Error(), "eth9") {
		t.Fatalf("a missing --interface: %v", err)
	}
}

// A teardown with no state file after TUN was in use names what the mode
// may have opened (no mark on it), instead of only the ARP sysctls.
func TestTunTeardownWithoutStateNamesWhatItLeaves(t *testing.T) {
	for _, vipGone := range []bool{false, true} {
		h := newModeHost(t)
		h.apply(t, modeOpts(t, "mode", "tun", "vip", "10.0.0.100", "tun-type", "gue", "tun-port", "6080"))
		if err := os.Remove(h.a.StateFile); err != nil {
			t.Fatal(err)
		}
		if vipGone { // only the rules are left to say TUN was in use
			if err := h.nl.DelAddr(loopback.Addr{Dev: "lo", Prefix: netip.MustParsePrefix("10.0.0.100/32")}); err != nil {
				t.Fatal(err)
			}
			rs, _ := h.nl.Routes("lo")
			for _, r := range rs {
				h.nl.DelRoute(r)
			}
		}
		_, notes, err := h.a.Teardown(nil)
		if err != nil {
			t.Fatal(err)
		}
		all := strings.Join(notes, "\n")
		if !strings.Contains(all, "tunl0 up") || !strings.Contains(all, "fou port 6080 gue ipv4") || !strings.Contains(all, "rp_filter") {
			t.Fatalf("VIP gone %v: notes %q do not name tunl0, the FOU port and rp_filter", vipGone, notes)
		}
	}
}
