package director

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/lvsnode/lvsnode/controller"
	"github.com/lvsnode/lvsnode/health"
	"github.com/lvsnode/lvsnode/ipvs"
)

var _ Runtime = (*Daemon)(nil)

// statusMaxAge is how old a table read may be for Status to use it
// rather than dump IPVS again: the weights and connection counts a
// status or a metrics scrape reports are at most this old, and while the
// reconcile loop runs (every change, every resync) status calls cost no
// kernel dump at all (1,000 real servers: a dump is 20 ms of CPU under TCG).
const statusMaxAge = time.Second

// Status reports every managed service with its real servers; weights and
// connection counts are from the table the last reconcile read when that
// is younger than statusMaxAge and no change was written since, else from
// a fresh read of the kernel (which the next Status calls reuse).
func (d *Daemon) Status() Status {
	kernel := map[string]ipvs.Destination{}
	svcStats := map[ipvs.ServiceKey]ipvs.Stats{}
	for _, e := range d.kernelTable().Services {
		svcStats[e.Service.ServiceKey] = e.Service.Stats
		for _, x := range e.Dests {
			kernel[nodeID(e.Service.ServiceKey, x.DestKey)] = x
		}
	}

	d.mu.Lock()
	defer d.mu.Unlock()
	ready, _ := d.readyLocked()
	st := Status{Generation: d.desired.Generation, Ready: ready, Sync: d.syncs.get(), Store: d.storeStatus(), Now: time.Now()}
	if d.model == nil {
		return st
	}
	for _, s := range d.model.services {
		below, up := belowQuorum(s, d.desired.Nodes)
		ss := ServiceStatus{Service: s.name, Scheduler: s.service.Scheduler, Managed: true,
			Quorum: s.quorum, Up: up, Sorry: below && s.sorry != nil,
			Flags: controller.ServiceFlags(s.service), Stats: svcStats[s.key]}
		if s.sorry != nil {
			ss.SorryServer = s.sorry.DestKey.String()
		}
		for _, n := range s.nodes {
			ns := d.desired.Nodes[n.id]
			k := kernel[n.id]
			h := ns.Health
			if n.check == nil || h == "" {
				h = HealthUnknown
			}
			x := NodeStatus{NodeRef: n.ref, Method: methodName(n.dest.Forward), ConfiguredWeight: n.dest.Weight,
				Weight: k.Weight, Health: h, Drain: ns.Drain, DrainSince: ns.DrainSince,
				ActiveConn: k.ActiveConns, InactConn: k.InactiveConns, PersistConn: k.PersistentConns, Agent: AgentUnknown,
				Stats: k.Stats}
			if hs, ok := d.sched.Status(n.id); ok && !hs.Checked.IsZero() {
				x.LastCheck = Check{OK: hs.Last.OK, Reason: hs.Last.Reason,
					LatencyMS: float64(hs.Last.Latency) / float64(time.Millisecond), At: hs.Checked}
				if n.check.Type == health.Ready && n.agent == nil {
					switch {
					case hs.Last.OK:
						x.Agent = AgentReady
					case hs.Last.Draining:
						x.Agent = AgentDraining
					default:
						x.Agent = AgentNotReady
					}
				}
			}
			switch {
			case n.agent != nil && ns.Agent != "":
				x.Agent = ns.Agent
			case n.agent == nil && (n.check == nil || n.check.Type != health.Ready):
				x.Agent = AgentNone
			}
			ss.Nodes = append(ss.Nodes, x)
		}
		st.Services = append(st.Services, ss)
	}
	return st
}

// kernelTable is the IPVS table as of at most statusMaxAge ago (see Status).
func (d *Daemon) kernelTable() controller.Table {
	d.mu.Lock()
	t, fresh, gen := d.lastRead, d.readGen == d.applied && !d.readAt.IsZero() && d.clock.Now().Sub(d.readAt) < statusMaxAge, d.applied
	d.mu.Unlock()
	if fresh {
		return t
	}
	d.ipvsMu.Lock()
	cur, err := controller.ReadTable(preemptible{d.o.IPVS, d}) // a runtime change goes first
	d.ipvsMu.Unlock()
	if err != nil {
		return t
	}
	d.mu.Lock()
	if d.applied == gen { // no change written since the read began: share it
		d.lastRead, d.readAt, d.readGen = cur, d.clock.Now(), gen
	}
	d.mu.Unlock()
	return cur
}

// change runs edit on a copy of the desired state, installs it (compiling
// validates it), saves it, then writes to IPVS what it changed there and
// only that (reconcileServices: the services whose wanted entry the change
// moved), before returning: every API change is persisted before the
// caller is answered, and a change the kernel refuses is the caller's
// error. An invalid change, or one that cannot be saved, changed nothing;
// one saved but not written stays saved and the daemon retries it (a
// full reconcile), as it would after a restart.
func (d *Daemon) change(ctx context.Context, edit func(*Desired) error) error {
	// From its start, a full read of the table under way gives way
	// (preemptible): on one CPU it would take half of it meanwhile.
	d.waiting.Add(1)
	defer d.waiting.Add(-1)
	began := time.Now()
	keys, err := d.changeDesired(ctx, edit)
	if err != nil {
		return err
	}
	saved := time.Now()
	err = d.reconcileServices(ctx, keys)
	// What a change costs, from the log (the lab bench reports it).
	d.log.Info("runtime change", "services", len(keys), "saved_ms", ms(saved.Sub(began)), "written_ms", ms(time.Since(saved)))
	if err != nil {
		return fmt.Errorf("saved, but not written to IPVS (the daemon retries it): %w", err)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// changeDesired is change's first half, under d.mu: edit, own the
// services it creates, install (which saves). It returns the services it
// touched.
func (d *Daemon) changeDesired(ctx context.Context, edit func(*Desired) error) (map[ipvs.ServiceKey]bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	next := copyDesired(d.desired)
	if err := edit(&next); err != nil {
		return nil, err
	}
	next.Generation++
	ownNew(&next, d.model)
	old, oldModel := d.desired, d.model
	if err := d.install(ctx, next, false); err != nil {
		return nil, err
	}
	return touched(oldModel, d.model, old.Nodes, d.desired.Nodes), nil
}

// copyDesired copies x deep enough for an edit (change) or a merge
// (Reload) of the copy to leave x as it was: the containers they change
// (the service list, the node states, the owned list, the marks) are new.
// The services' real server lists are shared: they are copied on write
// (an edit clones the one list it changes: editNodes), never changed in
// place, which also lets the store reuse the encoding of every service
// the change did not touch (specEncoder). (It was a JSON round trip:
// 1,000 services made that most of a runtime change's CPU time.)
func copyDesired(x Desired) Desired {
	y := x
	y.Services = clone(x.Services)
	y.Owned = clone(x.Owned)
	y.Nodes = maps.Clone(x.Nodes)
	y.Marks = maps.Clone(x.Marks)
	return y
}

// cloneServices copies specs with their real server lists, for a caller
// that changes the lists in place.
func cloneServices(specs []ServiceSpec) []ServiceSpec {
	out := clone(specs)
	for i := range out {
		out[i].Nodes = clone(out[i].Nodes)
	}
	return out
}

// editNodes gives s a real server list of its own (copy on write, see
// copyDesired) to change in place, with room for one more.
func editNodes(s *ServiceSpec) {
	s.Nodes = append(make([]NodeSpec, 0, len(s.Nodes)+1), s.Nodes...)
}

// findService returns the index of ref's service in d, or an error
// wrapping ErrNotManaged (in IPVS, not ours) or ErrNotFound.
func (d *Daemon) findService(x *Desired, service string) (int, ipvs.ServiceKey, error) {
	k, err := ParseService(firstWords(service))
	if err != nil {
		return -1, k, err
	}
	for i, s := range x.Services {
		if serviceID(s) == ServiceName(k) {
			return i, k, nil
		}
	}
	d.ipvsMu.Lock()
	_, err = d.o.IPVS.Service(k) // one request, not a dump of every service
	d.ipvsMu.Unlock()
	switch {
	case err == nil:
		return -1, k, fmt.Errorf("%w: %s", ErrNotManaged, ServiceName(k))
	case !errors.Is(err, ipvs.ErrNotFound): // a service not seen is not "not found": it may be foreign
		return -1, k, fmt.Errorf("read IPVS to find %s: %w", ServiceName(k), err)
	}
	return -1, k, fmt.Errorf("%w: service %s", ErrNotFound, ServiceName(k))
}

// firstWords drops the "-s SCHED" and "-p SECONDS" options of a service text.
func firstWords(s string) string {
	if i := strings.Index(s, " -"); i >= 0 {
		return s[:i]
	}
	return s
}

// serviceOptions reads "tcp 10.0.0.100:80 -s wlc -p 300" into a new ServiceSpec.
func serviceOptions(s string) (ServiceSpec, error) {
	sp := ServiceSpec{Service: firstWords(s)}
	f := strings.Fields(strings.TrimPrefix(s, sp.Service))
	for i := 0; i < len(f); i += 2 {
		if i+1 >= len(f) {
			return sp, fmt.Errorf("%w: service %q: %s needs a value", ErrInvalid, s, f[i])
		}
		switch f[i] {
		case "-s":
			sp.Scheduler = f[i+1]
		case "-p":
			var p uint32
			if _, err := fmt.Sscan(f[i+1], &p); err != nil || p == 0 {
				return sp, fmt.Errorf("%w: service %q: -p wants seconds", ErrInvalid, s)
			}
			sp.Persistent = p
		default:
			return sp, fmt.Errorf("%w: service %q: only -s SCHEDULER and -p SECONDS may follow the address", ErrInvalid, s)
		}
	}
	return sp, nil
}

func nodeIndex(s ServiceSpec, k ipvs.ServiceKey, address string, port uint16) (int, error) {
	a, err := netip.ParseAddr(address)
	if err != nil {
		return -1, fmt.Errorf("%w: address %q is not an IP address", ErrInvalid, address)
	}
	if port == 0 {
		port = k.Port
	}
	want := netip.AddrPortFrom(a.Unmap(), port).String()
	for i, n := range s.Nodes {
		if nodeKey(n, k.Port) == want {
			return i, nil
		}
	}
	return -1, fmt.Errorf("%w: real server %s of %s", ErrNotFound, want, ServiceName(k))
}

// AddNode adds a real server; its service is created when it is neither
// managed nor in IPVS ("tcp 10.0.0.100:80 -s wlc -p 300" gives its settings).
func (d *Daemon) AddNode(ctx context.Context, n Node) error {
	return d.change(ctx, func(x *Desired) error {
		i, k, err := d.findService(x, n.Service)
		if err != nil && !isNotFound(err) {
			return err
		}
		if i < 0 {
			sp, err := serviceOptions(n.Service)
			if err != nil {
				return err
			}
			x.Services = append(x.Services, sp)
			i = len(x.Services) - 1
		} else if n.Service != firstWords(n.Service) {
			return fmt.Errorf("%w: service %s exists: edit its settings in the config, not with -s/-p", ErrExists, ServiceName(k))
		}
		if _, err := nodeIndex(x.Services[i], k, n.Address, n.Port); err == nil {
			return fmt.Errorf("%w: real server %s of %s", ErrExists, n.Address, ServiceName(k))
		} else if !isNotFound(err) {
			return err
		}
		editNodes(&x.Services[i])
		x.Services[i].Nodes = append(x.Services[i].Nodes, NodeSpec{Address: n.Address, Port: n.Port,
			Weight: n.Weight, Method: n.Method, TunType: n.TunType, TunPort: n.TunPort, TunCsum: n.TunCsum,
			Upper: n.Upper, Lower: n.Lower, Check: cloneCheck(n.Check), Agent: cloneCheck(n.Agent)})
		return nil
	})
}

// EditNode changes only the fields given.
func (d *Daemon) EditNode(ctx context.Context, p NodePatch) error {
	return d.change(ctx, func(x *Desired) error {
		i, k, err := d.findService(x, p.Service)
		if err != nil {
			return err
		}
		j, err := nodeIndex(x.Services[i], k, p.Address, p.Port)
		if err != nil {
			return err
		}
		editNodes(&x.Services[i])
		n := &x.Services[i].Nodes[j]
		set(&n.Weight, p.Weight)
		setv(&n.Method, p.Method)
		setv(&n.TunType, p.TunType)
		setv(&n.TunPort, p.TunPort)
		setv(&n.TunCsum, p.TunCsum)
		setv(&n.Upper, p.Upper)
		setv(&n.Lower, p.Lower)
		if p.Check != nil {
			n.Check = cloneCheck(p.Check)
		}
		if p.Agent != nil {
			n.Agent = cloneCheck(p.Agent)
		}
		return nil
	})
}

func set[T any](dst **T, v *T) {
	if v != nil {
		c := *v
		*dst = &c
	}
}

func setv[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// RemoveNode removes a real server from the desired state (and so from IPVS).
func (d *Daemon) RemoveNode(ctx context.Context, ref NodeRef) error {
	return d.change(ctx, func(x *Desired) error {
		i, k, err := d.findService(x, ref.Service)
		if err != nil {
			return err
		}
		j, err := nodeIndex(x.Services[i], k, ref.Address, ref.Port)
		if err != nil {
			return err
		}
		editNodes(&x.Services[i])
		x.Services[i].Nodes = slices.Delete(x.Services[i].Nodes, j, j+1)
		return nil
	})
}

// Drain sets the real server's weight to 0 at once (at the next
// reconcile, which it triggers) and returns; the daemon then waits for its
// connections to end or the timeout, and removes or parks it. An
// operator's drain takes over an agent's (its options apply, and only an
// Undrain ends it, not the agent's "ready"); one already removed by a
// drain stays removed.
func (d *Daemon) Drain(ctx context.Context, ref NodeRef, o DrainOptions) error {
	now := d.clock.Now()
	return d.setDrain(ctx, ref, func(st *NodeState) {
		switch {
		case st.Drain == DrainDrained:
			return
		case st.Drain == DrainDraining && st.DrainBy == "api":
			return // the drain in progress keeps its options
		case st.Drain != DrainDraining:
			st.DrainSince = now
		}
		st.Drain, st.DrainBy = DrainDraining, "api"
		st.Timeout, st.Remove = o.Timeout, o.Remove
	})
}

// Undrain ends a drain: the configured weight returns (when healthy).
func (d *Daemon) Undrain(ctx context.Context, ref NodeRef) error {
	return d.setDrain(ctx, ref, func(st *NodeState) {
		st.Drain, st.DrainBy, st.DrainSince, st.Timeout, st.Remove = DrainNone, "", time.Time{}, 0, false
	})
}

func (d *Daemon) setDrain(ctx context.Context, ref NodeRef, f func(*NodeState)) error {
	return d.change(ctx, func(x *Desired) error {
		var ids []string
		if strings.TrimSpace(ref.Service) == "*" {
			a, err := netip.ParseAddr(ref.Address)
			if err != nil {
				return fmt.Errorf("%w: address %q is not an IP address", ErrInvalid, ref.Address)
			}
			// Every service the address is in, on any port unless one is
			// given (a NAT real server's port is often not the VIP's).
			for _, s := range x.Services {
				k, _ := ParseService(s.Service)
				for _, n := range s.Nodes {
					na, err := netip.ParseAddr(n.Address)
					port := n.Port
					if port == 0 {
						port = k.Port
					}
					if err == nil && na.Unmap() == a.Unmap() && (ref.Port == 0 || ref.Port == port) {
						ids = append(ids, nodeID(k, ipvs.DestKey{Addr: na.Unmap(), Port: port}))
					}
				}
			}
			if len(ids) == 0 {
				return fmt.Errorf("%w: real server %s in no managed service", ErrNotFound, ref.Address)
			}
		} else {
			i, k, err := d.findService(x, ref.Service)
			if err != nil {
				return err
			}
			if _, err := nodeIndex(x.Services[i], k, ref.Address, ref.Port); err != nil {
				return err
			}
			ids = append(ids, nodeIDOf(k, x.Services[i], ref))
		}
		for _, id := range ids {
			st := x.Nodes[id]
			f(&st)
			x.Nodes[id] = st
		}
		return nil
	})
}

func nodeIDOf(k ipvs.ServiceKey, _ ServiceSpec, ref NodeRef) string {
	a, _ := netip.ParseAddr(ref.Address)
	p := ref.Port
	if p == 0 {
		p = k.Port
	}
	return nodeID(k, ipvs.DestKey{Addr: a.Unmap(), Port: p})
}

func isNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
