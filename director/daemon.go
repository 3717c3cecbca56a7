package director

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/lvsnode/lvsnode/controller"
	"github.com/lvsnode/lvsnode/health"
	"github.com/lvsnode/lvsnode/ipvs"
	"github.com/lvsnode/lvsnode/sysctl"
	"github.com/lvsnode/lvsnode/systemd"
)

// Options are the daemon's kernel boundaries and knobs; tests give fakes.
type Options struct {
	IPVS       ipvs.Client
	Store      Store
	Sysctl     sysctl.Client // nil: the IPVS sysctls are not checked
	Notify     systemd.Notifier
	Log        *slog.Logger
	Clock      health.Clock                                    // default health.RealClock
	NewChecker func(health.Definition) (health.Checker, error) // default health.NewChecker
	// LockPath is the table lock shared with the one-shot CLI commands
	// (default controller.LockPath; "" in tests disables it with NoLock).
	LockPath string
	NoLock   bool
	// Metrics observes probes and reconciles (director/metrics.go); nil: none.
	Metrics Observer
}

// Observer is told about every probe and every reconcile (for metrics).
type Observer interface {
	Checked(n NodeRef, r health.Result)
	Reconciled(changes int, err error)
}

// Daemon is `lvsnode controller run`: it holds the desired state, runs the
// health checks, and reconciles the managed part of IPVS to them.
type Daemon struct {
	o     Options
	log   *slog.Logger
	clock health.Clock
	sched *health.Scheduler

	trigger chan struct{} // coalesced: one pending reconcile at most

	ipvsMu sync.Mutex // ipvs.Client is not safe for concurrent use

	mu       sync.Mutex // guards everything below
	cfg      Config
	desired  Desired
	model    *model
	marks    *markAlloc
	subs     map[string]health.Key // node id -> its check's key
	ready    bool
	lastErr  error
	dirty    bool // runtime state changed since the last Save
	lastRead controller.Table
	readAt   time.Time // when lastRead was read (d.clock)
	applied  uint64    // reconciles that wrote changes: a lastRead older than the last one is stale
	readGen  uint64    // applied as of lastRead
}

// New builds a daemon for cfg; Start loads the store and adopts the kernel.
func New(cfg Config, o Options) *Daemon {
	if o.Clock == nil {
		o.Clock = health.RealClock{}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Notify == nil {
		o.Notify = &systemd.Recorder{}
	}
	if o.LockPath == "" {
		o.LockPath = controller.LockPath()
	}
	return &Daemon{o: o, log: o.Log, clock: o.Clock, cfg: cfg, trigger: make(chan struct{}, 1), subs: map[string]health.Key{}}
}

// Start loads the saved state, merges the config into it, sets the
// sysctls (install), subscribes the health checks (restoring each real server's
// saved state as the check's initial one) and reconciles once. Health
// checks start probing when Start returns (gateClock); Run keeps it going.
func (d *Daemon) Start(ctx context.Context) error {
	saved, err := d.o.Store.Load(ctx)
	if err != nil {
		return err
	}
	newChecker := d.o.NewChecker
	if newChecker == nil {
		newChecker = health.NewChecker
	}
	gate := &gateClock{Clock: d.clock}
	defer gate.release() // also on error: a later Close must find no timer held
	opts := health.Options{Clock: gate, OnChange: d.onHealth, NewChecker: newChecker}
	if d.o.Metrics != nil {
		// A hook, not a wrapper around the checker: the scheduler drives
		// TCP checkers on its event loop only when it sees them as they are.
		opts.OnProbe = func(def health.Definition, r health.Result) {
			d.o.Metrics.Checked(NodeRef{Address: def.Target.String(), Port: def.Port}, r)
		}
	}
	d.sched = health.NewScheduler(ctx, opts)
	d.mu.Lock()
	err = d.install(mergeConfig(saved, d.cfg.Services), true)
	d.mu.Unlock()
	if err != nil {
		return err
	}
	return d.Reconcile(ctx)
}

// Close stops the health checks.
func (d *Daemon) Close() {
	if d.sched != nil {
		d.sched.Close()
	}
}

// install compiles next, sets the sysctls it needs (accept_local for
// data-path checks), swaps it in, (re)subscribes the checks and saves.
// Called with d.mu held; on error nothing changed but a sysctl set.
func (d *Daemon) install(next Desired, restore bool) error {
	marks := newMarkAlloc(d.cfg.markLo, d.cfg.markHi, next.Marks)
	m, err := compile(clone(next.Services), marks)
	if err != nil {
		return err
	}
	if err := d.ensureSysctls(m); err != nil {
		return err
	}
	next.Marks = marks.saved()
	if next.Nodes == nil {
		next.Nodes = map[string]NodeState{}
	}
	for id := range next.Nodes { // forget real servers that are gone
		if _, ok := m.nodes[id]; !ok {
			delete(next.Nodes, id)
		}
	}
	for id, n := range m.nodes {
		st := next.Nodes[id]
		if n.check == nil {
			st.Health = ""
		}
		if st.Drain == "" {
			st.Drain = DrainNone
		}
		next.Nodes[id] = st
	}
	if err := d.subscribe(m, next.Nodes); err != nil {
		return err
	}
	d.desired, d.model, d.marks = next, m, marks
	d.dirty = true
	d.kick()
	return nil
}

// subscribe makes the scheduler's subscriptions match m: new real servers
// join (their check starting at the saved state), changed checks move,
// gone ones leave. Shared checks (same Key) run once.
func (d *Daemon) subscribe(m *model, states map[string]NodeState) error {
	for id := range d.subs {
		if n, ok := m.nodes[id]; !ok || n.check == nil {
			d.sched.Remove(id)
			delete(d.subs, id)
		}
	}
	for id, n := range m.nodes {
		if n.check == nil {
			continue
		}
		def := *n.check
		switch states[id].Health {
		case HealthUp:
			def.Initial = health.Up
		case HealthDraining:
			def.Initial = health.Draining
		}
		var st health.Status
		var err error
		if _, ok := d.subs[id]; ok {
			st, err = d.sched.Update(id, def)
		} else {
			st, err = d.sched.Add(id, def)
		}
		if err != nil {
			return fmt.Errorf("%w: %s: %v", ErrInvalid, id, err)
		}
		d.subs[id] = def.Key()
		s := states[id]
		s.Health = st.State.String()
		states[id] = s
	}
	return nil
}

// kick asks for a reconcile; several kicks before it runs make one.
func (d *Daemon) kick() {
	select {
	case d.trigger <- struct{}{}:
	default:
	}
}

// onHealth takes a check's state change to every real server using it.
func (d *Daemon) onHealth(e health.Event) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, id := range e.Subscribers {
		st, ok := d.desired.Nodes[id]
		if !ok {
			continue
		}
		st.Health = e.To.String()
		switch {
		case e.To == health.Draining && st.Drain == DrainNone:
			st.Drain, st.DrainBy, st.DrainSince = DrainDraining, "agent", e.At
			st.Timeout, st.Remove = d.cfg.Drain.Timeout, d.cfg.Drain.Remove
		case e.To == health.Up && st.DrainBy == "agent":
			st.Drain, st.DrainBy, st.DrainSince = DrainNone, "", time.Time{}
		}
		d.desired.Nodes[id] = st
		d.log.Info("health", "node", id, "from", e.From.String(), "to", e.To.String(), "reason", e.Result.Reason)
	}
	d.dirty = true
	d.kick()
}

// Run reconciles on every trigger, every resync interval (drift repair),
// and every drain interval while a drain is in progress, until ctx ends.
// A reload's intervals apply from the next tick.
func (d *Daemon) Run(ctx context.Context) error {
	cfg := d.config()
	resync := d.clock.NewTimer(time.Duration(cfg.Resync))
	defer resync.Stop()
	poll := d.clock.NewTimer(time.Duration(cfg.Drain.Interval))
	defer poll.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-d.trigger:
		case <-resync.C():
			resync.Reset(time.Duration(d.config().Resync))
		case <-poll.C():
			poll.Reset(time.Duration(d.config().Drain.Interval))
			if !d.draining() {
				continue
			}
		}
		began := d.clock.Now()
		if err := d.Reconcile(ctx); err != nil {
			d.log.Error("reconcile", "err", err)
		}
		d.pause(ctx, d.clock.Now().Sub(began))
	}
}

// maxPause bounds the pause after a reconcile (see pause).
const maxPause = 500 * time.Millisecond

// pause waits as long as the last reconcile took (at most maxPause), so
// that under a storm of health changes (1,000 real servers rising at
// start, a switch failing) the loop takes at most half of a core and the
// next reconcile batches every change made meanwhile, instead of reading
// and planning the whole table once per change back to back. A reconcile
// of a few real servers takes milliseconds, which is all it adds to a
// detection.
func (d *Daemon) pause(ctx context.Context, took time.Duration) {
	if took <= 0 {
		return
	}
	t := d.clock.NewTimer(min(took, maxPause))
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C():
	}
}

// config is the running config (Reload replaces it under d.mu).
func (d *Daemon) config() Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

func (d *Daemon) draining() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.drainingLocked()
}

func (d *Daemon) drainingLocked() bool {
	for _, st := range d.desired.Nodes {
		if st.Drain == DrainDraining {
			return true
		}
	}
	return false
}

// Ready reports whether the daemon has reconciled and the last reconcile
// succeeded (Status.Ready, /readyz); why says what failed when it is not.
func (d *Daemon) Ready() (ok bool, why string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case !d.ready:
		return false, "not reconciled yet"
	case d.lastErr != nil:
		return false, "last reconcile failed: " + d.lastErr.Error()
	}
	return true, ""
}

// sortedIDs lists node ids in a stable order (for logs and tests).
func sortedIDs(m map[string]NodeState) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}
