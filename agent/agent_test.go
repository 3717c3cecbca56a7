package agent

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lvsnode/lvsnode/loopback"
	"github.com/lvsnode/lvsnode/sysctl"
)

// host is a fake real server: lo and eth0, every ARP sysctl at the kernel
// default 0, and one shared log of the order in which things changed.
type host struct {
	nl    *loopback.Fake
	sys   *sysctl.Fake
	order *orderLog
	stuck *atomic.Bool // sysctl writes are accepted and forgotten
	agent *Agent
}

type orderLog struct {
	mu sync.Mutex
	l  []string
}

func (o *orderLog) add(s string) { o.mu.Lock(); o.l = append(o.l, s); o.mu.Unlock() }
func (o *orderLog) get() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.l)
}

type orderedSys struct {
	*sysctl.Fake
	order *orderLog
	stuck *atomic.Bool
}

func (o orderedSys) Set(k sysctl.Key, v string) error {
	if o.stuck.Load() {
		return nil // like a value another daemon resets at once
	}
	o.order.add("sysctl " + k.String())
	return o.Fake.Set(k, v)
}

type orderedNL struct {
	*loopback.Fake
	order *orderLog
}

func (o orderedNL) AddAddr(a loopback.Addr) error {
	o.order.add("addr " + a.Prefix.String())
	return o.Fake.AddAddr(a)
}

func newHost(t *testing.T) *host {
	t.Helper()
	vals := map[string]string{}
	for _, dev := range []string{"all", "lo", "eth0", "default"} {
		for _, n := range []string{"arp_ignore", "arp_announce"} {
			vals[sysctl.ConfKey(dev, n).String()] = "0"
		}
	}
	h := &host{nl: loopback.NewFake("lo", "eth0"), sys: sysctl.NewFake(vals), order: &orderLog{}, stuck: &atomic.Bool{}}
	h.agent = &Agent{
		NL:        orderedNL{h.nl, h.order},
		Sys:       orderedSys{h.sys, h.order, h.stuck},
		StateFile: filepath.Join(t.TempDir(), "state.json"),
	}
	return h
}

func opts(t *testing.T, vips ...string) Options {
	t.Helper()
	c := Config{}
	for _, v := range vips {
		c.VIPs = append(c.VIPs, Value{S: v, Where: "test"})
	}
	o, err := c.Options()
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func (h *host) apply(t *testing.T, o Options) []string {
	t.Helper()
	r, changes, err := h.agent.Apply(NewPlan(o), o)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	if !r.OK() {
		t.Fatalf("apply returned an unverified report without error: %v", r.Problems())
	}
	return changes
}

func (h *host) addrs(t *testing.T) []string {
	t.Helper()
	as, err := h.nl.Addrs("lo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range as {
		out = append(out, a.Prefix.String()+" "+a.Label)
	}
	slices.Sort(out)
	return out
}

func TestApplyWritesEverySysctlBeforeAnyVIP(t *testing.T) {
	h := newHost(t)
	h.apply(t, opts(t, "10.0.0.100", "10.0.0.101"))
	order := h.order.get()
	firstAddr := slices.IndexFunc(order, func(s string) bool { return strings.HasPrefix(s, "addr ") })
	lastSysctl := -1
	for i, s := range order {
		if strings.HasPrefix(s, "sysctl ") {
			lastSysctl = i
		}
	}
	if firstAddr < 0 || lastSysctl < 0 || lastSysctl > firstAddr {
		t.Fatalf("ARP flux window: order %v", order)
	}
	if got := h.sys.Value("net.ipv4.conf.all.arp_ignore"); got != "1" {
		t.Fatalf("all.arp_ignore = %s", got)
	}
	if got := h.sys.Value("net.ipv4.conf.lo.arp_announce"); got != "2" {
		t.Fatalf("lo.arp_announce = %s", got)
	}
	if got := h.sys.Value("net.ipv4.conf.eth0.arp_ignore"); got != "0" {
		t.Fatalf("eth0 was not asked for but changed to %s", got)
	}
}

func TestApplyTwiceChangesNothing(t *testing.T) {
	h := newHost(t)
	o := opts(t, "10.0.0.100", "fd00::100")
	if first := h.apply(t, o); len(first) == 0 {
		t.Fatal("first apply changed nothing")
	}
	logLen := len(h.nl.Log)
	if again := h.apply(t, o); len(again) != 0 {
		t.Fatalf("second apply changed %v", again)
	}
	if len(h.nl.Log) != logLen {
		t.Fatalf("second apply touched netlink: %v", h.nl.Log[logLen:])
	}
	want := []string{"10.0.0.100/32 lo:lvsnode", "fd00::100/128 "}
	if got := h.addrs(t); !slices.Equal(got, want) {
		t.Fatalf("addresses %v, want %v", got, want)
	}
}

func TestApplyIPv6OnlyNeedsNoARPSysctls(t *testing.T) {
	h := newHost(t)
	h.apply(t, opts(t, "fd00::100"))
	if len(h.sys.Writes) != 0 {
		t.Fatalf("IPv6-only plan wrote sysctls: %v", h.sys.Writes)
	}
}

func TestApplyInterfaceFlagSetsNIC(t *testing.T) {
	h := newHost(t)
	o := opts(t, "10.0.0.100")
	o.Interfaces = []string{"eth0"}
	h.apply(t, o)
	if h.sys.Value("net.ipv4.conf.eth0.arp_ignore") != "1" || h.sys.Value("net.ipv4.conf.eth0.arp_announce") != "2" {
		t.Fatalf("eth0 not set: %v", h.sys.Values)
	}
}

func TestApplyMissingInterfaceChangesNothing(t *testing.T) {
	h := newHost(t)
	o := opts(t, "10.0.0.100")
	o.Interfaces = []string{"eth9"}
	err := h.agent.Preflight(NewPlan(o)) // what `agent apply` runs first
	if !errors.Is(err, sysctl.ErrNotExist) {
		t.Fatalf("err = %v, want ErrNotExist", err)
	}
	if len(h.sys.Writes) != 0 || len(h.nl.Log) != 0 {
		t.Fatalf("changed the host: %v %v", h.sys.Writes, h.nl.Log)
	}
}

func TestApplyIsDeclarativeAboutItsOwnVIPsOnly(t *testing.T) {
	h := newHost(t)
	foreign := loopback.Addr{Dev: "lo", Prefix: netip.MustParsePrefix("192.0.2.7/32")}
	if err := h.nl.AddAddr(foreign); err != nil {
		t.Fatal(err)
	}
	h.apply(t, opts(t, "10.0.0.100", "10.0.0.101"))
	changes := h.apply(t, opts(t, "10.0.0.101"))
	if !slices.Contains(changes, "removed address 10.0.0.100/32 dev lo") {
		t.Fatalf("own stale VIP not removed: %v", changes)
	}
	want := []string{"10.0.0.101/32 lo:lvsnode", "192.0.2.7/32 "}
	if got := h.addrs(t); !slices.Equal(got, want) {
		t.Fatalf("addresses %v, want %v", got, want)
	}
}

func TestPreexistingVIPIsUsedButNeverOwned(t *testing.T) {
	h := newHost(t)
	// An operator bound the VIP by hand, as the seeds do.
	hand := loopback.Addr{Dev: "lo", Prefix: netip.MustParsePrefix("10.0.0.100/32")}
	if err := h.nl.AddAddr(hand); err != nil {
		t.Fatal(err)
	}
	h.apply(t, opts(t, "10.0.0.100"))
	if _, _, err := h.agent.Teardown(nil); err != nil {
		t.Fatal(err)
	}
	if got := h.addrs(t); !slices.Equal(got, []string{"10.0.0.100/32 "}) {
		t.Fatalf("teardown removed a hand-made address: %v", got)
	}
}

func TestTeardownRestoresOriginalsAndLeavesOthersChanges(t *testing.T) {
	h := newHost(t)
	h.sys.Poke("net.ipv4.conf.lo.arp_announce", "1") // the operator's own value
	h.apply(t, opts(t, "10.0.0.100"))
	h.sys.Poke("net.ipv4.conf.all.arp_ignore", "2") // changed by someone since
	done, notes, err := h.agent.Teardown(nil)
	if err != nil {
		t.Fatal(err)
	}
	if h.sys.Value("net.ipv4.conf.lo.arp_announce") != "1" {
		t.Fatalf("lo.arp_announce = %s, want the original 1", h.sys.Value("net.ipv4.conf.lo.arp_announce"))
	}
	if h.sys.Value("net.ipv4.conf.all.arp_ignore") != "2" {
		t.Fatal("teardown overwrote a value someone else set after lvsnode")
	}
	if !slices.ContainsFunc(notes, func(n string) bool { return strings.Contains(n, "all.arp_ignore") }) {
		t.Fatalf("no note about the value left alone: %v", notes)
	}
	if len(h.addrs(t)) != 0 || !slices.Contains(done, "removed address 10.0.0.100/32 dev lo") {
		t.Fatalf("VIP not removed: %v / %v", h.addrs(t), done)
	}
	if _, err := LoadState(h.agent.StateFile); !errors.Is(err, ErrNoState) {
		t.Fatalf("state file kept after full teardown: %v", err)
	}
	// Idempotent: a second teardown has nothing to do.
	if done, _, err := h.agent.Teardown(nil); err != nil || len(done) != 0 {
		t.Fatalf("second teardown: %v %v", done, err)
	}
}

func TestTeardownOfOneVIPKeepsSysctlsForTheRest(t *testing.T) {
	h := newHost(t)
	h.apply(t, opts(t, "10.0.0.100", "10.0.0.101"))
	if _, _, err := h.agent.Teardown([]netip.Addr{netip.MustParseAddr("10.0.0.100")}); err != nil {
		t.Fatal(err)
	}
	if got := h.addrs(t); !slices.Equal(got, []string{"10.0.0.101/32 lo:lvsnode"}) {
		t.Fatalf("addresses %v", got)
	}
	if h.sys.Value("net.ipv4.conf.all.arp_ignore") != "1" {
		t.Fatal("ARP sysctls restored while a VIP is still bound: ARP flux")
	}
}

func TestApplyFailsWhenReadBackDiffers(t *testing.T) {
	h := newHost(t)
	h.stuck.Store(true)
	o := opts(t, "10.0.0.100")
	r, _, err := h.agent.Apply(NewPlan(o), o)
	if !errors.Is(err, ErrNotVerified) {
		t.Fatalf("err = %v, want ErrNotVerified", err)
	}
	if r.OK() || !strings.Contains(strings.Join(r.Problems(), "\n"), "all.arp_ignore: want 1, have 0") {
		t.Fatalf("problems %v", r.Problems())
	}
}

func TestReportShowsEffectiveValue(t *testing.T) {
	h := newHost(t)
	o := opts(t, "10.0.0.100")
	h.apply(t, o)
	h.sys.Poke("net.ipv4.conf.all.arp_announce", "3") // wins over lo's 2
	r, err := h.agent.Check(NewPlan(o))
	if err != nil {
		t.Fatal(err)
	}
	var lo Item
	for _, it := range r.Items {
		if it.Name == "net.ipv4.conf.lo.arp_announce" {
			lo = it
		}
	}
	if lo.OK || lo.Actual != "2 (effective 3)" {
		t.Fatalf("lo.arp_announce item %+v", lo)
	}
}

func TestCheckReportsOwnStaleVIPAsDrift(t *testing.T) {
	h := newHost(t)
	h.apply(t, opts(t, "10.0.0.100", "10.0.0.101"))
	r, err := h.agent.Check(NewPlan(opts(t, "10.0.0.101")))
	if err != nil {
		t.Fatal(err)
	}
	if r.OK() || !strings.Contains(strings.Join(r.Problems(), "\n"), "10.0.0.100/32 dev lo: want absent") {
		t.Fatalf("problems %v", r.Problems())
	}
}

func TestSysctlDropInWrittenOnceAndRemovedOnTeardown(t *testing.T) {
	h := newHost(t)
	o := opts(t, "10.0.0.100")
	o.SysctlFile = filepath.Join(t.TempDir(), "sysctl.d", "99-lvsnode.conf")
	if changes := h.apply(t, o); !slices.Contains(changes, "wrote "+o.SysctlFile) {
		t.Fatalf("changes %v", changes)
	}
	got, err := os.ReadFile(o.SysctlFile)
	if err != nil || !strings.Contains(string(got), "net.ipv4.conf.all.arp_ignore = 1\n") || !strings.Contains(string(got), "net.ipv4.conf.lo.arp_announce = 2\n") {
		t.Fatalf("drop-in %q, %v", got, err)
	}
	if again := h.apply(t, o); len(again) != 0 {
		t.Fatalf("second apply rewrote: %v", again)
	}
	if _, _, err := h.agent.Teardown(nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(o.SysctlFile); !os.IsNotExist(err) {
		t.Fatalf("drop-in left after teardown: %v", err)
	}
}

func TestPartialTeardownKeepsSysctlsForAHandMadeVIP(t *testing.T) {
	h := newHost(t)
	// The seeds' recipe by hand for .101: address and host route.
	pf := netip.MustParsePrefix("10.0.0.101/32")
	if err := h.nl.AddAddr(loopback.Addr{Dev: "lo", Prefix: pf}); err != nil {
		t.Fatal(err)
	}
	if err := h.nl.AddRoute(loopback.Route{Dev: "lo", Dst: pf, Protocol: 3}); err != nil {
		t.Fatal(err)
	}
	h.apply(t, opts(t, "10.0.0.100", "10.0.0.101")) // owns .100 only
	if _, _, err := h.agent.Teardown([]netip.Addr{netip.MustParseAddr("10.0.0.100")}); err != nil {
		t.Fatal(err)
	}
	if h.sys.Value("net.ipv4.conf.all.arp_ignore") != "1" {
		t.Fatal("ARP sysctls restored while the hand-made VIP 10.0.0.101 is still planned and bound: ARP flux")
	}
}

func TestStaleVIPReplacedBySomeoneElseIsLeftAlone(t *testing.T) {
	h := newHost(t)
	h.apply(t, opts(t, "10.0.0.100", "10.0.0.101"))
	// Someone replaces the agent's .100 with their own (no lvsnode label).
	pf := netip.MustParsePrefix("10.0.0.100/32")
	if err := h.nl.DelAddr(loopback.Addr{Dev: "lo", Prefix: pf}); err != nil {
		t.Fatal(err)
	}
	if err := h.nl.AddAddr(loopback.Addr{Dev: "lo", Prefix: pf, Label: "lo:keepalive"}); err != nil {
		t.Fatal(err)
	}
	h.apply(t, opts(t, "10.0.0.101"))
	if got := h.addrs(t); !slices.Contains(got, "10.0.0.100/32 lo:keepalive") {
		t.Fatalf("apply removed an address someone else re-added: %v", got)
	}
	if _, _, err := h.agent.Teardown(nil); err != nil {
		t.Fatal(err)
	}
	if got := h.addrs(t); !slices.Equal(got, []string{"10.0.0.100/32 lo:keepalive"}) {
		t.Fatalf("teardown: %v", got)
	}
}

func TestSysctlFileOfSomeoneElseIsRefusedBeforeAnyChange(t *testing.T) {
	dir := t.TempDir()
	foreign := filepath.Join(dir, "99-sysctl.conf")
	os.WriteFile(foreign, []byte("net.ipv4.ip_forward = 1\n"), 0o644)
	link := filepath.Join(dir, "98-link.conf")
	os.Symlink(foreign, link)
	for _, path := range []string{foreign, link} {
		h := newHost(t)
		o := opts(t, "10.0.0.100")
		o.SysctlFile = path
		if _, _, err := h.agent.Apply(NewPlan(o), o); err == nil || !strings.Contains(err.Error(), "refusing") {
			t.Fatalf("%s: err = %v", path, err)
		}
		if len(h.sys.Writes) != 0 || len(h.nl.Log) != 0 {
			t.Fatalf("%s: changed the host: %v %v", path, h.sys.Writes, h.nl.Log)
		}
	}
	if got, _ := os.ReadFile(foreign); string(got) != "net.ipv4.ip_forward = 1\n" {
		t.Fatalf("foreign file rewritten: %q", got)
	}
}

func TestSysctlFileMovesWithTheConfig(t *testing.T) {
	h := newHost(t)
	dir := t.TempDir()
	o := opts(t, "10.0.0.100")
	o.SysctlFile = filepath.Join(dir, "90-lvsnode.conf")
	h.apply(t, o)
	o.SysctlFile = filepath.Join(dir, "99-lvsnode.conf")
	h.apply(t, o)
	if _, err := os.Stat(filepath.Join(dir, "90-lvsnode.conf")); !os.IsNotExist(err) {
		t.Fatalf("the previous drop-in was left behind: %v", err)
	}
	if _, err := os.Stat(o.SysctlFile); err != nil {
		t.Fatal(err)
	}
}

func TestSysctlFileMustBeAnAbsoluteConf(t *testing.T) {
	for _, p := range []string{"99-lvsnode.conf", "/etc/sysctl.d/99-lvsnode"} {
		c := Config{VIPs: []Value{{S: "10.0.0.1", Where: "test"}}, SysctlFile: p}
		if _, err := c.Options(); !errors.Is(err, ErrBadInput) {
			t.Errorf("%q: %v", p, err)
		}
	}
}

func TestSysctlFileRemovedWhenNoLongerConfigured(t *testing.T) {
	h := newHost(t)
	o := opts(t, "10.0.0.100")
	o.SysctlFile = filepath.Join(t.TempDir(), "99-lvsnode.conf")
	h.apply(t, o)
	path := o.SysctlFile
	o.SysctlFile = ""
	if changes := h.apply(t, o); !slices.Contains(changes, "removed the previous "+path) {
		t.Fatalf("changes %v", changes)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("drop-in kept after sysctl-file was removed from the config: %v", err)
	}
}
