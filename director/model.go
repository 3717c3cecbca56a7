package director

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/lvsnode/lvsnode/health"
	"github.com/lvsnode/lvsnode/ipvs"
)

// model is the desired state validated and compiled: what the reconcile
// loop and the health wiring work from.
type model struct {
	services []*svc
	byKey    map[ipvs.ServiceKey]*svc
	nodes    map[string]*node // by node id
	// activeActive: compiled under active_active (activeactive.go); a
	// model compiled otherwise is not reused from.
	activeActive bool
}

type svc struct {
	spec    ServiceSpec // compiled from (a shallow copy: see reusable)
	key     ipvs.ServiceKey
	name    string
	service ipvs.Service
	remove  bool // on_down: remove (else weight 0)
	quorum  int
	sorry   *ipvs.Destination
	nodes   []*node
}

type node struct {
	id    string
	svc   *svc
	ref   NodeRef
	dest  ipvs.Destination // at the configured weight
	check *health.Definition
	// checkSrc is the config's (or API's) check check was compiled from:
	// the same one, the same real server (node id) and the same mark make
	// the same check (subscribe skips it).
	checkSrc *health.Definition
	agent    *health.Definition // the agent's readiness (agentcheck.go), nil: none
	// path is the data-path id (pathID) when the check goes through a
	// per-real-server fwmark service, else "".
	path string
}

// lineError is a validation error with the config line it is about (0:
// unknown, e.g. from the API).
type lineError struct {
	line int
	err  error
}

func (e *lineError) Error() string { return e.err.Error() }
func (e *lineError) Unwrap() error { return e.err }

func errAt(line int, format string, a ...any) error {
	return &lineError{line: line, err: fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, a...)...)}
}

// lineOf is the config line of err, 0 when it has none.
func lineOf(err error) int {
	var le *lineError
	if errors.As(err, &le) {
		return le.line
	}
	return 0
}

// nodeID names one real server of one service.
func nodeID(k ipvs.ServiceKey, d ipvs.DestKey) string { return ServiceName(k) + " " + d.String() }

// compile validates specs and builds the model. marks hands out data-path
// marks (nil: data-path checks are refused). A service of prev (the
// running model, or nil) compiled from the same spec is reused as it is
// (reusable): a runtime change recompiles the one service it edited, not
// the 1,000 others.
func compile(specs []ServiceSpec, marks *markAlloc, prev *model) (*model, error) {
	m := &model{byKey: make(map[ipvs.ServiceKey]*svc, len(specs)), nodes: map[string]*node{}}
	var old map[string]*svc
	if prev != nil {
		old = make(map[string]*svc, len(prev.services))
		for _, s := range prev.services {
			old[s.spec.Service] = s
		}
	}
	for i := range specs {
		s, ok := old[specs[i].Service]
		if !ok || !reusable(s, &specs[i], marks) {
			var err error
			if s, err = compileService(&specs[i], marks); err != nil {
				return nil, err
			}
		}
		if _, dup := m.byKey[s.key]; dup {
			return nil, errAt(specs[i].lines.at("service"), "services[%d]: %s is listed twice", i, s.name)
		}
		if marks != nil && s.key.FWMark != 0 && marks.inRange(s.key.FWMark) {
			return nil, errAt(specs[i].lines.at("service"), "services[%d]: %s: mark in datapath.marks, which the daemon owns", i, s.name)
		}
		m.byKey[s.key] = s
		m.services = append(m.services, s)
		for _, n := range s.nodes {
			m.nodes[n.id] = n
		}
	}
	return m, nil
}

func compileService(sp *ServiceSpec, marks *markAlloc) (*svc, error) {
	l := sp.lines
	k, err := ParseService(sp.Service)
	if err != nil {
		return nil, &lineError{l.at("service"), err}
	}
	s := &svc{spec: *sp, key: k, name: ServiceName(k), quorum: sp.Quorum}
	s.spec.Nodes = clone(sp.Nodes) // what reusable compares with, whatever happens to sp
	s.service = ipvs.Service{ServiceKey: k, Scheduler: sp.Scheduler, Netmask: ipvs.FullMask(k.Is6())}
	if s.service.Scheduler == "" {
		s.service.Scheduler = "wlc" // ipvsadm's default
	}
	if !slices.Contains(ipvs.AllSchedulers, s.service.Scheduler) {
		// the kernel refuses it at service creation, at every reconcile:
		// refused here, with its line, before anything changes
		return nil, errAt(l.at("scheduler"), "%s: unknown scheduler %q: one of %s", s.name, sp.Scheduler, strings.Join(ipvs.AllSchedulers, " "))
	}
	if sp.Persistent > 0 {
		s.service.Flags |= ipvs.FlagPersistent
		s.service.Timeout = sp.Persistent
	}
	switch sp.OnDown {
	case "", "weight0":
	case "remove":
		s.remove = true
	default:
		return nil, errAt(l.at("on_down"), "%s: on_down %q: want weight0 or remove", s.name, sp.OnDown)
	}
	if sp.Quorum < 0 || sp.Quorum > len(sp.Nodes) {
		return nil, errAt(l.at("quorum"), "%s: quorum %d: want 0..%d (the number of nodes)", s.name, sp.Quorum, len(sp.Nodes))
	}
	if sp.Sorry != nil {
		if sp.Quorum == 0 {
			return nil, errAt(sp.Sorry.lines.at(""), "%s: sorry server without quorum: say below how many up real servers it takes over", s.name)
		}
		d, err := destOf(k, *sp.Sorry)
		if err != nil {
			return nil, err
		}
		if d.Weight == 0 {
			d.Weight = 1
		}
		s.sorry = &d
	}
	seen := map[ipvs.DestKey]bool{}
	for j, ns := range sp.Nodes {
		d, err := destOf(k, ns)
		if err != nil {
			return nil, err
		}
		if seen[d.DestKey] {
			return nil, errAt(ns.lines.at("address"), "%s: real server %s listed twice", s.name, d.DestKey)
		}
		seen[d.DestKey] = true
		if s.sorry != nil && s.sorry.DestKey == d.DestKey {
			return nil, errAt(ns.lines.at("address"), "%s: %s is both a node and the sorry server", s.name, d.DestKey)
		}
		n := &node{id: nodeID(k, d.DestKey), svc: s, dest: d,
			ref: NodeRef{Service: s.name, Address: d.Addr.String(), Port: d.Port}}
		cs, cl := ns.Check, ns.checkLines
		if cs == nil {
			cs, cl = sp.Check, sp.checkLines
		}
		if cs != nil {
			n.checkSrc = cs
			if err := compileCheck(n, *cs, cl, marks); err != nil {
				return nil, err
			}
		}
		as, al := ns.Agent, ns.agentLines
		if as == nil {
			as, al = sp.Agent, sp.agentLines
		}
		if as != nil {
			if err := compileAgent(n, *as, al); err != nil {
				return nil, err
			}
		}
		_ = j
		s.nodes = append(s.nodes, n)
	}
	return s, nil
}

func compileCheck(n *node, cs health.Definition, l lines, marks *markAlloc) error {
	line := l.at("")
	if cs.DataPath {
		switch {
		case n.svc.key.FWMark != 0 && !cs.Target.IsValid():
			return errAt(l.at("data_path"), "%s: data_path on a fwmark service needs check.target (the VIP to probe)", n.id)
		case n.dest.Forward == ipvs.Masq:
			return errAt(l.at("data_path"), "%s: data_path is for dr and tun real servers (nat's path is the real server's own address)", n.id)
		case cs.Mark != 0:
			return errAt(l.at("mark"), "%s: data_path assigns the mark itself; drop check.mark", n.id)
		case marks == nil:
			return errAt(l.at("data_path"), "%s: data_path needs datapath.marks", n.id)
		case !cs.Source.IsValid():
			// The probe goes to the VIP, which the director holds: left to
			// the kernel, its source is the VIP too, and the real server's
			// answer to the VIP stays on the real server (shown in the lab).
			return errAt(l.at("data_path"), "%s: data_path needs check.source, the director's own address toward the real servers (the kernel would pick the VIP, and the answers would never come back)", n.id)
		}
	}
	d := checkDefinition(cs, n.dest.Addr, n.svc.key.Addr)
	if d.Port == 0 && d.Type == health.TCP {
		d.Port = n.dest.Port // tcp: the real server's port by default
		if cs.DataPath {
			d.Port = n.svc.key.Port
		}
	}
	if cs.DataPath {
		n.path = pathID(n.dest, d.Target.Is6())
		mk, err := marks.get(n.path)
		if err != nil {
			return errAt(l.at("data_path"), "%s: %v", n.id, err)
		}
		d.Mark = mk
	}
	if err := d.Validate(); err != nil {
		return &lineError{line, fmt.Errorf("%s: %w", n.id, errors.Join(ErrInvalid, err))}
	}
	if _, err := d.LoadCA(); err != nil { // what the checker would fail on, found before anything runs
		return &lineError{l.at("ca_file"), fmt.Errorf("%w: %s: %s", ErrInvalid, n.id, strings.TrimPrefix(err.Error(), health.ErrInvalid.Error()+": "))}
	}
	n.check = &d
	return nil
}

// destOf builds the IPVS real server of a node spec, at its configured weight.
func destOf(k ipvs.ServiceKey, ns NodeSpec) (ipvs.Destination, error) {
	l := ns.lines
	a, err := netip.ParseAddr(ns.Address)
	if err != nil || a.Zone() != "" {
		return ipvs.Destination{}, errAt(l.at("address"), "%s: address %q is not an IP address", ServiceName(k), ns.Address)
	}
	a = a.Unmap()
	if k.FWMark == 0 && a.Is6() != k.Addr.Is6() {
		return ipvs.Destination{}, errAt(l.at("address"), "%s: real server %s is not of the service's family", ServiceName(k), a)
	}
	d := ipvs.Destination{DestKey: ipvs.DestKey{Addr: a, Port: ns.Port}, Weight: 1,
		UpperThreshold: ns.Upper, LowerThreshold: ns.Lower}
	if d.Port == 0 {
		d.Port = k.Port // ipvsadm: the service's port
	}
	if ns.Weight != nil {
		if *ns.Weight > 65535 {
			return d, errAt(l.at("weight"), "%s: weight %d: want 0..65535", ServiceName(k), *ns.Weight)
		}
		d.Weight = *ns.Weight
	}
	if d.Forward, err = parseMethod(ns.Method); err != nil {
		return d, &lineError{l.at("method"), err}
	}
	if d.Forward == ipvs.Tunnel {
		if d.TunnelType, err = parseTunType(ns.TunType); err != nil {
			return d, &lineError{l.at("tun_type"), err}
		}
		if d.TunnelFlags, err = parseTunCsum(ns.TunCsum); err != nil {
			return d, &lineError{l.at("tun_csum"), err}
		}
		d.TunnelPort = ns.TunPort
		if d.TunnelType == ipvs.GUE && d.TunnelPort == 0 {
			return d, errAt(l.at("tun_type"), "%s: tun_type gue needs tun_port", ServiceName(k))
		}
	} else if ns.TunType != "" || ns.TunPort != 0 || ns.TunCsum != "" {
		return d, errAt(l.at("tun_type"), "%s: tun_type/tun_port/tun_csum only with method tun", ServiceName(k))
	}
	if d.LowerThreshold > d.UpperThreshold && d.UpperThreshold != 0 {
		return d, errAt(l.at("l_threshold"), "%s: l_threshold above u_threshold", ServiceName(k))
	}
	return d, nil
}

// reusable reports whether s, compiled earlier, is what compiling sp now
// would give: sp is field by field the spec s was compiled from (weights
// and checks compared by pointer: edits replace them, never change them in
// place), and its data-path real servers get the same marks from marks
// (which it reserves for them, as compiling would).
func reusable(s *svc, sp *ServiceSpec, marks *markAlloc) bool {
	a := &s.spec
	if a.Service != sp.Service || a.Scheduler != sp.Scheduler || a.Persistent != sp.Persistent || a.OnDown != sp.OnDown ||
		a.Quorum != sp.Quorum || a.Sorry != sp.Sorry || a.Check != sp.Check || a.Agent != sp.Agent || len(a.Nodes) != len(sp.Nodes) {
		return false
	}
	for i := range a.Nodes {
		x, y := &a.Nodes[i], &sp.Nodes[i]
		if x.Address != y.Address || x.Port != y.Port || x.Weight != y.Weight || x.Method != y.Method || x.TunType != y.TunType ||
			x.TunPort != y.TunPort || x.TunCsum != y.TunCsum || x.Upper != y.Upper || x.Lower != y.Lower || x.Check != y.Check ||
			x.Agent != y.Agent {
			return false
		}
	}
	for _, n := range s.nodes {
		if n.path == "" {
			continue
		}
		if marks == nil {
			return false
		}
		if mk, err := marks.get(n.path); err != nil || mk != n.check.Mark {
			return false
		}
	}
	return true
}
