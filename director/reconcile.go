package director

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/lvsnode/lvsnode/controller"
	"github.com/lvsnode/lvsnode/ipvs"
)

// Reconcile makes the managed part of IPVS equal to what the desired
// state, health and drains want: it reads the kernel once, settles drains
// from the counters it read, plans only the differences (controller.Plan,
// over the managed services alone) and applies them in phases
// (controller.Apply), under the table lock so a one-shot CLI command
// cannot interleave. A table already right gets no change at all.
func (d *Daemon) Reconcile(ctx context.Context) error {
	err := d.reconcile(ctx)
	if errors.Is(err, errPreempted) {
		d.kick() // again once the runtime change is written
		return nil
	}
	d.mu.Lock()
	d.lastErr = err
	if err == nil {
		d.ready = true
	}
	d.mu.Unlock()
	return err
}

// errPreempted ends a full reconcile's read of the table when a runtime
// change waits for the table (see preemptible).
var errPreempted = errors.New("a runtime change is waiting: the full reconcile starts again after it")

// maxPreempted is how many full reconciles in a row may give way to
// runtime changes; the next one reads to the end whatever waits, so drift
// is repaired even under a stream of changes.
const maxPreempted = 3

// preemptible is the kernel client of a full reconcile's read: before each
// real server dump it checks whether a runtime change is under way
// (d.waiting), and if so it fails the read with errPreempted. Reading
// 1,001 services under TCG takes seconds; a change that waited for it to
// end took as long, and one dump is the most it waits now. Nothing was
// written yet, so giving way changes nothing; the loop reconciles again
// right after (Reconcile kicks it).
type preemptible struct {
	ipvs.Client
	d *Daemon
}

func (p preemptible) Destinations(k ipvs.ServiceKey) ([]ipvs.Destination, error) {
	if p.d.waiting.Load() > 0 {
		return nil, errPreempted
	}
	return p.Client.Destinations(k)
}

// lockTable takes the table: tableMu, then the table lock the one-shot
// CLI commands take (unless NoLock). The returned func releases both.
func (d *Daemon) lockTable() (func(), error) {
	d.tableMu.Lock()
	return d.lockFile()
}

// lockFile takes the table lock the one-shot CLI commands take (unless
// NoLock), tableMu held; the returned func releases both.
func (d *Daemon) lockFile() (func(), error) {
	if d.o.NoLock {
		return d.tableMu.Unlock, nil
	}
	l, err := controller.AcquireLock(d.o.LockPath, time.Duration(d.config().LockWait), func(s string) { d.log.Info(s) })
	if err != nil {
		d.tableMu.Unlock()
		return nil, err
	}
	return func() { l.Unlock(); d.tableMu.Unlock() }, nil
}

func (d *Daemon) reconcile(ctx context.Context) error {
	unlock, err := d.lockTable()
	if err != nil {
		return err
	}
	defer unlock()
	var c ipvs.Client = d.o.IPVS
	if d.preempted < maxPreempted {
		c = preemptible{c, d}
	}
	d.ipvsMu.Lock()
	cur, err := controller.ReadTable(c)
	d.ipvsMu.Unlock()
	if errors.Is(err, errPreempted) {
		d.preempted++
		return err
	}
	d.preempted = 0
	if err != nil {
		d.observe(0, err)
		return fmt.Errorf("read IPVS: %w", err)
	}

	d.mu.Lock()
	d.lastRead, d.readAt, d.readGen = cur, d.clock.Now(), d.applied
	d.settleDrains(cur)
	want := wanted(d.model, d.desired.Nodes)
	owned := map[string]bool{}
	for _, s := range d.desired.Owned {
		owned[s] = true
	}
	plan := controller.Plan(managedOnly(cur, want, owned, d.marks), want, controller.PlanOptions{})
	// The health and drain states that decided this plan are saved before
	// it is written: a daemon killed between the two restarts from what
	// it wrote, not from an older state that would undo it.
	if len(plan) > 0 {
		if err := d.saveLocked(ctx); err != nil {
			d.mu.Unlock()
			d.observe(0, err)
			return err
		}
	}
	d.mu.Unlock()

	var applyErr error
	if len(plan) > 0 {
		d.ipvsMu.Lock()
		rep, err := controller.Apply(d.o.IPVS, plan)
		d.ipvsMu.Unlock()
		for _, l := range rep.Lines() {
			d.log.Info("ipvs", "change", l)
		}
		applyErr = err
	}

	d.mu.Lock()
	if len(plan) > 0 {
		d.applied++ // lastRead no longer shows the weights in the kernel
	}
	names := map[string]bool{}
	for _, e := range want.Services {
		if !d.marks.inRange(e.Service.FWMark) {
			names[ServiceName(e.Service.ServiceKey)] = true
		}
	}
	if applyErr != nil { // still ours to remove later
		for s := range owned {
			names[s] = true
		}
	}
	next := make([]string, 0, len(names))
	for s := range names {
		next = append(next, s)
	}
	sortStrings(next)
	if !equalStrings(next, d.desired.Owned) {
		d.desired.Owned, d.dirty = next, true
	}
	err = d.saveLocked(ctx)
	d.mu.Unlock()
	d.observe(len(plan), applyErr)
	if applyErr != nil {
		return applyErr
	}
	return err
}

func (d *Daemon) observe(changes int, err error) {
	if d.o.Metrics != nil {
		d.o.Metrics.Reconciled(changes, err)
	}
}

// saveLocked writes the state if it changed. Called with d.mu held.
func (d *Daemon) saveLocked(ctx context.Context) error {
	if !d.dirty {
		return nil
	}
	if err := d.o.Store.Save(ctx, d.desired); err != nil {
		return err
	}
	d.dirty = false
	return nil
}

// settleDrains ends the drains whose real server has no connection left
// (ActiveConn + InActConn + PersistConn = 0, summed over every service it
// is draining from... per service here) or whose timeout passed: removed
// (Remove) or parked at weight 0. Called with d.mu held.
func (d *Daemon) settleDrains(cur controller.Table) {
	if !d.drainingLocked() {
		return // the common case: no counter to look at
	}
	now := d.clock.Now()
	conns := map[string]uint64{}
	weights := map[string]uint32{}
	for _, e := range cur.Services {
		for _, ds := range e.Dests {
			id := nodeID(e.Service.ServiceKey, ds.DestKey)
			conns[id] = uint64(ds.ActiveConns) + uint64(ds.InactiveConns) + uint64(ds.PersistentConns)
			weights[id] = ds.Weight
		}
	}
	for id, st := range d.desired.Nodes {
		if st.Drain != DrainDraining {
			continue
		}
		n, left := conns[id]
		timeout := time.Duration(st.Timeout)
		if timeout == 0 {
			timeout = time.Duration(d.cfg.Drain.Timeout)
		}
		expired := now.Sub(st.DrainSince) >= timeout
		if left && n > 0 && !expired {
			continue
		}
		// Counters read before weight 0 reached the kernel miss the
		// connections scheduled since: settle on a read that shows it.
		if left && weights[id] > 0 && !expired {
			continue
		}
		if st.Remove {
			st.Drain = DrainDrained
		} else {
			st.Drain = DrainParked
		}
		d.log.Info("drained", "node", id, "connections", n, "timed_out", expired && n > 0, "state", st.Drain)
		d.desired.Nodes[id] = st
		d.dirty = true
	}
}

func sortStrings(s []string) { slices.Sort(s) } // was an insertion sort: 1,000 services made it 3 ms a reconcile

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
