package director

import (
	"github.com/lvsnode/lvsnode/ipvs"
	"github.com/lvsnode/lvsnode/sysctl"
)

// Active-active: several directors hold the same VIP and a router spreads
// flows over them by ECMP (BGP, anycast, a multipath static route). When a
// director is lost, the router sends its flows to another director, which
// never saw their SYN and has none of their IPVS connections (no sync is
// needed). Two things make that director send them to the same real
// server: a scheduler that is a pure function of the flow and of the real
// servers (mh, Maglev hashing, with the source port so that one client's
// flows still spread), and sloppy_tcp, so that IPVS schedules a mid-stream
// packet instead of dropping it. lab/scenarios/aa-ecmp.sh shows both.

// activeActiveScheduler is the only scheduler accepted under active_active.
const activeActiveScheduler = "mh"

// activeActiveFlags are ipvsadm's `-b mh-fallback,mh-port`:
//   - mh-port (IP_VS_SVC_F_SCHED_MH_PORT): mh hashes the source port too,
//     not only the source address, so one client's flows spread.
//   - mh-fallback (IP_VS_SVC_F_SCHED_MH_FALLBACK): a real server at weight
//     0 (down with on_down: weight0, drained) keeps its slots in mh's
//     table (the kernel keeps its last non-zero weight, so the other
//     flows do not move); without the flag a new flow that hashes to
//     such a slot gets no real server at all ("no destination
//     available", the SYN is dropped). With it, mh rehashes the flow
//     until it finds an available one, the same on every director.
//     lab/scenarios/aa-ecmp.sh shows both on the kernel.
const activeActiveFlags = ipvs.FlagSched1 | ipvs.FlagSched2

// activeActive applies active_active to a compiled model whose services
// are specs' in order: every service gets mh with mh-port and
// mh-fallback. The rule is "refuse, never override": a service that names
// another scheduler, or persistence, is refused with its config line
// (ErrInvalid), because silently running something else than the file
// says would hide that the file is wrong for this group. Only an unset
// scheduler becomes mh. A service reused from the running model is
// already set and left untouched (it is shared with that model).
func activeActive(specs []ServiceSpec, m *model) error {
	for i, s := range m.services {
		sp := &specs[i]
		switch sp.Scheduler {
		case "", activeActiveScheduler:
		default:
			return errAt(sp.lines.at("scheduler"), "services[%d]: %s: scheduler %s under active_active: want mh (or none): only a consistent hash sends a flow to the same real server from every director", i, s.name, sp.Scheduler)
		}
		if sp.Persistent > 0 {
			// A persistence template lives on one director: the
			// director that takes a client over schedules it by mh, not
			// by the template the lost director held.
			return errAt(sp.lines.at("persistent"), "services[%d]: %s: persistent under active_active: persistence templates are per director and not shared; mh already sends a flow to the same real server from every director", i, s.name)
		}
		flags := s.service.Flags&^(ipvs.FlagSched1|ipvs.FlagSched2|ipvs.FlagSched3) | activeActiveFlags
		if s.service.Scheduler == activeActiveScheduler && s.service.Flags == flags {
			continue // reused from the running model (compile): already set, and shared
		}
		s.service.Scheduler, s.service.Flags = activeActiveScheduler, flags
	}
	return nil
}

// activeActiveSysctls are set while active_active is on (and never reset
// when it is turned off, like the others: a value the site set stays).
var activeActiveSysctls = []directorSysctl{
	{sysctl.Key{"net", "ipv4", "vs", "sloppy_tcp"}, "1",
		"behind ECMP a director takes over flows whose SYN went to another director: with 0 IPVS creates connections only from a SYN and drops the mid-stream packets (the flow hangs, then resets); 1 schedules them like a new connection, to the same real server since mh is a consistent hash"},
	{sysctl.Key{"net", "ipv4", "vs", "sloppy_sctp"}, "1",
		"the same for SCTP services: with 0 only an INIT creates a connection, and an association moved to this director mid-stream is dropped"},
}

// compile is compile() with this config's rules on top (active_active).
// prev (the running model, or nil) is reused from only if it was compiled
// with the same active_active: its services carry that setting's
// scheduler, and toggling it must recompile them all.
func (c *Config) compile(specs []ServiceSpec, marks *markAlloc, prev *model) (*model, error) {
	if prev != nil && prev.activeActive != c.ActiveActive {
		prev = nil
	}
	m, err := compile(specs, marks, prev)
	if err != nil || !c.ActiveActive {
		return m, err
	}
	if err := activeActive(specs, m); err != nil {
		return nil, err
	}
	m.activeActive = true
	return m, nil
}
