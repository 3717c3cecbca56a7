package health_test

// Scheduler tests on a fake clock: every probe is a scripted checker, time
// moves only when the test advances it, so these run in milliseconds and
// never depend on the machine's speed.

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/health"
	"github.com/lvsnode/lvsnode/health/healthtest"
)

const interval = time.Second

type harness struct {
	t     *testing.T
	clock *healthtest.FakeClock
	s     *health.Scheduler

	mu       sync.Mutex
	events   []health.Event
	checkers map[health.Key]*healthtest.Checker
	builds   map[health.Key]int
}

func newHarness(t *testing.T) *harness {
	h := &harness{t: t, clock: healthtest.NewFakeClock(),
		checkers: map[health.Key]*healthtest.Checker{}, builds: map[health.Key]int{}}
	h.s = health.NewScheduler(context.Background(), health.Options{
		Clock: h.clock,
		NewChecker: func(d health.Definition) (health.Checker, error) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.builds[d.Key()]++
			return h.checker(d), nil
		},
		OnChange: func(e health.Event) {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.events = append(h.events, e)
		},
	})
	t.Cleanup(h.s.Close)
	return h
}

// checker returns the scripted checker of d's key (h.mu held or not racing).
func (h *harness) checker(d health.Definition) *healthtest.Checker {
	k := d.Key()
	if h.checkers[k] == nil {
		h.checkers[k] = healthtest.NewChecker(h.clock)
	}
	return h.checkers[k]
}

func (h *harness) script(d health.Definition, rs ...health.Result) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checker(d).Set(rs...)
}

func (h *harness) calls(d health.Definition) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.checker(d).Calls()
}

// step advances one interval and waits until all n runs are back waiting.
// Every run probes exactly once per step once past its first offset.
func (h *harness) step(n int) {
	h.t.Helper()
	h.clock.Advance(interval)
	h.clock.BlockUntil(h.t, n)
}

func (h *harness) takeEvents() []health.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	e := h.events
	h.events = nil
	return e
}

func (h *harness) add(id string, d health.Definition) health.Status {
	h.t.Helper()
	st, err := h.s.Add(id, d)
	if err != nil {
		h.t.Fatalf("add %s: %v", id, err)
	}
	return st
}

func tcpDef(port uint16) health.Definition {
	return health.Definition{Type: health.TCP, Target: netip.MustParseAddr("10.0.0.11"), Port: port,
		Interval: interval, Timeout: 500 * time.Millisecond, Rise: 2, Fall: 3}
}

type change struct {
	From, To   health.State
	Succ, Fail int
}

func changes(es []health.Event) []change {
	var out []change
	for _, e := range es {
		out = append(out, change{e.From, e.To, e.Successes, e.Failures})
	}
	return out
}

func TestRiseAndFallFromDown(t *testing.T) {
	h := newHarness(t)
	d := tcpDef(80)
	ok, bad := healthtest.OK, healthtest.Fail
	h.script(d, ok, ok, bad, bad, bad, ok, bad, ok, ok)
	if st := h.add("web", d); st.State != health.Down {
		t.Fatalf("initial state %s, want down (alpha)", st.State)
	}
	h.clock.BlockUntil(t, 1)
	var got []change
	for i := 0; i < 9; i++ {
		h.step(1)
		for _, c := range changes(h.takeEvents()) {
			t.Logf("after probe %d: %+v", i+1, c)
			got = append(got, c)
		}
	}
	want := []change{{health.Down, health.Up, 2, 0}, {health.Up, health.Down, 0, 3}, {health.Down, health.Up, 2, 0}}
	if !slices.Equal(got, want) {
		t.Fatalf("changes %+v, want %+v", got, want)
	}
	if n := h.calls(d); n != 9 {
		t.Fatalf("%d probes in 9 intervals, want 9", n)
	}
}

func TestInitialUpNeedsFallFailures(t *testing.T) {
	h := newHarness(t)
	d := tcpDef(80)
	d.Initial = health.Up
	h.script(d, healthtest.Fail, healthtest.OK, healthtest.Fail, healthtest.Fail, healthtest.Fail)
	if st := h.add("web", d); st.State != health.Up {
		t.Fatalf("initial %s, want up", st.State)
	}
	h.clock.BlockUntil(t, 1)
	for i := 0; i < 4; i++ {
		h.step(1)
	}
	if e := h.takeEvents(); len(e) != 0 {
		t.Fatalf("changed before fall consecutive failures: %+v", changes(e))
	}
	h.step(1)
	if got := changes(h.takeEvents()); !slices.Equal(got, []change{{health.Up, health.Down, 0, 3}}) {
		t.Fatalf("got %+v, want up->down after 3 failures", got)
	}
}

func TestDrainingIsImmediateAndDistinctFromDown(t *testing.T) {
	h := newHarness(t)
	d := tcpDef(9109)
	d.Type, d.Initial = health.Ready, health.Up
	dr := healthtest.Draining
	h.script(d, dr, healthtest.OK, healthtest.OK, dr, healthtest.Fail, healthtest.Fail, healthtest.Fail)
	h.add("rs1", d)
	h.clock.BlockUntil(t, 1)
	var got []change
	for i := 0; i < 7; i++ {
		h.step(1)
		got = append(got, changes(h.takeEvents())...)
	}
	want := []change{
		{health.Up, health.Draining, 0, 0},   // first "draining" answer, no fall needed
		{health.Draining, health.Up, 2, 0},   // undrained: rise applies
		{health.Up, health.Draining, 0, 0},   // drained again
		{health.Draining, health.Down, 0, 3}, // then the agent died: fall applies
	}
	if !slices.Equal(got, want) {
		t.Fatalf("changes %+v, want %+v", got, want)
	}
}

func TestSubscribersOfTheSameCheckShareOneRun(t *testing.T) {
	h := newHarness(t)
	a := tcpDef(80)
	// The same check spelled differently: defaults explicit in one, implied
	// in the other. They must share a key, a checker and a probe.
	a.Type, a.Port, a.Path, a.Expect = health.HTTP, 0, "", nil
	b := a
	b.Port, b.Path, b.Expect = 80, "/", []int{200, 200}
	if a.Key() != b.Key() {
		t.Fatalf("keys differ:\n%s\n%s", a.Key(), b.Key())
	}
	h.add("vip1:80/rs1", a)
	h.clock.BlockUntil(t, 1)
	h.step(1)
	h.step(1) // up after rise 2
	st := h.add("vip2:80/rs1", b)
	if st.State != health.Up || st.Successes != 2 {
		t.Fatalf("second subscriber sees %+v, want the shared run's up with 2 successes", st)
	}
	if n := h.s.Runs(); n != 1 {
		t.Fatalf("%d runs, want 1", n)
	}
	h.script(a, healthtest.Fail)
	for i := 0; i < 3; i++ {
		h.step(1)
	}
	if n := h.calls(a); n != 5 {
		t.Fatalf("%d probes in 5 intervals for two subscribers, want 5 (one run)", n)
	}
	if h.builds[a.Key()] != 1 {
		t.Fatalf("checker built %d times, want 1", h.builds[a.Key()])
	}
	es := h.takeEvents()
	last := es[len(es)-1]
	if last.To != health.Down || !slices.Equal(last.Subscribers, []string{"vip1:80/rs1", "vip2:80/rs1"}) {
		t.Fatalf("last event %+v, want down for both subscribers", last)
	}
}

func TestFirstProbesSpreadOverTheInterval(t *testing.T) {
	h := newHarness(t)
	const n, buckets = 200, 10
	start := h.clock.Now()
	var defs []health.Definition
	for i := 0; i < n; i++ {
		d := tcpDef(uint16(1000 + i))
		defs = append(defs, d)
		h.add(fmt.Sprintf("vip%d/rs1", i), d)
	}
	h.clock.BlockUntil(t, n)
	// Move through one interval in 10 ms steps; each run probes once.
	for ms := 0; ms < 1000; ms += 10 {
		h.clock.Advance(10 * time.Millisecond)
		h.clock.BlockUntil(t, n)
	}
	var count [buckets]int
	for _, d := range defs {
		at := h.checker(d).CalledAt()
		if len(at) != 1 {
			t.Fatalf("%s probed %d times in its first interval, want 1", d.Key(), len(at))
		}
		off := at[0].Sub(start)
		if off <= 0 || off > interval {
			t.Fatalf("%s first probe at +%s, want within (0, %s]", d.Key(), off, interval)
		}
		count[min(buckets-1, int(off*buckets/interval))]++
		if d.Key().Offset(interval) != d.Key().Offset(interval) {
			t.Fatal("offset not deterministic")
		}
	}
	t.Logf("first probes per tenth of the interval: %v", count)
	for i, c := range count { // 20 expected per bucket; a herd puts all 200 in one
		if c < 5 || c > 45 {
			t.Fatalf("bucket %d holds %d of %d first probes: not spread (%v)", i, c, n, count)
		}
	}
}

func TestAddRemoveUpdateLeaveOtherRunsUndisturbed(t *testing.T) {
	h := newHarness(t)
	k1, k2 := tcpDef(80), tcpDef(443)
	h.add("a", k1)
	h.add("b", k1)
	h.add("c", k2)
	h.clock.BlockUntil(t, 2)
	h.step(2)
	h.step(2)
	if st, _ := h.s.Status("c"); st.State != health.Up || st.Successes != 2 {
		t.Fatalf("c: %+v", st)
	}

	if !h.s.Remove("a") || h.s.Runs() != 2 {
		t.Fatalf("removing one of two subscribers stopped the run (runs %d)", h.s.Runs())
	}
	if h.s.Remove("a") {
		t.Fatal("second Remove of a reported true")
	}
	st, err := h.s.Update("b", k1) // same key: nothing happens
	if err != nil || st.Successes != 2 || h.builds[k1.Key()] != 1 {
		t.Fatalf("update to the same key disturbed the run: %+v %v builds %d", st, err, h.builds[k1.Key()])
	}
	h.step(2) // and the run goes on counting
	if st, _ := h.s.Status("b"); st.Successes != 3 || h.s.Runs() != 2 {
		t.Fatalf("after a same-key update: %+v, %d runs; want 3 successes, 2 runs", st, h.s.Runs())
	}

	slower := k1
	slower.Interval, slower.Fall = 2*interval, 5 // same probe, other timing
	st, err = h.s.Update("b", slower)
	if err != nil || st.State != health.Up || st.Key != slower.Key() {
		t.Fatalf("update to new timing: %+v %v, want a new run inheriting up", st, err)
	}
	moved := tcpDef(8080) // other probe: starts from its own initial state
	if st, _ := h.s.Update("c", moved); st.State != health.Down {
		t.Fatalf("update to another probe inherited state %s", st.State)
	}
	if h.s.Runs() != 2 {
		t.Fatalf("%d runs, want 2 (k1 and k2 stopped with no subscriber left)", h.s.Runs())
	}
	h.clock.BlockUntil(t, 2)
	before1, before2 := h.calls(k1), h.calls(k2)
	for i := 0; i < 4; i++ {
		h.step(2)
	}
	if h.calls(k1) != before1 || h.calls(k2) != before2 {
		t.Fatalf("stopped runs still probe: k1 %d->%d, k2 %d->%d", before1, h.calls(k1), before2, h.calls(k2))
	}
	if n := h.calls(slower); n < 1 || n > 2 {
		t.Fatalf("the 2 s run probed %d times in 4 s", n)
	}

	if _, err := h.s.Add("b", k2); !errors.Is(err, health.ErrExists) {
		t.Fatalf("duplicate add: %v, want ErrExists", err)
	}
	if _, err := h.s.Update("nobody", k2); !errors.Is(err, health.ErrNotFound) {
		t.Fatalf("update of unknown: %v, want ErrNotFound", err)
	}
	bad := k2
	bad.Timeout = 3 * interval
	if _, err := h.s.Update("b", bad); !errors.Is(err, health.ErrInvalid) {
		t.Fatalf("invalid update: %v, want ErrInvalid", err)
	}
	if st, _ := h.s.Status("b"); st.Key != slower.Key() {
		t.Fatalf("a refused update changed b: %s", st.Key)
	}
}

// blocker hangs until its context ends, like a probe to a black hole.
type blocker struct{ started chan struct{} }

func (b blocker) Check(ctx context.Context) health.Result {
	select {
	case b.started <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return health.Result{Err: ctx.Err()}
}

func TestCloseStopsEveryRunWithoutLeaks(t *testing.T) {
	base := runtime.NumGoroutine()
	clock := healthtest.NewFakeClock()
	hung := blocker{started: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := health.NewScheduler(ctx, health.Options{
		Clock: clock,
		NewChecker: func(d health.Definition) (health.Checker, error) {
			if d.Port == 1 {
				return hung, nil
			}
			return healthtest.NewChecker(nil), nil
		},
	})
	for i := 1; i <= 100; i++ {
		if _, err := s.Add(fmt.Sprint(i), tcpDef(uint16(i))); err != nil {
			t.Fatal(err)
		}
	}
	clock.BlockUntil(t, 100)
	clock.Advance(interval)
	<-hung.started          // one run is stuck inside a probe
	clock.BlockUntil(t, 99) // the others are waiting for their next turn
	cancel()                // the daemon's context ends
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second): // hang guard, not a performance limit
		buf := make([]byte, 1<<16)
		t.Fatalf("Close did not return in 10 s:\n%s", buf[:runtime.Stack(buf, true)])
	}
	if n := clock.Armed(); n != 0 {
		t.Fatalf("%d run timers still armed after Close", n)
	}
	if _, err := s.Add("late", tcpDef(2)); !errors.Is(err, health.ErrClosed) {
		t.Fatalf("add after close: %v, want ErrClosed", err)
	}
	s.Close() // idempotent
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines after Close, %d before:\n%s", n, base, buf[:runtime.Stack(buf, true)])
	}
}
