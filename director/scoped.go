package director

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/lvsnode/lvsnode/controller"
	"github.com/lvsnode/lvsnode/ipvs"
)

// touched lists the services whose wanted entry differs between two
// wanted tables (before and after a runtime change): changed, added or
// gone. Data-path fwmark services, quorum and sorry servers are in the
// wanted table, so whatever a change moves there is found here.
func touched(before, after controller.Table) []ipvs.ServiceKey {
	old := make(map[ipvs.ServiceKey]controller.Entry, len(before.Services))
	for _, e := range before.Services {
		old[e.Service.ServiceKey] = e
	}
	var keys []ipvs.ServiceKey
	for _, e := range after.Services {
		k := e.Service.ServiceKey
		o, ok := old[k]
		delete(old, k)
		if !ok || o.Service != e.Service || !slices.Equal(o.Dests, e.Dests) {
			keys = append(keys, k)
		}
	}
	for k := range old {
		keys = append(keys, k)
	}
	return keys
}

// readServices reads the services keys from the kernel, each with its
// real servers: one GET_SERVICE and one real server dump per service that
// exists (a missing one is left out, as ReadTable would not list it).
// Called with d.ipvsMu held.
func readServices(c ipvs.Client, keys []ipvs.ServiceKey) (controller.Table, error) {
	var t controller.Table
	for _, k := range keys {
		s, err := c.Service(k)
		if errors.Is(err, ipvs.ErrNotFound) {
			continue
		}
		if err != nil {
			return controller.Table{}, err
		}
		ds, err := c.Destinations(k)
		if err != nil {
			return controller.Table{}, err
		}
		t.Services = append(t.Services, controller.Entry{Service: s, Dests: ds})
	}
	return t, nil
}

// reconcileServices is Reconcile for the services keys alone: the runtime
// API's changes (add, edit, remove, drain, undrain) touch one service or a
// few, and reading the whole table to write one real server cost a
// director with 1,000 services 1,001 dumps per change. It reads just those
// services, plans the difference with the same rules (managed services
// only: a key the daemon neither wants nor owned is dropped by
// managedOnly, so a foreign service is never touched) and applies it under
// the same table lock. Drift elsewhere is the periodic full pass's
// (resync) and SIGHUP's. A failure kicks a full reconcile to retry.
func (d *Daemon) reconcileServices(ctx context.Context, keys []ipvs.ServiceKey) error {
	if len(keys) == 0 {
		return nil
	}
	unlock, err := d.lockTable()
	if err != nil {
		return err
	}
	defer unlock()
	d.ipvsMu.Lock()
	cur, err := readServices(d.o.IPVS, keys)
	d.ipvsMu.Unlock()
	if err != nil {
		d.observe(0, err)
		d.failed(err)
		return fmt.Errorf("read IPVS: %w", err)
	}

	in := make(map[ipvs.ServiceKey]bool, len(keys))
	for _, k := range keys {
		in[k] = true
	}
	d.mu.Lock()
	var want controller.Table
	for _, e := range wanted(d.model, d.desired.Nodes).Services {
		if in[e.Service.ServiceKey] {
			want.Services = append(want.Services, e)
		}
	}
	owned := map[string]bool{}
	for _, s := range d.desired.Owned {
		owned[s] = true
	}
	plan := controller.Plan(managedOnly(cur, want, owned, d.marks), want, controller.PlanOptions{})
	d.mu.Unlock()
	if len(plan) == 0 {
		return nil
	}

	d.ipvsMu.Lock()
	rep, err := controller.Apply(d.o.IPVS, plan)
	d.ipvsMu.Unlock()
	for _, l := range rep.Lines() {
		d.log.Info("ipvs", "change", l)
	}
	d.mu.Lock()
	d.applied++ // lastRead no longer shows the kernel
	d.mu.Unlock()
	d.observe(len(plan), err)
	if err != nil {
		d.failed(err)
		return err
	}
	return nil
}

// failed records a scoped reconcile's error (Ready says it until a full
// reconcile succeeds) and asks for a full one, which retries.
func (d *Daemon) failed(err error) {
	d.mu.Lock()
	d.lastErr = err
	d.mu.Unlock()
	d.kick()
}

// ownWanted adds to x.Owned the services among keys that want holds and
// the daemon does not own yet (a runtime change creating a service),
// before the change is saved: a service the daemon creates is in its
// state file as its own before it is in IPVS. Removing the ones no longer
// wanted stays with the full reconcile, which knows whether their removal
// succeeded. x.Owned is sorted (Reconcile keeps it so).
func ownWanted(x *Desired, want controller.Table, keys []ipvs.ServiceKey, marks *markAlloc) {
	in := make(map[ipvs.ServiceKey]bool, len(keys))
	for _, k := range keys {
		in[k] = true
	}
	for _, e := range want.Services {
		k := e.Service.ServiceKey
		if !in[k] || marks.inRange(k.FWMark) {
			continue
		}
		n := ServiceName(k)
		if i, ok := slices.BinarySearch(x.Owned, n); !ok {
			x.Owned = slices.Insert(x.Owned, i, n)
		}
	}
}
