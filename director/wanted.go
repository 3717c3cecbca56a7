package director

import (
	"github.com/lvsnode/lvsnode/controller"
	"github.com/lvsnode/lvsnode/ipvs"
)

// placement is where a real server stands in the wanted table.
type placement struct {
	present bool
	weight  uint32
}

// nodeUp says whether n counts as up: its check says up (or it has no
// check) and its agent says ready (or it has no agent: probe).
func nodeUp(n *node, st NodeState) bool {
	if n.agent != nil && st.Agent != AgentReady {
		return false
	}
	if n.check == nil {
		return true
	}
	return st.Health == HealthUp
}

// failed says whether n's check says down or its agent not ready (not
// "draining": an agent's drain keeps the real server at weight 0).
func failed(n *node, st NodeState) bool {
	return (n.check != nil && st.Health == HealthDown) || (n.agent != nil && st.Agent == AgentNotReady)
}

// place decides a real server's weight from its health and drain state:
// the configured weight when up and not drained; weight 0 (connections
// kept) when down, draining or parked; absent when drained with removal,
// or down with on_down: remove.
func place(n *node, st NodeState) placement {
	switch st.Drain {
	case DrainDrained:
		return placement{}
	case DrainDraining, DrainParked:
		if n.svc.remove && failed(n, st) {
			return placement{} // on_down: remove took it out: a drain does not put it back
		}
		return placement{present: true}
	}
	if (n.check != nil && st.Health == HealthDraining) || (n.agent != nil && st.Agent == AgentDraining) {
		return placement{present: true} // the agent's drain: weight 0 at once
	}
	if !nodeUp(n, st) {
		if n.svc.remove {
			return placement{}
		}
		return placement{present: true}
	}
	return placement{present: true, weight: n.dest.Weight}
}

// belowQuorum reports whether s has fewer up, undrained real servers than
// its quorum, and how many it has.
func belowQuorum(s *svc, states map[string]NodeState) (bool, int) {
	up := 0
	for _, n := range s.nodes {
		st := states[n.id]
		if p := place(n, st); p.present && p.weight > 0 {
			up++
		}
	}
	return s.quorum > 0 && up < s.quorum, up
}

// wanted is the IPVS table the daemon wants for its managed services and
// its data-path fwmark services: a pure function of the model and the
// real servers' states. Below quorum, every real server is at weight 0
// (connections kept) and the sorry server takes the new ones: the
// survivors alone would be overloaded.
func wanted(m *model, states map[string]NodeState) controller.Table {
	return wantedFor(m, states, nil)
}

// wantedFor is wanted for the services in keys only (nil: every one): a
// runtime change computes the entries of the services it touched alone.
func wantedFor(m *model, states map[string]NodeState, keys map[ipvs.ServiceKey]bool) controller.Table {
	var t controller.Table
	for _, s := range m.services {
		if keys != nil && !keys[s.key] {
			continue
		}
		e := controller.Entry{Service: s.service}
		below, _ := belowQuorum(s, states)
		for _, n := range s.nodes {
			p := place(n, states[n.id])
			if !p.present {
				continue
			}
			d := n.dest
			d.Weight = p.weight
			if below && s.sorry != nil {
				d.Weight = 0
			}
			e.Dests = append(e.Dests, d)
		}
		if below && s.sorry != nil {
			e.Dests = append(e.Dests, *s.sorry)
		}
		t.Services = append(t.Services, e)
	}
	for _, dp := range dataPathServices(m) {
		if keys == nil || keys[dp.service.ServiceKey] {
			t.Services = append(t.Services, controller.Entry{Service: dp.service, Dests: dp.dests})
		}
	}
	return t
}

// managedOnly keeps the kernel services the daemon manages: those it
// wants, those it owned before (to remove them), and fwmark services in
// its data-path range. Everything else is invisible to Plan, so it is
// never touched.
func managedOnly(cur controller.Table, want controller.Table, owned map[string]bool, marks *markAlloc) controller.Table {
	in := map[ipvs.ServiceKey]bool{}
	for _, e := range want.Services {
		in[e.Service.ServiceKey] = true
	}
	var out controller.Table
	for _, e := range cur.Services {
		k := e.Service.ServiceKey
		if in[k] || owned[ServiceName(k)] || (k.FWMark != 0 && marks.inRange(k.FWMark)) {
			out.Services = append(out.Services, e)
		}
	}
	return out
}
