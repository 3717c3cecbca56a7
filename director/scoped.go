package director

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/lvsnode/lvsnode/controller"
	"github.com/lvsnode/lvsnode/ipvs"
)

// touched lists the services whose wanted entry a runtime change may have
// moved, from the models and real server states before (om, os) and after
// (nm, ns) it: a service compiled anew (its spec changed: compile reuses
// the others), added or gone; one with a real server whose state changed
// (a drain: weight, quorum, sorry server); a data-path fwmark service
// that appeared, went or changed. Its cost is that of the change, not of
// the table (the 1,000 other services are neither compared nor planned).
func touched(om, nm *model, os, ns map[string]NodeState) map[ipvs.ServiceKey]bool {
	keys := map[ipvs.ServiceKey]bool{}
	for _, s := range nm.services {
		if om == nil || om.byKey[s.key] != s {
			keys[s.key] = true
		}
	}
	if om != nil {
		for _, s := range om.services {
			if nm.byKey[s.key] != s {
				keys[s.key] = true
			}
		}
	}
	for id, st := range ns {
		if os[id] != st {
			if n := nm.nodes[id]; n != nil {
				keys[n.svc.key] = true
			}
		}
	}
	paths := map[ipvs.ServiceKey]svcEntry{}
	if om != nil {
		for _, dp := range dataPathServices(om) {
			paths[dp.service.ServiceKey] = dp
		}
	}
	for _, dp := range dataPathServices(nm) {
		k := dp.service.ServiceKey
		o, ok := paths[k]
		delete(paths, k)
		if !ok || o.service != dp.service || !slices.Equal(o.dests, dp.dests) {
			keys[k] = true
		}
	}
	for k := range paths {
		keys[k] = true
	}
	return keys
}

// readServices reads the services keys from the kernel, each with its
// real servers: one GET_SERVICE and one real server dump per service that
// exists (a missing one is left out, as ReadTable would not list it).
// Called with d.ipvsMu held.
func readServices(c ipvs.Client, keys map[ipvs.ServiceKey]bool) (controller.Table, error) {
	var t controller.Table
	for k := range keys {
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
func (d *Daemon) reconcileServices(ctx context.Context, keys map[ipvs.ServiceKey]bool) error {
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

	d.mu.Lock()
	want := wantedFor(d.model, d.desired.Nodes, keys)
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

// ownNew adds to x.Owned the services of x the model m (the running one)
// does not have (a runtime change creating a service), before the change
// is saved: a service the daemon creates is in its state file as its own
// before it is in IPVS. Removing the ones no longer wanted stays with the
// full reconcile, which knows whether their removal succeeded. x.Owned is
// sorted (Reconcile keeps it so).
func ownNew(x *Desired, m *model) {
	had := map[string]bool{}
	if m != nil {
		for _, s := range m.services {
			had[s.spec.Service] = true
		}
	}
	for _, sp := range x.Services {
		if had[sp.Service] {
			continue
		}
		k, err := ParseService(sp.Service)
		if err != nil {
			continue // compile refuses it
		}
		n := ServiceName(k)
		if i, ok := slices.BinarySearch(x.Owned, n); !ok {
			x.Owned = slices.Insert(x.Owned, i, n)
		}
	}
}
