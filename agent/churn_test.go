package agent

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/loopback"
)

// countingNL counts the address dumps: one per apply's observe.
type countingNL struct {
	loopback.Netlink
	dumps *atomic.Int64
}

func (c countingNL) Addrs(dev string) ([]loopback.Addr, error) {
	c.dumps.Add(1)
	return c.Netlink.Addrs(dev)
}

// Fault 3: an interrupted dump ("results may be incomplete or
// inconsistent") was reported as a failed apply, so /readyz said 503 with
// no VIP ever missing. It is retried and never changes readiness.
func TestInterruptedDumpIsRetriedNeverDrift(t *testing.T) {
	h := newHost(t)
	o := opts(t, "10.0.0.100")
	o.ResyncInterval = time.Hour
	dumps := &atomic.Int64{}
	h.agent.NL = countingNL{h.agent.NL, dumps} // before the daemon reads it
	r := startReady(t, h, o)
	time.Sleep(20 * time.Millisecond) // the start's reads done
	base := dumps.Load()
	h.nl.InterruptDumps(4)
	// Something of the plan's changes (a foreign route to the VIP with
	// another metric: no drift), so the daemon re-reads, into the churn.
	if err := h.nl.AddRoute(loopback.Route{Dev: "lo", Dst: netip.MustParsePrefix("10.0.0.100/32"), Protocol: 4, Metric: 10}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the interrupted reads retried past the churn", func() bool { return dumps.Load()-base >= 5 })
	time.Sleep(20 * time.Millisecond)
	if n := r.sent("STATUS=degraded"); n != 0 || r.d.failures.Load() != 0 {
		t.Fatalf("an interrupted read counted as a failure: %d degraded, %d failures (%v)", n, r.d.failures.Load(), r.rec.Sent())
	}
	if ok, why := r.d.Ready(); !ok {
		t.Fatalf("not ready: %v", why)
	}
	// And a real drift under the same churn is still repaired.
	h.nl.InterruptDumps(2)
	delVIP(t, h, "10.0.0.100/32")
	waitFor(t, "VIP re-added", hasVIP(h, "10.0.0.100/32"))
	waitFor(t, "ready", func() bool { ok, _ := r.d.Ready(); return ok })
}

// Fault 3: every netlink event anywhere triggered a full apply (0.4 of a
// core for unrelated churn). Events that do not touch the plan's link,
// addresses or routes trigger none; a burst of relevant ones few.
func TestUnrelatedChurnTriggersNoApply(t *testing.T) {
	h := newHost(t)
	o := opts(t, "10.0.0.100")
	o.Interfaces = []string{"eth0"}
	o.ResyncInterval = time.Hour
	dumps := &atomic.Int64{}
	h.agent.NL = countingNL{h.agent.NL, dumps} // before the daemon reads it
	r := startReady(t, h, o)
	time.Sleep(20 * time.Millisecond) // the start's reads done
	base := dumps.Load()
	for i := 0; i < 200; i++ {
		a := loopback.Addr{Dev: "lo", Prefix: netip.MustParsePrefix(fmt.Sprintf("198.51.100.%d/32", i))}
		if err := h.nl.AddAddr(a); err != nil {
			t.Fatal(err)
		}
		if err := h.nl.AddRoute(loopback.Route{Dev: "eth0", Dst: netip.MustParsePrefix(fmt.Sprintf("203.0.113.%d/32", i))}); err != nil {
			t.Fatal(err)
		}
		if err := h.nl.DelAddr(a); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	// Under CPU load the fake's 256-event buffer can overrun, as the
	// kernel's socket would: the re-list after resubscribing is right then.
	if n := dumps.Load() - base; n != 0 && r.d.resubs.Load() == 0 {
		t.Fatalf("600 unrelated events caused %d re-reads", n)
	}
	// A burst that does concern the plan is coalesced, and repaired.
	for i := 0; i < 50; i++ {
		delVIP(t, h, "10.0.0.100/32")
		if err := h.nl.AddAddr(ownedAddr(netip.MustParsePrefix("10.0.0.100/32"))); err != nil {
			t.Fatal(err)
		}
	}
	delVIP(t, h, "10.0.0.100/32")
	waitFor(t, "VIP re-added", hasVIP(h, "10.0.0.100/32"))
	time.Sleep(50 * time.Millisecond)
	if n := dumps.Load() - base; n > 20 {
		t.Fatalf("a burst of 101 events caused %d re-reads: not coalesced", n)
	}
	_ = r
}
