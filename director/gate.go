package director

import (
	"sync"
	"time"

	"github.com/lvsnode/lvsnode/health"
)

// gateClock is the health scheduler's clock during Start: every timer made
// before open is held (armed at open, for its whole duration), so no check
// probes while Start is still subscribing the others and reconciling once.
// With 1,000 real servers, the probes of the checks already added would
// otherwise take the CPU from the loop adding the rest (under TCG the
// daemon then needed minutes to start and to answer its API); held, they
// begin together once the daemon is up, spread over their interval by
// their keys' offsets as usual.
type gateClock struct {
	health.Clock
	mu   sync.Mutex
	open bool
	held []*heldTimer
}

var (
	_ health.Clock = (*gateClock)(nil)
	_ health.Timer = (*heldTimer)(nil)
)

func (g *gateClock) NewTimer(d time.Duration) health.Timer {
	g.mu.Lock()
	defer g.mu.Unlock()
	t := g.Clock.NewTimer(d)
	if g.open {
		return t
	}
	t.Stop()
	h := &heldTimer{Timer: t, d: d}
	g.held = append(g.held, h)
	return h
}

// release arms every held timer that was not stopped meanwhile; timers
// made afterwards are the clock's own. Idempotent.
func (g *gateClock) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = true
	for _, h := range g.held {
		h.mu.Lock()
		if !h.touched {
			h.Timer.Reset(h.d)
		}
		h.touched = true
		h.mu.Unlock()
	}
	g.held = nil
}

// heldTimer is a timer made before release: stopped until then. A Reset
// or Stop by its owner before release wins over the release.
type heldTimer struct {
	health.Timer
	d       time.Duration
	mu      sync.Mutex
	touched bool
}

func (h *heldTimer) Reset(d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.touched = true
	h.Timer.Reset(d)
}

func (h *heldTimer) Stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.touched = true
	h.Timer.Stop()
}
