package director

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
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
	// busy is when the reconcile in progress began (UnixNano, wall
	// clock), 0 between reconciles: the watchdog stops when it is old.
	busy atomic.Int64

	ipvsMu sync.Mutex // ipvs.Client is not safe for concurrent use
	// tableMu is held from a reconcile's read to its last write (with the
	// table lock, which other processes take): the full pass and the
	// runtime changes' scoped ones never interleave.
	tableMu sync.Mutex
	// waiting counts the runtime changes under way (change): a full
	// read of the table gives way to them (preemptible).
	waiting atomic.Int32
	// preempted counts the full reconciles in a row that gave way
	// (guarded by tableMu).
	preempted int

	mu       sync.Mutex // guards everything below
	cfg      Config
	desired  Desired
	model    *model
	marks    *markAlloc
	subs     map[string]health.Key // node id -> its check's key
	ready    bool
	lastErr  error
	dirty    bool // runtime state changed since the last Save
	unseeded bool // director.yaml not seeded into the shared store yet (seedPending)
	lastRead controller.Table
	readAt   time.Time // when lastRead was read (d.clock)
	applied  uint64    // reconciles that wrote changes: a lastRead older than the last one is stale
	readGen  uint64    // applied as of lastRead

	syncs syncState // the sync daemons' last pass (sync.go)
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
	if err := d.checkSyncLink(d.cfg); err != nil {
		return err
	}
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
	err = d.install(ctx, d.mergeFile(ctx, saved, d.cfg.Services), true)
	d.mu.Unlock()
	if err != nil {
		return err
	}
	err = d.Reconcile(ctx)
	d.syncPass()
	return err
}

// Close stops the health checks.
func (d *Daemon) Close() {
	if d.sched != nil {
		d.sched.Close()
	}
}

// install compiles next, sets the sysctls it needs (accept_local for
// data-path checks), saves it, then (re)subscribes the checks and swaps it
// in: a change that cannot be saved is not made (the caller is answered
// with the error and the next reconcile does not see it). The caller
// reconciles: a full pass (kick: start, reload) or only what a runtime
// change touched (reconcileServices). Called with d.mu held; on error
// nothing changed but a sysctl set.
func (d *Daemon) install(ctx context.Context, next Desired, restore bool) error {
	marks := newMarkAlloc(d.cfg.markLo, d.cfg.markHi, next.Marks)
	m, err := d.cfg.compile(clone(next.Services), marks, d.model)
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
		if n.agent == nil {
			st.Agent = ""
		}
		if st.Drain == "" {
			st.Drain = DrainNone
		}
		next.Nodes[id] = st
	}
	d.seedNewProbes(m, next.Nodes)
	if err := d.o.Store.Save(ctx, next); err != nil {
		return err
	}
	changed, err := d.subscribe(m, next.Nodes)
	if err != nil { // checkers were validated by compile: not expected
		if d.model != nil {
			_, _ = d.subscribe(d.model, d.desired.Nodes)
		}
		return errors.Join(err, d.o.Store.Save(ctx, d.desired))
	}
	d.desired, d.model, d.marks = next, m, marks
	d.dirty = d.dirty || changed
	return nil
}

// seedNewProbes starts a probe added to a real server that is serving now
// (a reload or edit adds check: or agent: to it) at up, not at the
// alpha's down: a config change must not take a serving service to weight
// 0 until rise probes pass. New real servers keep the alpha (down until
// proven). Called with d.mu held, before subscribe.
func (d *Daemon) seedNewProbes(m *model, states map[string]NodeState) {
	if d.model == nil {
		return
	}
	for id, n := range m.nodes {
		old, ok := d.model.nodes[id]
		if !ok {
			continue
		}
		if p := place(old, d.desired.Nodes[id]); !p.present || p.weight == 0 {
			continue
		}
		st := states[id]
		if n.check != nil && old.check == nil && st.Health == "" {
			st.Health = HealthUp
		}
		if n.agent != nil && old.agent == nil && st.Agent == "" {
			st.Agent = AgentReady
		}
		states[id] = st
	}
}

// subscribe makes the scheduler's subscriptions match m: new real servers
// join (their check starting at the saved state), changed checks move,
// then gone ones leave (last: a failure leaves every running check in
// place). Shared checks (same Key) run once. It reports whether a state
// in states changed (a joined run's shared state).
func (d *Daemon) subscribe(m *model, states map[string]NodeState) (bool, error) {
	changed := false
	for id, n := range m.nodes {
		before := states[id]
		if n.agent != nil {
			def := *n.agent
			def.Initial = agentInitial(states[id].Agent)
			st, err := d.subscribeOne(agentSubID(id), def)
			if err != nil {
				return changed, err
			}
			s := states[id]
			s.Agent = agentWord(st.State)
			states[id] = s
		}
		if n.check == nil {
			changed = changed || states[id] != before
			continue
		}
		if _, ok := d.subs[id]; ok && d.model != nil && sameCheck(d.model.nodes[id], n) {
			continue // subscribed as it is (a runtime change left it alone)
		}
		def := *n.check
		switch states[id].Health {
		case HealthUp:
			def.Initial = health.Up
		case HealthDraining:
			def.Initial = health.Draining
		}
		st, err := d.subscribeOne(id, def)
		if err != nil {
			return changed, err
		}
		s := states[id]
		s.Health = st.State.String()
		states[id] = s
		changed = changed || s != before
	}
	for sub := range d.subs {
		id, agent := agentOf(sub)
		if n, ok := m.nodes[id]; !ok || (!agent && n.check == nil) || (agent && n.agent == nil) {
			d.sched.Remove(sub)
			delete(d.subs, sub)
		}
	}
	return changed, nil
}

// hasAgent tells whether node id has an agent: probe beside its check.
// Called with d.mu held.
func (d *Daemon) hasAgent(id string) bool {
	if d.model == nil {
		return false
	}
	n, ok := d.model.nodes[id]
	return ok && n.agent != nil
}

// subscribeOne adds or moves the scheduler subscription sub to def.
func (d *Daemon) subscribeOne(sub string, def health.Definition) (health.Status, error) {
	var st health.Status
	var err error
	if _, ok := d.subs[sub]; ok {
		st, err = d.sched.Update(sub, def)
	} else {
		st, err = d.sched.Add(sub, def)
	}
	if err != nil {
		return st, fmt.Errorf("%w: %s: %v", ErrInvalid, sub, err)
	}
	d.subs[sub] = def.Key()
	return st, nil
}

// sameCheck reports whether new has the check old had: compiled from the
// same check (not a copy: edits replace checks, never change them in
// place) for the same real server (the node id) with the same mark.
func sameCheck(old, new *node) bool {
	return old != nil && old.check != nil && new.check != nil && old.checkSrc == new.checkSrc && old.check.Mark == new.check.Mark
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
	for _, sub := range e.Subscribers {
		id, agent := agentOf(sub)
		st, ok := d.desired.Nodes[id]
		if !ok || d.subs[sub] != e.Key {
			// gone, or moved to another check since the run recorded
			// this (OnChange waits for d.mu): the new run decides
			continue
		}
		if agent {
			st.Agent = agentWord(e.To)
		} else {
			st.Health = e.To.String()
		}
		switch {
		case e.To == health.Draining && st.Drain == DrainNone:
			st.Drain, st.DrainBy, st.DrainSince = DrainDraining, "agent", e.At
			st.Timeout, st.Remove = d.cfg.Drain.Timeout, d.cfg.Drain.Remove
		case e.To == health.Up && st.DrainBy == "agent" && (agent || !d.hasAgent(id)):
			// only the probe that reported the drain ends it: an HTTP
			// check that passes says nothing about the agent's drain
			st.Drain, st.DrainBy, st.DrainSince = DrainNone, "", time.Time{}
		}
		d.desired.Nodes[id] = st
		what := "health"
		if agent {
			what = "agent"
		}
		d.log.Info(what, "node", id, "from", e.From.String(), "to", e.To.String(), "reason", e.Result.Reason)
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
			d.syncPass() // repairs a stopped sync daemon (sync.go)
		case <-poll.C():
			poll.Reset(time.Duration(d.config().Drain.Interval))
			if !d.draining() {
				continue
			}
		}
		began := d.clock.Now()
		d.busy.Store(time.Now().UnixNano())
		if err := d.Reconcile(ctx); err != nil {
			d.log.Error("reconcile", "err", err)
		}
		d.busy.Store(0)
		d.pause(ctx, d.clock.Now().Sub(began))
	}
}

// maxPause bounds the pause after a reconcile (see pause).
const maxPause = 500 * time.Millisecond

// hung reports how long the reconcile in progress has run when that is
// beyond limit (0 otherwise): the loop is stuck (a netlink call that never
// returns), and the watchdog must let systemd restart the daemon.
func (d *Daemon) hung(limit time.Duration) time.Duration {
	b := d.busy.Load()
	if b == 0 {
		return 0
	}
	if took := time.Since(time.Unix(0, b)); took > limit {
		return took
	}
	return 0
}

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
	return d.readyLocked()
}

// readyLocked is Ready, d.mu held. Under active_active, a director with a
// shared store is not ready until it has read the shared state once since
// it started (StoreStatus.Read; losing the store later changes nothing):
// its readiness announces it to the router's ECMP group (examples/bird),
// whose other directors hold the shared table, and a director serving a
// stale cached table there has another mh table than theirs: flows that
// ECMP moves to it are scheduled elsewhere and reset. Without
// active_active it is not required: readiness there decides whether a
// standby (keepalived) may carry the VIP at all, and one serving its last
// known table beats none (status says the store is unreachable).
func (d *Daemon) readyLocked() (ok bool, why string) {
	switch {
	case !d.ready:
		return false, "not reconciled yet"
	case d.lastErr != nil:
		return false, "last reconcile failed: " + d.lastErr.Error()
	case d.cfg.ActiveActive:
		if st := d.storeStatus(); st != nil && !st.Read {
			return false, "active_active: the shared store (" + st.Backend + ") not read since start: the table may be stale"
		}
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
