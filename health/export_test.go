package health

import (
	"context"
	"sync"
	"time"
)

// NewInstantEvProbe is, for tests of package health_test, a checker the
// scheduler runs on its event loop, whose verdict (OK) is known at once;
// calls lists the clock time of each probe.
func NewInstantEvProbe(clock Clock) (c Checker, calls func() []time.Time) {
	p := &instantProbe{clock: clock}
	return p, p.calls
}

// instantProbe is a Checker and an evProbe whose verdict is known at
// once; it records the clock time of each probe.
type instantProbe struct {
	clock Clock
	mu    sync.Mutex
	at    []time.Time
}

func (p *instantProbe) Check(context.Context) Result { panic("an evProbe runs on the event loop") }

func (p *instantProbe) begin(int, uint64, time.Time) (int, Result, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.at = append(p.at, p.clock.Now())
	return -1, Result{OK: true, Reason: "instant"}, true
}

func (*instantProbe) end(int, time.Time) Result            { panic("never in flight") }
func (*instantProbe) abandon(int, time.Time, error) Result { panic("never in flight") }

func (p *instantProbe) calls() []time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]time.Time(nil), p.at...)
}
