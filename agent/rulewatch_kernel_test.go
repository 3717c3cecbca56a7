package agent

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/internal/netnstest"
	"github.com/lvsnode/lvsnode/loopback"
	"github.com/lvsnode/lvsnode/systemd"
	"github.com/lvsnode/lvsnode/tunnel"
)

// deafRules is the kernel boundary with the rule subscription open but
// silent: what the daemon had before it subscribed to rule events.
type deafRules struct{ tunnel.Netlink }

func (deafRules) WatchRules(ctx context.Context) (<-chan tunnel.RuleEvent, error) {
	return make(chan tunnel.RuleEvent), nil
}

// ruleRepair runs `agent run` (a TUN plan with a veth standing in for
// tunl0, re-list every hour), deletes lvsnode's MSS rule behind its back and
// returns how long the rule stayed away, or false if it was not back
// within wait.
func ruleRepair(t *testing.T, tun tunnel.Netlink, wait time.Duration) (time.Duration, bool) {
	t.Helper()
	vethHost(t)
	ipOut(t, "link", "add", "tun9", "type", "veth", "peer", "name", "tun9p")
	a := kernelAgent(t)
	a.Tun = tun
	o := modeOpts(t, "mode", "tun", "vip", "10.0.0.100")
	o.ResyncInterval = time.Hour // only an event can repair within the test
	d := NewDaemon(a, &systemd.Recorder{}, slog.New(slog.NewTextHandler(io.Discard, nil)), o)
	d.plan = standIn(d.plan, "tun9")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, nil) }()
	t.Cleanup(func() { cancel(); <-done })
	const rule = "from 10.0.0.100 lookup 76 proto 76"
	has := func() bool { return strings.Contains(ipOut(t, "rule", "show"), rule) }
	waitFor(t, "ready", func() bool { ok, _ := d.Ready(); return ok })
	if !has() {
		t.Fatalf("no %q after start", rule)
	}
	// Let the namespace go quiet: its own changes' events, and the veths'
	// IPv6 link-local addresses and routes (DAD takes about a second), would
	// each trigger an apply that repairs the rule by chance.
	time.Sleep(2500 * time.Millisecond)
	ipOut(t, "rule", "del", "from", "10.0.0.100", "lookup", "76")
	start := time.Now()
	for time.Since(start) < wait {
		if has() {
			return time.Since(start), true
		}
		time.Sleep(2 * time.Millisecond)
	}
	return 0, false
}

func TestKernelDeletedRuleRepairedOnItsEvent(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	tun, err := tunnel.NewKernel()
	if err != nil {
		t.Fatal(err)
	}
	took, ok := ruleRepair(t, tun, time.Second)
	if !ok {
		t.Fatal("deleted MSS rule not repaired within 1s while the re-list is an hour away")
	}
	t.Logf("deleted MSS rule repaired in %v", took)
}

// The control: the same run without rule events (a subscription that
// never reports) leaves the rule deleted until the re-list.
func TestKernelDeletedRuleNotRepairedWithoutRuleEvents(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	tun, err := tunnel.NewKernel()
	if err != nil {
		t.Fatal(err)
	}
	if took, ok := ruleRepair(t, deafRules{tun}, 2*time.Second); ok {
		t.Fatalf("repaired in %v without rule events: the test above could pass without them", took)
	}
}

func TestDaemonRuleEventsFilteredToThePlan(t *testing.T) {
	o := modeOpts(t, "mode", "tun", "vip", "10.0.0.100")
	d := &Daemon{opts: o}
	for _, c := range []struct {
		r    tunnel.Rule
		want bool
	}{
		{tunnel.Rule{Src: mustPrefix(t, "10.0.0.100/32"), Table: MSSTable, Priority: MSSRulePriority, Protocol: OwnerProto}, true},
		{tunnel.Rule{Src: mustPrefix(t, "10.0.0.100/32"), Table: 100, Priority: 100}, true}, // someone else's rule for a VIP
		{tunnel.Rule{Src: mustPrefix(t, "192.168.0.0/16"), Table: 100, Priority: 100}, false},
		{tunnel.Rule{Table: 200, Priority: 200, Protocol: 3}, false},
	} {
		if got := d.concerns(tunnel.RuleEvent{Rule: c.r}); got != c.want {
			t.Errorf("concerns(%s) = %v, want %v", c.r, got, c.want)
		}
	}
}

func mustPrefix(t *testing.T, s string) netip.Prefix {
	t.Helper()
	p, err := netip.ParsePrefix(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// The modes' route events pass the filter: NAT's default routes (no
// prefix), TUN's main table (mirrored into MSSTable); a DR plan's do not.
func TestInterestCoversTheModesRoutes(t *testing.T) {
	def := loopback.Event{Kind: "route", Dev: "eth0"}
	other := loopback.Event{Kind: "route", Dev: "eth0", Prefix: mustPrefix(t, "192.168.0.0/16")}
	for _, c := range []struct {
		o          Options
		def, other bool
		name       string
	}{
		{modeOpts(t, "vip", "10.0.0.100"), false, false, "dr"},
		{modeOpts(t, "mode", "nat", "gateway", "10.0.0.2"), true, false, "nat"},
		{modeOpts(t, "mode", "tun", "vip", "10.0.0.100"), true, true, "tun"},
	} {
		in := interestOf(NewPlan(c.o))
		if in.concerns(def) != c.def || in.concerns(other) != c.other {
			t.Errorf("%s: default route %v (want %v), other route %v (want %v)", c.name, in.concerns(def), c.def, in.concerns(other), c.other)
		}
		// A NIC's link event: it may carry the gateway's or a mirrored route.
		if nic := in.concerns(loopback.Event{Kind: "link", Dev: "eth7"}); nic != (c.name != "dr") {
			t.Errorf("%s: link event of eth7 %v", c.name, nic)
		}
	}
}
