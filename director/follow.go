package director

import (
	"context"
	"slices"
	"time"

	etcdstore "github.com/lvsnode/lvsnode/store/etcd"
)

// reregisterGrace is how long, after the store becomes reachable again,
// a registration that was there before the outage may be missing before
// it counts as gone: an outage longer than the agents' lease expires
// every lease at once, and the first full read after it can run before
// the agents have registered again (they do within a second or two of
// the store answering). Without it that read drains, and removes the idle
// ones of, every registered real server on every director at once. The
// agents' default lease ttl (etcdstore.DefaultTTL, 10 s): an agent that
// does not register again within it is handled as one whose lease
// expired. A registration that vanishes while the store stays reachable
// is gone at once, as before.
const reregisterGrace = etcdstore.DefaultTTL

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
	reg       map[string]Registration // the last state's registrations (and those held)
	lingering bool                    // a real server whose registration is gone is draining, or held
	// seen is StoreStatus.Since at the last adopt: a different one means
	// the store was lost and found since; back is when (the daemon's clock)
	// it was found again, the start of reregisterGrace.
	seen, back time.Time
	looked     bool // seen is set (the first adopt has no outage before it)
	held       int  // registrations held at the last adopt (logged when it changes)
	// cached is the real servers of the table the daemon started with
	// when the store could not be read at start (the state file's, whose
	// registrations are unknown): held as registrations missing since an
	// outage, from the first read on; after the grace they leave as before.
	cached map[string]bool
}

// recovering says whether the store became reachable again (after an
// outage this follower lived through) less than reregisterGrace ago.
func (f *follower) recovering(now time.Time) bool {
	st := f.sh.StoreStatus()
	if f.looked && !st.Since.Equal(f.seen) && st.Reachable {
		f.back = now
	}
	if !f.looked && !st.Read { // started on the state file's table
		f.back, f.cached = now, map[string]bool{}
		for _, s := range f.d.desired.Services {
			for _, n := range s.Nodes {
				f.cached[serviceID(s)+" "+nodeKey(n, servicePort(s.Service))] = true
			}
		}
	}
	f.seen, f.looked = st.Since, true
	return !f.back.IsZero() && now.Sub(f.back) < reregisterGrace
}

// adopt makes r the daemon's desired services, keeping what the shared
// state cannot say: a registered real server whose registration vanished
// (its agent stopped, or died and its lease expired) stays, at weight 0,
// until its connections end or the drain timeout passes (an agent that
// died on a healthy server cuts no connection), then leaves; a
// registration marked draining drains; one that comes back undrains.
// Within reregisterGrace of the store becoming reachable again, a
// registration missing since the outage is held: its real server stays
// as it was (and its registration remembered) until it registers again
// or the grace ends. A daemon that started on its state file's table
// (the store unreadable) counts as back from an outage at its first read.
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
	recovering := f.recovering(now)
	if !recovering {
		f.cached = nil
	}
	held, nheld := map[string]Registration{}, 0
	f.lingering = false
	for _, s := range d.desired.Services {
		port := servicePort(s.Service)
		for _, n := range s.Nodes {
			id := serviceID(s) + " " + nodeKey(n, port)
			st := next.Nodes[id]
			_, wasReg := f.reg[id]
			if have[id] || !(wasReg || f.cached[id] || st.DrainBy == drainByLease) {
				continue // still there, or removed by an operator: gone at once, as remove-node
			}
			if recovering && st.DrainBy != drainByLease {
				if wasReg {
					held[id] = f.reg[id] // may be re-registering: unchanged for now
				}
				nheld++
				svcs = keepNode(svcs, s, n)
				f.lingering = true // re-adopted each tick: gone once the grace ends
				continue
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
	if nheld > 0 && nheld != f.held {
		d.log.Info("store back: registrations missing since the outage are kept until they register again", "held", nheld, "grace", reregisterGrace)
	}
	f.held = nheld
	if len(held) > 0 {
		f.reg = make(map[string]Registration, len(r.Registered)+len(held))
		for id, reg := range r.Registered {
			f.reg[id] = reg
		}
		for id, reg := range held {
			f.reg[id] = reg
		}
	}
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
