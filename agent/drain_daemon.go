package agent

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/lvsnode/lvsnode/health"
	"github.com/lvsnode/lvsnode/sockdiag"
	etcdstore "github.com/lvsnode/lvsnode/store/etcd"
	"github.com/lvsnode/lvsnode/systemd"
)

// ErrNotRunning is returned by the daemon's control methods once Run has
// returned (or before it started): nobody would act on the request.
var ErrNotRunning = errors.New("the agent daemon is not running")

// ctlKind is a request to the daemon's loop.
type ctlKind int

const (
	ctlDrain     ctlKind = iota // `agent drain`
	ctlUndrain                  // `agent undrain`
	ctlTerminate                // SIGTERM, SIGINT
)

type ctlReq struct {
	kind    ctlKind
	timeout time.Duration // ctlDrain: 0 = the configured one
	reply   chan DaemonState
}

// DaemonState is the running daemon's view of itself: `agent status --json`
// shows it, the control socket serves it.
type DaemonState struct {
	PID   int   `json:"pid"`
	Ready bool  `json:"ready"` // what /readyz answers: verified and serving
	Phase Phase `json:"phase"`
	// Draining is Phase == draining, for readers that only ask that.
	Draining bool      `json:"draining"`
	Since    time.Time `json:"since"` // when the phase began
	// Reasons are /readyz's lines when not ready (the first one says
	// draining or drained in those phases).
	Reasons []string `json:"reasons,omitempty"`
	// VIPSockets counts established TCP connections whose local address
	// is a VIP, read now; absent when the count failed (VIPSocketsError).
	VIPSockets      *int       `json:"vip_sockets,omitempty"`
	VIPSocketsError string     `json:"vip_sockets_error,omitempty"`
	DrainDeadline   *time.Time `json:"drain_deadline,omitempty"`
	DrainMinUntil   *time.Time `json:"drain_min_until,omitempty"`
	DrainExit       bool       `json:"drain_exit,omitempty"` // the daemon stops when drained
	DrainEnded      string     `json:"drain_ended,omitempty"`
	Repairs         uint64     `json:"repairs"`
	LastRepair      *time.Time `json:"last_repair,omitempty"`
	// LastRepairSeconds is how long the last repair took.
	LastRepairSeconds float64      `json:"last_repair_seconds,omitempty"`
	Mode              Mode         `json:"mode"`
	VIPs              []netip.Addr `json:"vips"`
	// Registration is register:'s state (absent without it): whether its
	// keys are in etcd, and the last failure and its reason.
	Registration *etcdstore.RegisterStatus `json:"registration,omitempty"`
}

func (d *Daemon) clock() health.Clock {
	if d.Clock == nil {
		return health.RealClock{}
	}
	return d.Clock
}

func (d *Daemon) sockets() sockdiag.Counter {
	if d.Sockets == nil {
		return sockdiag.Kernel{}
	}
	return d.Sockets
}

// request hands r to the loop and waits for its answer.
func (d *Daemon) request(ctx context.Context, r ctlReq) (DaemonState, error) {
	if d.ctl == nil {
		return DaemonState{}, ErrNotRunning
	}
	r.reply = make(chan DaemonState, 1)
	select {
	case d.ctl <- r:
	case <-d.done:
		return DaemonState{}, ErrNotRunning
	case <-ctx.Done():
		return DaemonState{}, ctx.Err()
	}
	select {
	case s := <-r.reply:
		return s, nil
	case <-d.done:
		return d.State(), nil // it stopped on this request (drained at once on SIGTERM)
	case <-ctx.Done():
		return DaemonState{}, ctx.Err()
	}
}

// Drain starts draining (timeout 0: drain.timeout of the config) and
// returns once it has started, with the state then. Draining an already
// draining daemon keeps that drain; a drained one stays drained.
func (d *Daemon) Drain(ctx context.Context, timeout time.Duration) (DaemonState, error) {
	return d.request(ctx, ctlReq{kind: ctlDrain, timeout: timeout})
}

// Undrain ends a drain, or re-applies the plan after one: the VIPs come
// back and readiness follows the next verified reconcile.
func (d *Daemon) Undrain(ctx context.Context) (DaemonState, error) {
	return d.request(ctx, ctlReq{kind: ctlUndrain})
}

// Terminate is SIGTERM: with drain.on-stop it drains, then stops (Run
// returns); without it, or a second time, Run stops at once.
func (d *Daemon) Terminate() {
	go func() { _, _ = d.request(context.Background(), ctlReq{kind: ctlTerminate}) }()
}

// control runs a request in the loop; true means stop now.
func (d *Daemon) control(r ctlReq, poll health.Timer) (stop bool) {
	now := d.clock().Now()
	d.mu.Lock()
	cfg := d.opts.Drain
	switch r.kind {
	case ctlTerminate:
		d.terms++
		if !cfg.OnStop || d.terms > 1 || d.dr.phase == Drained {
			d.mu.Unlock()
			return true
		}
		d.dr.begin(now, cfg.Timeout, cfg.MinWait, true)
		d.mu.Unlock()
		d.stopping = true
		_ = d.Notify.Notify(systemd.Stopping() + "\n" + systemd.Status("draining before stop: waiting for the VIPs' sockets"))
		d.Log.Info("SIGTERM: draining before stop", "timeout", cfg.Timeout, "min-wait", cfg.MinWait)
	case ctlDrain:
		timeout := cfg.Timeout
		if r.timeout > 0 {
			timeout = r.timeout
		}
		started := d.dr.phase == Serving
		d.dr.begin(now, timeout, cfg.MinWait, false)
		d.mu.Unlock()
		if started {
			d.Log.Info("draining", "timeout", timeout, "min-wait", cfg.MinWait)
			_ = d.Notify.Notify(systemd.Status("draining: waiting for the VIPs' sockets"))
		}
	case ctlUndrain:
		was := d.dr.phase
		d.dr.undrain(now)
		d.terms = 0
		d.mu.Unlock()
		poll.Stop()
		if was != Serving {
			d.Log.Info("undrained", "was", was)
			if was == Drained {
				d.ready.Store(false) // the VIPs are gone: READY=1 again once verified
			}
			d.reconcile("undrain")
			if ok, why := d.Ready(); ok {
				_ = d.Notify.Notify(systemd.Status("undrained; " + d.summary()))
			} else {
				_ = d.Notify.Notify(systemd.Status(fmt.Sprintf("undrained, not ready: %v", why)))
			}
		}
	}
	if d.phase() == Draining {
		stop = d.pollDrain(poll) // count now: with min-wait 0 and no socket, drained at once
	}
	if !stop {
		r.reply <- d.State()
	}
	return stop
}

// pollDrain counts the VIPs' sockets and moves the drain on; true means
// the drain ended with exit (SIGTERM): stop now.
func (d *Daemon) pollDrain(poll health.Timer) bool {
	d.mu.Lock()
	vips := d.opts.VIPs
	d.mu.Unlock()
	n, err := d.sockets().Established(vips)
	now := d.clock().Now()
	d.mu.Lock()
	done := d.dr.step(now, n, err)
	exit, line := d.dr.exit, d.dr.line(now)
	next := drainPoll
	for _, t := range []time.Time{d.dr.minUntil, d.dr.deadline} {
		if w := t.Sub(now); w > 0 && w < next {
			next = w // end exactly at min-wait or the timeout
		}
	}
	d.mu.Unlock()
	if err != nil {
		d.Log.Warn("drain: could not count the VIPs' sockets", "err", err)
	}
	if !done {
		poll.Reset(next)
		return false
	}
	d.ready.Store(false)
	removed, notes, terr := d.Agent.Teardown(nil)
	d.Log.Info("drained: VIPs removed", "why", line, "done", removed, "notes", notes)
	if terr != nil {
		d.Log.Error("drained, but the teardown failed", "err", terr)
		line += "; teardown failed: " + terr.Error()
	}
	_ = d.Notify.Notify(systemd.Status(line))
	return exit
}

// phase is the drain phase now.
func (d *Daemon) phase() Phase {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.dr.phase
}

// State is a snapshot of the daemon, with the VIPs' sockets counted now.
func (d *Daemon) State() DaemonState {
	ready, why := d.Ready()
	d.mu.Lock()
	vips, dr := d.opts.VIPs, d.dr
	s := DaemonState{PID: os.Getpid(), Ready: ready, Phase: dr.phase, Draining: dr.phase == Draining, Since: dr.since,
		Reasons: why, DrainEnded: dr.ended, DrainExit: dr.exit, Mode: d.opts.Mode, VIPs: vips}
	d.mu.Unlock()
	if !ready && len(why) > 0 {
		s.Reasons = why
	}
	if dr.phase == Draining {
		s.DrainDeadline, s.DrainMinUntil = &dr.deadline, &dr.minUntil
	}
	if n, err := d.sockets().Established(vips); err != nil {
		s.VIPSocketsError = err.Error()
	} else {
		s.VIPSockets = &n
	}
	s.Repairs = d.repairs.Load()
	if reg := d.registration.Load(); reg != nil {
		rs := reg.Status()
		s.Registration = &rs
	}
	if at := d.repairAt.Load(); at != 0 {
		t := time.Unix(0, at)
		s.LastRepair = &t
		s.LastRepairSeconds = time.Duration(d.repairNs.Load()).Seconds()
	}
	return s
}

func (d *Daemon) summary() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.last.Summary()
}
