package director

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/health"
	"github.com/lvsnode/lvsnode/health/healthtest"
	"github.com/lvsnode/lvsnode/ipvs"
)

// No check probes while Start is still adding the others: time passes
// during Start (each checker build advances the fake clock a whole
// interval, as a slow start under load would), yet no probe runs before
// Start returns; they begin afterwards, on the clock.
func TestStartHoldsProbesUntilStarted(t *testing.T) {
	cfg, err := ParseConfig("test.yaml", []byte(scaleConfig(3)))
	if err != nil {
		t.Fatal(err)
	}
	clock := healthtest.NewFakeClock()
	counted := &countingClock{FakeClock: clock}
	var checkers []*healthtest.Checker
	d := New(cfg, Options{IPVS: ipvs.NewFake(), Store: &MemStore{}, Clock: counted, NoLock: true,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		NewChecker: func(health.Definition) (health.Checker, error) {
			for counted.made.Load() < int32(len(checkers)) { // the runs already added have their timers
				time.Sleep(100 * time.Microsecond)
			}
			clock.Advance(time.Second) // and they are due
			c := healthtest.NewChecker(clock, healthtest.OK)
			checkers = append(checkers, c)
			return c, nil
		}})
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	clock.BlockUntil(t, 3) // every run waiting on its timer again
	calls := func() (n int) {
		for _, c := range checkers {
			n += c.Calls()
		}
		return n
	}
	if n := calls(); n != 0 {
		t.Fatalf("%d probes ran during Start, want 0", n)
	}
	clock.Advance(time.Second) // an interval after Start: each probes once
	clock.BlockUntil(t, 3)
	if n := calls(); n != 3 {
		t.Fatalf("%d probes in the first interval after Start, want 3", n)
	}
}

// countingClock counts the timers made.
type countingClock struct {
	*healthtest.FakeClock
	made atomic.Int32
}

func (c *countingClock) NewTimer(d time.Duration) health.Timer {
	defer c.made.Add(1)
	return c.FakeClock.NewTimer(d)
}

// A timer stopped before the release stays stopped; one made after it is
// the clock's own.
func TestGateClockStopBeforeRelease(t *testing.T) {
	clock := healthtest.NewFakeClock()
	g := &gateClock{Clock: clock}
	a, b := g.NewTimer(time.Second), g.NewTimer(time.Second)
	b.Stop()
	clock.Advance(2 * time.Second)
	if clock.Armed() != 0 {
		t.Fatalf("%d timers armed before the release, want 0", clock.Armed())
	}
	g.release()
	if clock.Armed() != 1 {
		t.Fatalf("%d timers armed after the release, want 1 (b was stopped)", clock.Armed())
	}
	clock.Advance(time.Second)
	select {
	case <-a.C():
	default:
		t.Fatal("a did not fire a second after the release")
	}
	g.NewTimer(time.Second)
	if clock.Armed() != 1 {
		t.Fatalf("a timer made after the release is not armed at once")
	}
}

// Status reuses the last reconcile's read for up to statusMaxAge (no dump
// per status call or scrape), but never one older than a change the
// daemon wrote: the weights it reports are the kernel's.
func TestStatusReusesTheLastRead(t *testing.T) {
	r := newRig(t, twoNodes)
	r.tick(2) // rise 2: both up, the reconcile writes weights 3 and 1
	weight := func() uint32 { return r.d.Status().Services[0].Nodes[0].Weight }
	if w := weight(); w != 3 {
		t.Fatalf("Status right after a reconcile that wrote weight 3: %d (a read from before the write)", w)
	}
	mk := ipvs.ServiceKey{Protocol: ipvs.TCP, Addr: netip.MustParseAddr("10.0.0.100"), Port: 80}
	ipvs.Do(r.fake, ipvs.UpdateDestOp(mk, ipvs.Destination{DestKey: ipvs.DestKey{Addr: netip.MustParseAddr("10.0.0.11"), Port: 80}, Forward: ipvs.Route, Weight: 50}))
	if w := weight(); w != 3 {
		t.Fatalf("Status within %s of the last read: weight %d, want 3 (the read reused, no dump)", statusMaxAge, w)
	}
	r.clock.Advance(statusMaxAge)
	if w := weight(); w != 50 {
		t.Fatalf("Status %s after the last read: weight %d, want 50 (read again)", statusMaxAge, w)
	}
}
