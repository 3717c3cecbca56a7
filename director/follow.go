package director

import (
	"context"
	"slices"
	"time"
)

func init() { RegisterService(followStore) }

// followStore runs beside a daemon whose store is Shared: it installs
// each state the store sends (followStore is a no-op for a file store).
func followStore(ctx context.Context, rt Runtime, _ Config) error {
	d, ok := rt.(*Daemon)
	if !ok {
		return nil
	}
	sh, ok := d.o.Store.(Shared)
	if !ok {
		return nil
	}
	return d.Follow(ctx, sh)
}

// Follow installs every state sh sends until ctx ends (the latest one
// when several arrive during a reconcile), and re-installs the last one
// each drain interval while a real server whose registration is gone is
// still draining, so that it leaves the desired state once drained.
func (d *Daemon) Follow(ctx context.Context, sh Shared) error {
	updates := make(chan Remote, 1)
	go func() {
		_ = sh.Watch(ctx, func(r Remote) {
			select { // latest wins: a pending state is replaced
			case <-updates:
			default:
			}
			updates <- r
		})
	}()
	f := &follower{d: d, sh: sh}
	tick := d.clock.NewTimer(time.Duration(d.config().Drain.Interval))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case r := <-updates:
			f.last, f.have = r, true
			d.seedPending(ctx) // etcd answers: a seed it refused is done now
		case <-tick.C():
			tick.Reset(time.Duration(d.config().Drain.Interval))
			if !f.have || !f.lingering {
				continue
			}
		}
		if err := f.adopt(ctx, f.last); err != nil {
			d.log.Error("shared store: state refused, the table stays as it was", "revision", f.last.Revision, "err", err)
		}
	}
}

// follower remembers what the last adopted state registered.
type follower struct {
	d         *Daemon
	sh        Shared
	last      Remote
	have      bool
	reg       map[string]Registration // the last state's registrations
	lingering bool                    // a real server whose registration is gone is draining
}

// adopt makes r the daemon's desired services, keeping what the shared
// state cannot say: a registered real server whose registration vanished
// (its agent stopped, or died and its lease expired) stays, at weight 0,
// until its connections end or the drain timeout passes (an agent that
// died on a healthy server cuts no connection), then leaves; a
// registration marked draining drains; one that comes back undrains.
func (f *follower) adopt(ctx context.Context, r Remote) error {
	d := f.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if f.sh.Stale(r.Revision) {
		return nil
	}
	next := copyDesired(d.desired)
	svcs := cloneServices(r.Services)
	if next.Nodes == nil {
		next.Nodes = map[string]NodeState{}
	}
	have := map[string]bool{}
	for _, s := range svcs {
		port := servicePort(s.Service)
		for _, n := range s.Nodes {
			have[serviceID(s)+" "+nodeKey(n, port)] = true
		}
	}
	now := d.clock.Now()
	f.lingering = false
	for _, s := range d.desired.Services {
		port := servicePort(s.Service)
		for _, n := range s.Nodes {
			id := serviceID(s) + " " + nodeKey(n, port)
			st := next.Nodes[id]
			_, wasReg := f.reg[id]
			if have[id] || !(wasReg || st.DrainBy == drainByLease) {
				continue // still there, or removed by an operator: gone at once, as remove-node
			}
			if st.Drain == DrainDrained || st.Drain == DrainParked {
				delete(next.Nodes, id) // drained: it leaves
				continue
			}
			if st.DrainBy != drainByLease {
				st.Drain, st.DrainBy, st.DrainSince = DrainDraining, drainByLease, now
				st.Timeout, st.Remove = d.cfg.Drain.Timeout, true
				d.log.Info("registration gone: draining", "node", id)
			}
			next.Nodes[id] = st
			svcs = keepNode(svcs, s, n)
			f.lingering = true
		}
	}
	for id, reg := range r.Registered {
		st := next.Nodes[id]
		switch {
		case reg.Draining && (st.Drain == "" || st.Drain == DrainNone):
			st.Drain, st.DrainBy, st.DrainSince = DrainDraining, drainByRegister, now
			st.Timeout, st.Remove = d.cfg.Drain.Timeout, false
			d.log.Info("registration draining", "node", id)
		case !reg.Draining && (st.DrainBy == drainByRegister || st.DrainBy == drainByLease):
			st.Drain, st.DrainBy, st.DrainSince = DrainNone, "", time.Time{}
			d.log.Info("registration back", "node", id)
		default:
			continue
		}
		next.Nodes[id] = st
	}
	if !same(encodeServices(svcs), encodeServices(d.desired.Services)) {
		next.Generation++
	}
	next.Services = svcs
	// Adopted before install, whose Save must write none of r back (the
	// store may already hold a newer state than r); undone if refused
	was := f.sh.StoreStatus().Revision
	f.sh.Adopted(r.Revision, svcs)
	if err := d.install(ctx, next, false); err != nil {
		f.sh.Adopted(was, d.desired.Services)
		return err
	}
	d.kick() // the adopted state: a full reconcile (install does not kick)
	f.reg = r.Registered
	return nil
}

// keepNode puts n (of service s) back into svcs.
func keepNode(svcs []ServiceSpec, s ServiceSpec, n NodeSpec) []ServiceSpec {
	i := slices.IndexFunc(svcs, func(x ServiceSpec) bool { return serviceID(x) == serviceID(s) })
	if i < 0 {
		c := cloneServices([]ServiceSpec{s})[0]
		c.Nodes = nil
		svcs = append(svcs, c)
		i = len(svcs) - 1
	}
	svcs[i].Nodes = append(svcs[i].Nodes, n)
	return svcs
}
