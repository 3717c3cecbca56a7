package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lvsnode/lvsnode/health"
	"github.com/lvsnode/lvsnode/loopback"
	"github.com/lvsnode/lvsnode/sockdiag"
	etcdstore "github.com/lvsnode/lvsnode/store/etcd"
	"github.com/lvsnode/lvsnode/systemd"
)

// Daemon keeps a plan true: it applies it, tells systemd READY=1 only once
// the kernel reads back as planned, then repairs drift on every netlink
// event (links, addresses, routes, and the policy rules that concern the
// plan) and on a periodic re-list (sysctls and FOU ports send no events,
// and event streams lose messages), reloads on demand and stops cleanly.
type Daemon struct {
	Agent  *Agent
	Notify systemd.Notifier
	Log    *slog.Logger
	// Reload returns fresh Options (SIGHUP); errors keep the old ones.
	Reload func() (Options, error)

	// Backoff bounds for retrying a failed apply and a broken subscription.
	MinBackoff, MaxBackoff time.Duration
	// Hold, when set, is the daemon's claim on the state file; a reload
	// updates it so one-shot commands compare with what is kept now.
	Hold       *Hold
	ConfigPath string
	// AllEvents makes every netlink event trigger a reconcile, as before
	// events were filtered to what the plan concerns; benchmarks set it
	// to measure what the filter saves.
	AllEvents bool
	// Sockets counts the VIPs' connections for drains (nil: the kernel's
	// sock_diag); Clock times drains (nil: the wall clock).
	Sockets sockdiag.Counter
	Clock   health.Clock

	ctl      chan ctlReq   // drain, undrain, terminate: run by the loop
	done     chan struct{} // closed when Run returns
	dr       drain         // under mu
	terms    int           // SIGTERMs seen (the loop's own)
	stopping bool          // STOPPING=1 sent
	repairAt atomic.Int64  // unix ns of the last repair

	// registration, when register: is set: its state for status and
	// metrics (StartRegistration)
	registration atomic.Pointer[etcdstore.Registrar]

	opts     Options
	plan     Plan
	ready    atomic.Bool
	mu       sync.Mutex
	note     string // a refused reload, said by /readyz
	last     Report
	lastErr  error
	repairs  atomic.Uint64
	failures atomic.Uint64
	resubs   atomic.Uint64
	repairNs atomic.Int64 // duration of the last repair
	// reconciles counts applies run; interrupted those whose dumps the
	// kernel kept interrupting (unknown, retried: never drift).
	reconciles, interrupted atomic.Uint64
	again                   bool // reconcile wants a quick retry
	interest                atomic.Pointer[interest]
}

// NewDaemon returns a Daemon for o.
func NewDaemon(a *Agent, n systemd.Notifier, log *slog.Logger, o Options) *Daemon {
	return &Daemon{Agent: a, Notify: n, Log: log, opts: o, plan: NewPlan(o),
		MinBackoff: 50 * time.Millisecond, MaxBackoff: 5 * time.Second,
		ctl: make(chan ctlReq), done: make(chan struct{}), dr: drain{phase: Serving, sockets: -1}}
}

// Run applies, signals readiness and reconciles until ctx ends, or until
// Terminate (SIGTERM) stops it, after a drain with drain.on-stop. A value
// on reload (SIGHUP) re-reads the options. Drain and Undrain are served
// by this loop. On return it has sent STOPPING=1 and, with
// TeardownOnStop, torn down what it added.
func (d *Daemon) Run(ctx context.Context, reload <-chan struct{}) error {
	defer close(d.done)
	d.mu.Lock()
	d.dr.since = d.clock().Now()
	d.mu.Unlock()
	poll := d.clock().NewTimer(time.Hour) // the drain's socket count
	poll.Stop()
	defer poll.Stop()
	d.interest.Store(interestOf(d.plan))
	breaks := backoff{min: d.MinBackoff, max: d.MaxBackoff}
	var resub <-chan time.Time // the next subscribe attempt, after one failed
	sub := d.subscribe(ctx)
	if sub.events == nil {
		resub = time.After(breaks.next())
	}
	defer func() { sub.close() }() // the one open then
	d.reconcile("start")
	resync := time.NewTicker(d.opts.ResyncInterval)
	defer resync.Stop()
	var watchdog <-chan time.Time
	if iv := systemd.WatchdogInterval(); iv > 0 {
		t := time.NewTicker(iv)
		defer t.Stop()
		watchdog = t.C
	}
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	retries := backoff{min: d.MinBackoff, max: d.MaxBackoff}
	// resubscribe opens the streams and re-lists what the gap hid; a
	// subscribe that fails is tried again after a pause that grows while
	// it keeps failing.
	resubscribe := func() {
		if sub, resub = d.subscribe(ctx), nil; sub.events != nil {
			d.reconcile("resubscribed")
		} else {
			resub = time.After(breaks.next())
		}
	}
	// broken: a stream broke (a receive buffer overrun, say), events were
	// lost: resubscribe at once (a pause would only leave drift unseen).
	broken := func() {
		d.resubs.Add(1)
		sub.close()
		resubscribe()
	}
	for {
		switch {
		case !d.ready.Load() && d.phase() != Drained:
			retry.Reset(retries.next()) // not verified: try again, ever more slowly
		case d.again:
			retry.Reset(d.MinBackoff) // the last read was interrupted: read again soon
		}
		select {
		case <-ctx.Done():
			return d.stop()
		case _, ok := <-sub.events:
			if !ok {
				if ctx.Err() != nil {
					return d.stop()
				}
				broken()
				continue
			}
			d.reconcile("netlink event")
		case ev, ok := <-sub.rules:
			if !ok {
				if ctx.Err() != nil {
					return d.stop()
				}
				broken()
				continue
			}
			relevant := d.concerns(ev)
			if d.drainRules(sub.rules) {
				relevant = true
			}
			if relevant {
				d.reconcile("rule event")
			}
		case <-resub:
			resubscribe()
		case <-resync.C:
			d.reconcile("periodic re-list")
		case <-retry.C:
			d.reconcile("retry")
		case <-reload:
			hadTun := d.plan.Tun != nil
			d.reload()
			d.interest.Store(interestOf(d.plan))
			if (d.plan.Tun != nil) != hadTun && sub.events != nil { // rule events on or off
				sub.close()
				resubscribe()
			}
			resync.Reset(d.opts.ResyncInterval)
		case <-watchdog:
			_ = d.Notify.Notify(systemd.Watchdog())
		case r := <-d.ctl:
			if d.control(r, poll) {
				return d.stop()
			}
		case <-poll.C():
			if d.pollDrain(poll) {
				return d.stop()
			}
		}
	}
}

// convergeAttempts bounds the applies of one reconcile whose read-back
// keeps differing.
const convergeAttempts = 3

// reconcile applies the plan and records the outcome.
func (d *Daemon) reconcile(why string) {
	if d.phase() == Drained {
		return // the VIPs stay removed until Undrain
	}
	start := time.Now()
	var (
		r       Report
		changes []string
		err     error
	)
	// Something may change the host between an apply and its read-back
	// (the very drift being repaired often comes in bursts): re-apply a few
	// times before calling it a failure and leaving the ready state.
	d.reconciles.Add(1)
	for attempt := 1; ; attempt++ {
		var ch []string
		r, ch, err = d.Agent.Apply(d.plan, d.opts)
		changes = append(changes, ch...)
		if !errors.Is(err, ErrNotVerified) || attempt == convergeAttempts {
			break
		}
	}
	// A dump the kernel kept interrupting (thousands of foreign addresses
	// churning on lo) says nothing about the plan: neither drift nor a
	// failure. Readiness stays as it was; read again shortly.
	d.again = errors.Is(err, loopback.ErrInterrupted)
	if d.phase() == Drained {
		// The VIPs were removed on purpose: a reconcile that raced the
		// drain's teardown must not bring them back or claim readiness.
		return
	}
	if d.again {
		d.interrupted.Add(1)
		d.Log.Debug("read interrupted by churn; retrying", "trigger", why, "changes", changes, "err", err)
		return
	}
	d.mu.Lock()
	d.last, d.lastErr = r, err
	d.mu.Unlock()
	if err != nil {
		d.failures.Add(1)
		wasReady := d.ready.Swap(false)
		d.Log.Error("apply failed", "trigger", why, "err", err)
		if wasReady {
			_ = d.Notify.Notify(systemd.Status("degraded: " + err.Error()))
		}
		return
	}
	if configured := why == "start" || why == "reload"; len(changes) > 0 && !configured {
		d.repairs.Add(1)
		d.repairNs.Store(int64(time.Since(start)))
		d.repairAt.Store(time.Now().UnixNano())
		d.Log.Warn("drift repaired", "trigger", why, "changes", changes, "took", time.Since(start))
	} else if len(changes) > 0 {
		d.Log.Info("applied", "changes", changes, "took", time.Since(start))
	}
	// READY=1 marks becoming ready (start, reload, recovery from a failed
	// apply); a repair while ready only updates STATUS=.
	switch wasReady := d.ready.Swap(true); {
	case !wasReady && d.phase() != Serving:
		_ = d.Notify.Notify(systemd.Status("verified, still draining; " + r.Summary()))
	case !wasReady:
		_ = d.Notify.Notify(systemd.Ready(r.Summary()))
	case len(changes) > 0:
		_ = d.Notify.Notify(systemd.Status(fmt.Sprintf("repaired %d change(s) after %s; %s", len(changes), why, r.Summary())))
	}
}

// reload re-reads the options. It always ends with READY=1, since systemd
// waits for it after RELOADING=1; a refused file or an unverified result
// is said in STATUS= (and /readyz) instead.
func (d *Daemon) reload() {
	_ = d.Notify.Notify(systemd.Reloading())
	refused := ""
	if d.Reload != nil {
		o, err := d.Reload()
		if err == nil {
			err = restartOnly(d.opts, o)
		}
		if cerr := d.Agent.CheckInput(NewPlan(o)); err == nil && errors.Is(cerr, ErrBadInput) {
			err = cerr
		}
		if err != nil {
			refused = "reload refused, running configuration kept: " + err.Error()
			d.Log.Error("reload refused; keeping the running configuration", "err", err)
		} else {
			d.opts, d.plan = o, NewPlan(o)
			if d.Hold != nil {
				if err := d.Hold.Update(HolderOf(o, d.ConfigPath)); err != nil {
					d.Log.Warn("could not update the daemon's claim file", "err", err)
				}
			}
			d.Log.Info("configuration reloaded", "vips", o.VIPs)
		}
	}
	d.ready.Store(false) // re-verify: reconcile sends READY=1 when it can
	d.reconcile("reload")
	if ok, why := d.Ready(); !ok {
		_ = d.Notify.Notify(systemd.Ready("reloaded, not verified: " + strings.Join(why, "; ")))
	}
	d.mu.Lock()
	d.note = refused // shown by /readyz until a reload is accepted
	d.mu.Unlock()
	if refused != "" {
		_ = d.Notify.Notify(systemd.Status(refused))
	}
}

// restartOnly refuses a reload that changes what the running process
// cannot take over: the state file (and with it the daemon's claim and
// lock) and the HTTP listener are opened once, at start. Applying the rest
// and ignoring those would log "reloaded" with half of the file in force.
func restartOnly(cur, next Options) error {
	var changed []string
	if next.StateFile != cur.StateFile {
		changed = append(changed, fmt.Sprintf("state-file %s -> %s", cur.StateFile, next.StateFile))
	}
	if next.Listen != cur.Listen {
		changed = append(changed, fmt.Sprintf("listen %q -> %q", cur.Listen, next.Listen))
	}
	if len(changed) == 0 {
		return nil
	}
	return fmt.Errorf("%s take(s) effect only on restart (systemctl restart lvsnode-agent)", strings.Join(changed, ", "))
}

// backoff grows a delay while failures come in quick succession and
// starts again from min after a quiet period.
type backoff struct {
	min, max time.Duration
	cur      time.Duration
	last     time.Time
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 || time.Since(b.last) > 10*b.max {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	b.last = time.Now()
	return b.cur
}

func (d *Daemon) stop() error {
	if !d.stopping {
		_ = d.Notify.Notify(systemd.Stopping())
	}
	d.ready.Store(false)
	if !d.opts.TeardownOnStop {
		return nil
	}
	done, notes, err := d.Agent.Teardown(nil)
	d.Log.Info("torn down on stop", "done", done, "notes", notes)
	return err
}

// Note is what /readyz says besides readiness: the last reload refused,
// or "" once a reload was accepted.
func (d *Daemon) Note() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.note
}

// Ready reports whether the daemon serves: every desired item verified
// by the last reconcile and no drain. Otherwise the reasons, one per
// line; in a drain the first line is "draining: ..." or "drained: ..."
// (health's ready checker tells them apart), then what is not verified.
func (d *Daemon) Ready() (bool, []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.dr.phase == Draining || d.dr.phase == Drained {
		why := []string{d.dr.line(d.clock().Now())}
		if !d.ready.Load() && d.dr.phase == Draining {
			why = append(why, d.problemsLocked()...)
		}
		return false, why
	}
	if d.ready.Load() {
		return true, nil
	}
	return false, d.problemsLocked()
}

// problemsLocked is why the last reconcile did not verify; d.mu held.
func (d *Daemon) problemsLocked() []string {
	switch {
	case d.lastErr != nil:
		return []string{d.lastErr.Error()}
	case len(d.last.Items) == 0:
		return []string{"starting: not applied yet"}
	}
	return d.last.Problems()
}
