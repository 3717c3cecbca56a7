// Package healthtest holds fakes for tests of health and of its users: a
// clock the test advances by hand and a scripted checker.
package healthtest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/health"
)

var (
	_ health.Clock   = (*FakeClock)(nil)
	_ health.Checker = (*Checker)(nil)
)

// FakeClock is a health.Clock whose time moves only by Advance.
type FakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*fakeTimer]struct{} // armed: not fired, not stopped
}

// NewFakeClock starts at a fixed, arbitrary instant.
func NewFakeClock() *FakeClock {
	c := &FakeClock{now: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), timers: map[*fakeTimer]struct{}{}}
	return c
}

func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *FakeClock) NewTimer(d time.Duration) health.Timer {
	t := &fakeTimer{c: c, ch: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

// Advance moves time forward by d and fires, in deadline order, every armed
// timer whose deadline has come. A timer re-armed by its goroutine during
// Advance fires on a later Advance.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for t := range c.timers {
		if !t.when.After(c.now) {
			delete(c.timers, t)
			select {
			case t.ch <- t.when:
			default:
			}
		}
	}
}

// Armed is the number of timers waiting to fire.
func (c *FakeClock) Armed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// BlockUntil waits until exactly n timers are armed: every goroutine of the
// code under test is back waiting on its clock. It fails tb after 10 s of
// real time (a hang guard, not a performance limit).
func (c *FakeClock) BlockUntil(tb testing.TB, n int) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if got := c.Armed(); got == n {
			return
		} else if time.Now().After(deadline) {
			tb.Fatalf("fake clock: %d timers armed after 10 s, want %d", got, n)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

type fakeTimer struct {
	c    *FakeClock
	ch   chan time.Time
	when time.Time
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Reset(d time.Duration) {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	select { // like Go 1.23 timers: no stale value after Reset
	case <-t.ch:
	default:
	}
	t.when = t.c.now.Add(d)
	t.c.timers[t] = struct{}{}
}

func (t *fakeTimer) Stop() {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	delete(t.c.timers, t)
	select {
	case <-t.ch:
	default:
	}
}

// Checker is a scripted health.Checker: each Check returns the next result
// of Script (the last one repeats), or OK when Script is empty. Set swaps
// the script at run time.
type Checker struct {
	mu     sync.Mutex
	script []health.Result
	calls  int
	at     []time.Time
	clock  health.Clock
}

// NewChecker returns a Checker; with a clock it records when each call came.
func NewChecker(clock health.Clock, script ...health.Result) *Checker {
	return &Checker{script: script, clock: clock}
}

// Set replaces the script.
func (c *Checker) Set(script ...health.Result) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.script = script
}

func (c *Checker) Check(context.Context) health.Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.clock != nil {
		c.at = append(c.at, c.clock.Now())
	}
	if len(c.script) == 0 {
		return health.Result{OK: true, Reason: "scripted ok"}
	}
	r := c.script[0]
	if len(c.script) > 1 {
		c.script = c.script[1:]
	}
	return r
}

// Calls is the number of Check calls so far.
func (c *Checker) Calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls
}

// CalledAt is the clock time of each call (with a clock).
func (c *Checker) CalledAt() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Time(nil), c.at...)
}

// Results for scripts.
var (
	OK       = health.Result{OK: true, Reason: "scripted ok"}
	Fail     = health.Result{Reason: "scripted failure", Err: health.ErrRefused}
	Draining = health.Result{Draining: true, Reason: "draining", Err: health.ErrDraining}
)
