package agent

import (
	"net/netip"

	"github.com/lvsnode/lvsnode/loopback"
)

// interest is what a plan concerns, for filtering netlink events: on a
// busy host most events are other software's addresses and routes, and
// each reconcile re-reads everything (thousands of addresses on lo under
// churn), so only events that touch the plan's own items trigger one. The
// periodic re-list and every resubscription still read everything, which
// covers what an event could not say (sysctls, lost events).
type interest struct {
	devs     map[string]bool       // the VIP link and every device with a planned sysctl
	prefixes map[netip.Prefix]bool // planned addresses and route destinations
	// allRoutes: mode tun mirrors every route of main into MSSTable, so
	// any route change may be drift. defaults: mode nat owns the default
	// routes (events for them carry no prefix).
	allRoutes, defaults bool
	// allLinks: the modes' routes leave by devices found on the host (the
	// NAT gateway's, found by a route lookup; those of main's routes,
	// mirrored in MSSTable), and a link that goes down or away flushes
	// the IPv4 routes through it with no route event of their own. Link
	// events are rare beside address and route churn.
	allLinks bool
}

func interestOf(p Plan) *interest {
	in := &interest{devs: map[string]bool{p.Link: true}, prefixes: map[netip.Prefix]bool{}}
	for _, s := range p.Sysctls {
		in.devs[s.Dev] = true // a NIC that comes back needs its rows again
	}
	for _, a := range p.Addrs {
		in.prefixes[a.Prefix] = true
	}
	for _, r := range p.Routes {
		in.prefixes[r.Dst] = true
	}
	if p.Tun != nil {
		in.allRoutes = true
		for _, d := range p.Tun.Devices {
			in.devs[d.Name] = true // ip6tnl0 has no sysctl row of its own
		}
	}
	in.defaults = p.NAT != nil
	in.allLinks = p.Tun != nil || p.NAT != nil
	return in
}

// concerns tells whether ev may have changed one of the plan's items. An
// event that says too little to judge (no device, no prefix) counts.
func (in *interest) concerns(ev loopback.Event) bool {
	switch ev.Kind {
	case "link":
		return in.allLinks || ev.Dev == "" || in.devs[ev.Dev]
	case "addr":
		return !ev.Prefix.IsValid() || in.prefixes[ev.Prefix]
	case "route":
		// Routes without a destination (default routes) are no DR
		// plan's business: mode nat owns them; mode tun mirrors all of main.
		return in.allRoutes || in.prefixes[ev.Prefix] ||
			in.defaults && (!ev.Prefix.IsValid() || ev.Prefix.Bits() == 0)
	}
	return true
}
