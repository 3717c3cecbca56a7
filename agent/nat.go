package agent

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/lvsnode/lvsnode/tunnel"
)

// MainTable is the kernel's main routing table (RT_TABLE_MAIN).
const MainTable = 254

// natMetric is the metric of lvsnode's default route per family: the
// lowest the kernel keeps (IPv6 turns 0 into 1024), so it wins over any
// other default route without removing those of a higher metric (a DHCP
// client's or router advertisement's); only those at the same metric, which
// the kernel would refuse next to it (IPv4) or merge with it (IPv6), are
// removed and remembered.
var natMetric = map[int]int{4: 0, 6: 1}

// NATPlan is the NAT-mode part of a Plan: for each gateway, a default route
// through it.
type NATPlan struct {
	Gateways []Gateway
}

func newNATPlan(o Options) *NATPlan {
	// The director rewrites the destination (VIP -> RIP) and must see the
	// reply to rewrite the source back: the real server's default route
	// goes via the director (the seeds' `route add -net 0.0.0.0 gw DIP`).
	return &NATPlan{Gateways: o.Gateways}
}

// NATState is what the NAT mode replaced.
type NATState struct {
	// Replaced are the default routes lvsnode removed to put its own in
	// their place; teardown adds them back.
	Replaced []tunnel.Route `json:"replaced_defaults,omitempty"`
}

// natObserved is one read of the default routes of the families the plan
// (or a previous one) concerns, and where each gateway is.
type natObserved struct {
	defaults map[int][]tunnel.Route // main table's default routes by family
	gw       map[netip.Addr]tunnel.Route
	gwErr    map[netip.Addr]error
}

// natRoute is lvsnode's default route through g, leaving by dev.
func natRoute(g Gateway, dev string) tunnel.Route {
	f := Family(g.Addr)
	return tunnel.Route{Table: MainTable, Family: f, Dst: netip.PrefixFrom(unspecified(f), 0), Gw: g.Addr,
		Dev: dev, Protocol: OwnerProto, Metric: natMetric[f], Type: tunnel.RouteTypeUnicast}
}

func unspecified(family int) netip.Addr {
	if family == 4 {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}

// gatewayDev checks that g is a unicast address on a directly connected
// network (through g.Dev when given: it must exist, not be lo, and reach
// g without a router) and returns the device that reaches it. The kernel
// would take a broadcast, anycast or blackhole "gateway" only to refuse
// the route, or keep one that sends nothing anywhere. The error wraps
// ErrBadInput and names where g was given.
func (n natObserved) gatewayDev(g Gateway) (string, error) {
	if g.Dev == VIPDevice {
		return "", fmt.Errorf("%w: %s: gateway %s: %s is the loopback device: name the interface facing the director", ErrBadInput, g.Where, g, g.Dev)
	}
	r, ok := n.gw[g.Addr]
	switch {
	case !ok && errors.Is(n.gwErr[g.Addr], tunnel.ErrNoLink):
		return "", fmt.Errorf("%w: %s: gateway %s: no interface %q on this host", ErrBadInput, g.Where, g, g.Dev)
	case !ok && g.Dev != "":
		return "", fmt.Errorf("%w: %s: gateway %s is not on a network directly connected through %s (%v)", ErrBadInput, g.Where, g, g.Dev, n.gwErr[g.Addr])
	case !ok:
		return "", fmt.Errorf("%w: %s: gateway %s: no route to it: it must be on a directly connected network (%v)", ErrBadInput, g.Where, g, n.gwErr[g.Addr])
	case r.Type == tunnel.RouteTypeLocal:
		return "", fmt.Errorf("%w: %s: gateway %s is this host's own address: give the director's address (DIP)", ErrBadInput, g.Where, g)
	case r.Type != tunnel.RouteTypeUnicast:
		return "", fmt.Errorf("%w: %s: gateway %s is a %s destination here, not a host's address: give the director's address (DIP)", ErrBadInput, g.Where, g, tunnel.RouteTypeName(r.Type))
	case r.Gw.IsValid():
		return "", fmt.Errorf("%w: %s: gateway %s is not on a directly connected network (the kernel reaches it via %s dev %s): give the director's address on this server's network", ErrBadInput, g.Where, g, r.Gw, r.Dev)
	case r.Dev == VIPDevice || r.Dev == "":
		return "", fmt.Errorf("%w: %s: gateway %s is not on a directly connected network (route dev %q)", ErrBadInput, g.Where, g, r.Dev)
	case g.Dev != "" && r.Dev != g.Dev:
		return "", fmt.Errorf("%w: %s: gateway %s is reached through %s, not %s", ErrBadInput, g.Where, g, r.Dev, g.Dev)
	}
	return r.Dev, nil
}

// natConflicts are the default routes that are not lvsnode's and would
// take precedence over, or collide with, its route for family f.
func natConflicts(defaults []tunnel.Route, f int) []tunnel.Route {
	var out []tunnel.Route
	for _, r := range defaults {
		if r.Protocol != OwnerProto && r.Metric <= natMetric[f] {
			out = append(out, r)
		}
	}
	return out
}

func owned(rs []tunnel.Route) []tunnel.Route {
	var out []tunnel.Route
	for _, r := range rs {
		if r.Protocol == OwnerProto {
			out = append(out, r)
		}
	}
	return out
}

// CheckInput refuses, changing nothing, what in p the host makes
// impossible: a NAT gateway that is not a unicast address on a directly
// connected network. A daemon's reload calls it, so a bad value keeps the
// running configuration (and the host its default route) instead of
// failing every retry. The error wraps ErrBadInput when the value is bad.
func (a *Agent) CheckInput(p Plan) error {
	if p.NAT == nil {
		return nil
	}
	var n natObserved
	if err := a.observeNAT(p, &State{}, &n); err != nil {
		return err
	}
	for _, g := range p.NAT.Gateways {
		if _, err := n.gatewayDev(g); err != nil {
			return err
		}
	}
	return nil
}
