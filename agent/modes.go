package agent

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/lvsnode/lvsnode/tunnel"
)

// TunState is what the TUN mode changed that carries no mark of lvsnode's.
type TunState struct {
	// Created are fallback devices lvsnode itself created (the module was
	// loaded with fallback devices in the initial namespace only): deleted
	// on teardown. A device the module created is the kernel's.
	Created []string `json:"created_links,omitempty"`
	// Raised are devices lvsnode found down and set up: down again on
	// teardown.
	Raised []string `json:"raised_links,omitempty"`
	// Fous are the FOU ports lvsnode opened (FOU ports carry no mark).
	Fous []tunnel.Fou `json:"fou_ports,omitempty"`
}

// modesObserved is one read of what the TUN and NAT modes touch.
type modesObserved struct {
	links     map[string]tunnel.Link // tunnel devices of the plan and the state; absent = missing
	fous      map[int][]tunnel.Fou   // by outer family
	fouErr    error                  // the kernel has no fou
	rules     []tunnel.Rule          // both families, when the TUN mode is or was in use
	mss       []tunnel.Route         // MSSTable, both families
	mirror    []tunnel.Route         // what MSSTable should hold
	nat       natObserved
	tunListed bool
}

// tunInUse tells whether the TUN mode's marked items must be listed: the
// plan wants them, or an earlier apply made some.
func tunInUse(p Plan, st *State) bool { return p.Tun != nil || st.Tun != nil }

// observeModes reads the TUN and NAT items of p and those st remembers.
func (a *Agent) observeModes(p Plan, st *State, ob *observed) error {
	m := &ob.modes
	m.links = map[string]tunnel.Link{}
	m.fous = map[int][]tunnel.Fou{}
	var names []string
	if p.Tun != nil {
		for _, d := range p.Tun.Devices {
			names = append(names, d.Name)
		}
	}
	if st.Tun != nil {
		names = append(names, st.Tun.Raised...)
	}
	for _, n := range names {
		l, err := a.Tun.Link(n)
		if errors.Is(err, tunnel.ErrNoLink) {
			continue
		}
		if err != nil {
			return err
		}
		m.links[n] = l
	}
	fouFams := map[int]bool{}
	if p.Tun != nil {
		for _, f := range p.Tun.Fous {
			fouFams[f.Family] = true
		}
	}
	if st.Tun != nil {
		for _, f := range st.Tun.Fous {
			fouFams[f.Family] = true
		}
	}
	for _, fam := range []int{4, 6} {
		if !fouFams[fam] {
			continue
		}
		ports, err := a.Tun.FouPorts(fam)
		if errors.Is(err, tunnel.ErrUnsupported) {
			m.fouErr = err
			continue
		}
		if err != nil {
			return err
		}
		m.fous[fam] = ports
	}
	if tunInUse(p, st) {
		m.tunListed = true
		for _, fam := range []int{4, 6} {
			rs, err := a.Tun.Rules(fam)
			if err != nil {
				return err
			}
			m.rules = append(m.rules, rs...)
			routes, err := a.Tun.Routes(MSSTable, fam)
			if err != nil {
				return err
			}
			m.mss = append(m.mss, routes...)
		}
	}
	if p.Tun != nil {
		mtus := map[string]int{}
		mtuOf := func(dev string) int {
			if v, ok := mtus[dev]; ok {
				return v
			}
			l, err := a.Tun.Link(dev)
			if err != nil {
				return 0
			}
			mtus[dev] = l.MTU
			return l.MTU
		}
		for _, fam := range []int{4, 6} {
			if _, ok := p.Tun.Overhead[fam]; !ok {
				continue
			}
			main, err := a.Tun.Routes(MainTable, fam)
			if err != nil {
				return err
			}
			m.mirror = append(m.mirror, p.Tun.mirror(fam, main, mtuOf)...)
		}
	}
	return a.observeNAT(p, st, &m.nat)
}

func (a *Agent) observeNAT(p Plan, st *State, n *natObserved) error {
	n.defaults = map[int][]tunnel.Route{}
	n.gw = map[netip.Addr]tunnel.Route{}
	n.gwErr = map[netip.Addr]error{}
	fams := map[int]bool{}
	if p.NAT != nil {
		for _, g := range p.NAT.Gateways {
			fams[Family(g.Addr)] = true
			r, err := a.Tun.RouteGet(g.Addr, g.Dev)
			if err != nil {
				n.gwErr[g.Addr] = err
				continue
			}
			n.gw[g.Addr] = r
		}
	}
	if st.NAT != nil {
		fams[4], fams[6] = true, true
	}
	for fam := range fams {
		routes, err := a.Tun.Routes(MainTable, fam)
		if err != nil {
			return err
		}
		for _, r := range routes {
			if r.IsDefault() {
				n.defaults[fam] = append(n.defaults[fam], r)
			}
		}
	}
	return nil
}

// prepareTun makes sure each tunnel device of p exists before anything is
// read or changed: asking the kernel for one loads its module, which
// creates it. A kernel that cannot is reported here, with nothing changed.
func (a *Agent) prepareTun(p Plan, st *State) (bool, error) {
	if p.Tun == nil {
		return false, nil
	}
	changed := false
	for _, d := range p.Tun.Devices {
		if _, err := a.Tun.Link(d.Name); !errors.Is(err, tunnel.ErrNoLink) {
			if err != nil {
				return changed, err
			}
			continue
		}
		err := a.Tun.AddFallback(d.Kind)
		switch {
		case errors.Is(err, tunnel.ErrExist): // the module's own: the kernel's
		case errors.Is(err, tunnel.ErrUnsupported):
			return changed, fmt.Errorf("%s: this kernel cannot unwrap %s packets (%v): load its module at boot, e.g. echo %s >/etc/modules-load.d/lvsnode.conf", d.Name, d.Kind, err, moduleOf(d.Kind))
		case err != nil:
			return changed, err
		default:
			if st.Tun == nil {
				st.Tun = &TunState{}
			}
			st.Tun.Created = append(st.Tun.Created, d.Name)
			changed = true
		}
	}
	return changed, nil
}

func moduleOf(k tunnel.Kind) string {
	switch k {
	case tunnel.KindIPIP:
		return "ipip"
	case tunnel.KindIP6Tnl:
		return "ip6_tunnel"
	case tunnel.KindGRE:
		return "ip_gre"
	case tunnel.KindIP6GRE:
		return "ip6_gre"
	}
	return string(k)
}

// checkModes refuses, before anything changes, what the host makes
// impossible: a NAT gateway that is not on a directly connected network.
func checkModes(p Plan, ob observed) error {
	if p.NAT == nil {
		return nil
	}
	for _, g := range p.NAT.Gateways {
		if _, err := ob.modes.nat.gatewayDev(g); err != nil {
			return err
		}
	}
	return nil
}

// wantedRule tells whether p wants rule r.
func (p Plan) wantedRule(r tunnel.Rule) bool {
	return p.Tun != nil && slices.Contains(p.Tun.Rules, r)
}

func ownedRule(r tunnel.Rule) bool { return r.Protocol == OwnerProto && r.Table == MSSTable }

func findRoute(rs []tunnel.Route, want tunnel.Route) (tunnel.Route, bool) {
	for _, r := range rs {
		if r.Key() == want.Key() {
			return r, true
		}
	}
	return tunnel.Route{}, false
}
