package health

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// Options configure a Scheduler. Every field is optional.
type Options struct {
	Clock Clock // default RealClock
	// NewChecker builds the probe of a run; default NewChecker. Tests and
	// the daemon's own fakes replace it.
	NewChecker func(Definition) (Checker, error)
	// OnChange receives every state change. It is called from the
	// goroutine that ran the probe (the run's own; the event loop's for
	// TCP runs), in order for one key, possibly concurrently for different
	// keys. While it runs that key's next probe waits, and for a TCP run
	// every TCP run's (a probe in flight is still judged by its own
	// completion, not timed out by the wait), so it must not block.
	OnChange func(Event)
	// OnProbe, if set, receives the result of every probe (metrics), from
	// the goroutine that ran it; it must not block.
	OnProbe func(Definition, Result)
}

// Event is one state change of a check run.
type Event struct {
	Key         Key
	Subscribers []string // sorted; every subscriber of the run at the change
	From, To    State
	Result      Result // the result that caused it
	Successes   int    // consecutive, at the change
	Failures    int    // consecutive, at the change
	At          time.Time
}

// Status is the current view of one run.
type Status struct {
	Key       Key
	State     State
	Since     time.Time // last change, or when the run began
	Checked   time.Time // last probe; zero before the first
	Last      Result
	Successes int
	Failures  int
}

// Scheduler runs each distinct check (one Key) once, whatever the number of
// subscribers, first after Key.Offset of its interval, then every interval.
//
// TCP checks (on Linux) run on one event loop for the whole scheduler, as
// keepalived's checker does (evloop_linux.go): a heap of due runs, their
// connects in flight in one epoll set, no goroutine or timer per run.
// Other checks (HTTP, ready, and any Options.NewChecker of the caller's)
// run on a goroutine and a timer each.
type Scheduler struct {
	clock    Clock
	build    func(Definition) (Checker, error)
	onChange func(Event)
	onProbe  func(Definition, Result)
	ev       *evLoop // made by the first TCP run

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	runs   map[Key]*run
	subs   map[string]*run // subscriber id -> its run
}

type run struct {
	key     Key
	probe   string
	def     Definition
	checker Checker
	cancel  context.CancelFunc
	subs    map[string]struct{}
	gone    bool // removed: its last result is not reported
	m       machine
	st      Status
	ev      evState // the event loop's part, when it runs the probes
}

// NewScheduler starts a scheduler that lives until ctx ends or Close.
func NewScheduler(ctx context.Context, o Options) *Scheduler {
	if o.Clock == nil {
		o.Clock = RealClock{}
	}
	if o.NewChecker == nil {
		o.NewChecker = NewChecker
	}
	if o.OnChange == nil {
		o.OnChange = func(Event) {}
	}
	if o.OnProbe == nil {
		o.OnProbe = func(Definition, Result) {}
	}
	s := &Scheduler{clock: o.Clock, build: o.NewChecker, onChange: o.OnChange, onProbe: o.OnProbe,
		runs: map[Key]*run{}, subs: map[string]*run{}}
	s.ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Add(1)
	go func() { // stop accepting subscribers as soon as ctx ends
		defer s.wg.Done()
		<-s.ctx.Done()
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
	}()
	return s
}

// Close stops every run and returns once all goroutines have exited; no
// OnChange call happens after it returns. Idempotent.
func (s *Scheduler) Close() {
	s.cancel()
	s.wg.Wait()
}

// Add subscribes id to the check d and returns the run's current status:
// the Initial state for a new run, the shared state for an existing one.
// Errors wrap ErrInvalid, ErrExists or ErrClosed.
func (s *Scheduler) Add(id string, d Definition) (Status, error) {
	if err := d.Validate(); err != nil {
		return Status{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Status{}, ErrClosed
	}
	if _, ok := s.subs[id]; ok {
		return Status{}, fmt.Errorf("%w: %q", ErrExists, id)
	}
	r, err := s.attach(id, d, nil)
	if err != nil {
		return Status{}, err
	}
	return r.st, nil
}

// Update moves id to the check d. The same Key changes nothing (the run
// and its counts go on undisturbed). A new Key leaves the old run (stopped
// if id was its last subscriber) and joins or starts the new one; a new run
// that probes the same thing with other timing inherits the old state.
// Errors wrap ErrInvalid, ErrNotFound or ErrClosed; on error nothing changed.
func (s *Scheduler) Update(id string, d Definition) (Status, error) {
	if err := d.Validate(); err != nil {
		return Status{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Status{}, ErrClosed
	}
	old, ok := s.subs[id]
	if !ok {
		return Status{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if old.key == d.Key() {
		return old.st, nil
	}
	r, err := s.attach(id, d, old)
	if err != nil {
		return Status{}, err
	}
	s.detach(id, old)
	s.subs[id] = r
	return r.st, nil
}

// Remove unsubscribes id, stopping its run if no one else uses it. It
// reports whether id was subscribed.
func (s *Scheduler) Remove(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.subs[id]
	if ok {
		s.detach(id, r)
		delete(s.subs, id)
	}
	return ok
}

// Status returns id's run status.
func (s *Scheduler) Status(id string) (Status, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.subs[id]
	if !ok {
		return Status{}, false
	}
	return r.st, true
}

// Runs is the number of distinct check runs (for metrics).
func (s *Scheduler) Runs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.runs)
}

// attach joins id to the run of d, starting it if needed; seed is the run
// id leaves (Update), whose state a new run with the same probe inherits.
// Called with s.mu held; on error nothing changed.
func (s *Scheduler) attach(id string, d Definition, seed *run) (*run, error) {
	d = d.WithDefaults()
	key := d.Key()
	r, ok := s.runs[key]
	if !ok {
		c, err := s.build(d)
		if err != nil {
			return nil, err
		}
		now := s.clock.Now()
		r = &run{key: key, probe: d.probe(), def: d, checker: c, subs: map[string]struct{}{},
			m: machine{state: d.Initial, rise: d.Rise, fall: d.Fall}}
		if seed != nil && seed.probe == r.probe {
			r.m.state, r.m.successes, r.m.failures = seed.m.state, seed.m.successes, seed.m.failures
		}
		r.st = Status{Key: key, State: r.m.state, Since: now}
		s.runs[key] = r
		if p, ok := c.(evProbe); ok && s.evLoop() != nil {
			r.ev.probe = p
			s.ev.queue(r, now.Add(key.Offset(d.Interval)))
		} else {
			var ctx context.Context
			ctx, r.cancel = context.WithCancel(s.ctx)
			s.wg.Add(1)
			go s.loop(ctx, r)
		}
	}
	r.subs[id] = struct{}{}
	s.subs[id] = r
	return r, nil
}

// evLoop returns the event loop, starting it on first use; nil if this
// system has none (the caller falls back to a goroutine per run). Called
// with s.mu held.
func (s *Scheduler) evLoop() *evLoop {
	if s.ev == nil {
		l, err := newEvLoop(s)
		if err != nil {
			return nil
		}
		s.ev = l
		l.changes = s.startChanges()
		s.wg.Add(1)
		go l.run(s.ctx)
	}
	return s.ev
}

// detach removes id from r, stopping r when it has no subscriber left.
// Called with s.mu held.
func (s *Scheduler) detach(id string, r *run) {
	delete(r.subs, id)
	if len(r.subs) == 0 {
		r.gone = true
		if r.ev.probe != nil {
			s.ev.unqueue(r) // a probe in flight ends unreported
		} else {
			r.cancel()
		}
		delete(s.runs, r.key)
	}
}

// loop probes r until its context ends: first after the key's offset, then
// an interval after each probe began.
func (s *Scheduler) loop(ctx context.Context, r *run) {
	defer s.wg.Done()
	t := s.clock.NewTimer(r.key.Offset(r.def.Interval))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		began := s.clock.Now()
		res := r.checker.Check(ctx)
		if ctx.Err() != nil {
			return
		}
		s.onProbe(r.def, res)
		if ev, ok := s.record(r, res, began); ok {
			s.onChange(ev)
		}
		t.Reset(max(0, r.def.Interval-s.clock.Now().Sub(began)))
	}
}

// record applies res to r's machine and returns the event of a change.
func (s *Scheduler) record(r *run, res Result, at time.Time) (Event, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.gone {
		return Event{}, false
	}
	from, changed := r.m.observe(res)
	r.st.State, r.st.Checked, r.st.Last = r.m.state, at, res
	r.st.Successes, r.st.Failures = r.m.successes, r.m.failures
	if !changed {
		return Event{}, false
	}
	r.st.Since = at
	subs := make([]string, 0, len(r.subs))
	for id := range r.subs {
		subs = append(subs, id)
	}
	slices.Sort(subs)
	return Event{Key: r.key, Subscribers: subs, From: from, To: r.m.state, Result: res,
		Successes: r.m.successes, Failures: r.m.failures, At: at}, true
}
