// Package tunnel owns what an LVS-TUN or LVS-NAT real server needs beyond
// its VIPs: the fallback tunnel devices that unwrap what the director sends
// (tunl0, ip6tnl0, gre0, ip6gre0, sit0), FOU/GUE receive ports, the source
// policy rules and the routing table that advertise a smaller TCP MSS for
// VIP-sourced replies, and default routes (NAT). It never touches a device,
// port, rule or route it is not asked to; ownership is the agent's business
// (rule and route protocol 76, the state file for FOU ports and devices).
//
// Netlink is the narrow interface the agent uses; Kernel implements it with
// github.com/vishvananda/netlink (rtnetlink and the FOU generic netlink
// family, no exec), Fake in memory, modelling the kernel behaviours the
// agent relies on (each proven in the lab, see lab/scenarios/tun-*.sh).
package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/lvsnode/lvsnode/internal/rtnl"
)

// Sentinel errors; implementations wrap them, callers use errors.Is.
var (
	// ErrNoLink: the named device does not exist.
	ErrNoLink = rtnl.ErrNoLink
	// ErrExist: the device, port, rule or route is already there.
	ErrExist = errors.New("already exists")
	// ErrNotFound: nothing to delete.
	ErrNotFound = errors.New("not found")
	// ErrUnsupported: the kernel lacks the module (ipip, fou, ip_gre...)
	// and could not load it.
	ErrUnsupported = errors.New("not supported by this kernel (module missing?)")
)

// Kind is a tunnel device kind as rtnetlink names it.
type Kind string

// The fallback devices: loading a tunnel module creates one per network
// namespace, unconfigured (any local and remote address), and it receives
// every packet of its protocol that no more specific tunnel claims.
const (
	KindIPIP   Kind = "ipip"   // tunl0: IPv4 in IPv4 (protocol 4)
	KindIP6Tnl Kind = "ip6tnl" // ip6tnl0: IPv6 or IPv4 in IPv6 (next header 41, 4)
	KindSIT    Kind = "sit"    // sit0: IPv6 in IPv4 (protocol 41)
	KindGRE    Kind = "gre"    // gre0: GRE over IPv4
	KindIP6GRE Kind = "ip6gre" // ip6gre0: GRE over IPv6
)

// FallbackName is the name the kernel gives the fallback device of k.
func FallbackName(k Kind) string {
	switch k {
	case KindIPIP:
		return "tunl0"
	case KindIP6Tnl:
		return "ip6tnl0"
	case KindSIT:
		return "sit0"
	case KindGRE:
		return "gre0"
	case KindIP6GRE:
		return "ip6gre0"
	}
	return ""
}

// Link is what the agent needs to know of a device.
type Link struct {
	Name string
	Up   bool
	MTU  int
}

// Fou is a FOU receive port (`ip fou add port N gue [-6]`).
type Fou struct {
	Port   int
	Family int  // 4 or 6: the outer header's family
	GUE    bool // encapsulation type GUE (the inner protocol is in the GUE header)
}

func (f Fou) String() string {
	t := "ipproto"
	if f.GUE {
		t = "gue"
	}
	return fmt.Sprintf("fou port %d %s ipv%d", f.Port, t, f.Family)
}

// Rule is a policy routing rule `from Src lookup Table pref Priority proto Protocol`.
type Rule struct {
	Src      netip.Prefix // its family is the rule's
	Table    int
	Priority int
	Protocol int
}

func (r Rule) String() string {
	return fmt.Sprintf("rule pref %d from %s lookup %d proto %d", r.Priority, r.Src, r.Table, r.Protocol)
}

// Route is a route in one table. A zero Dst (of either family: 0.0.0.0/0
// or ::/0) is the default route.
type Route struct {
	Table    int
	Family   int // 4 or 6
	Dst      netip.Prefix
	Gw       netip.Addr // invalid: directly connected
	Dev      string
	Protocol int
	Metric   int
	Scope    int // rtm_scope; 0 universe, 253 link
	Type     int // rtm_type; 1 unicast
	OnLink   bool
	AdvMSS   int   // RTAX_ADVMSS; 0 unset
	MTU      int   // RTAX_MTU; 0 unset
	NextHops []Hop // multipath; empty for a single next hop
	// Foreign: what this model cannot carry over to a copy (a gateway of
	// the other family, RTA_VIA, as FRR's BGP unnumbered adds; a
	// lightweight tunnel encapsulation); "" when the route is plain. Such
	// a route is listed, never rebuilt: a copy would send elsewhere.
	Foreign string
}

// Hop is one next hop of a multipath route.
type Hop struct {
	Gw     netip.Addr
	Dev    string
	Weight int // 1-256; 0 = 1
}

// RouteTypeUnicast is rtm_type RTN_UNICAST.
const RouteTypeUnicast = 1

// Key identifies a route for comparison: what it matches and where it
// sends (not who added it, nor its metrics).
func (r Route) Key() string {
	var b strings.Builder
	fmt.Fprintf(&b, "table %d %s", r.Table, r.DstString())
	if r.Gw.IsValid() {
		fmt.Fprintf(&b, " via %s", r.Gw)
	}
	if r.Dev != "" {
		fmt.Fprintf(&b, " dev %s", r.Dev)
	}
	if len(r.NextHops) > 0 {
		hops := make([]string, len(r.NextHops))
		for i, h := range r.NextHops {
			hops[i] = h.Gw.String() + "@" + h.Dev
			if h.Weight > 1 {
				hops[i] += fmt.Sprintf("*%d", h.Weight)
			}
		}
		sort.Strings(hops)
		fmt.Fprintf(&b, " nexthops %s", strings.Join(hops, ","))
	}
	if r.Foreign != "" {
		fmt.Fprintf(&b, " (%s)", r.Foreign)
	}
	if r.Type != 0 && r.Type != RouteTypeUnicast {
		fmt.Fprintf(&b, " type %d", r.Type)
	}
	fmt.Fprintf(&b, " metric %d", r.Metric)
	return b.String()
}

// DstString renders Dst the way ip-route does ("default" for /0).
func (r Route) DstString() string {
	if r.Dst.Bits() == 0 {
		return "default"
	}
	return r.Dst.String()
}

func (r Route) String() string {
	s := r.Key()
	if r.AdvMSS > 0 {
		s += fmt.Sprintf(" advmss %d", r.AdvMSS)
	}
	return s + fmt.Sprintf(" proto %d", r.Protocol)
}

// IsDefault tells whether r is a default route.
func (r Route) IsDefault() bool { return r.Dst.IsValid() && r.Dst.Bits() == 0 }

// Netlink is the kernel boundary for tunnel devices, FOU ports, policy
// rules and routes in any table.
type Netlink interface {
	// Link returns the device; ErrNoLink if absent.
	Link(name string) (Link, error)
	// AddFallback asks for the fallback device of k by adding a device of
	// that kind under its name, which makes the kernel load the module. If
	// loading the module created the fallback device, the add fails with
	// ErrExist and the device is the kernel's; on success the device is a
	// new, unconfigured tunnel of the caller's (the module was loaded with
	// fallback devices only in the initial namespace). ErrUnsupported when
	// the kernel has no such module.
	AddFallback(k Kind) error
	// DelLink deletes a device; ErrNoLink if absent.
	DelLink(name string) error
	// SetLinkUp sets the device administratively up or down.
	SetLinkUp(name string, up bool) error
	// FouPorts lists the FOU receive ports of one outer family (4 or 6);
	// ErrUnsupported without the fou module.
	FouPorts(family int) ([]Fou, error)
	// AddFou opens a receive port; ErrExist if the port is taken.
	AddFou(f Fou) error
	// DelFou closes it; ErrNotFound if it is not open.
	DelFou(f Fou) error
	// Rules lists the policy rules of one family.
	Rules(family int) ([]Rule, error)
	// AddRule adds r; ErrExist if an identical rule is there.
	AddRule(r Rule) error
	// DelRule deletes the rule matching r's source, table, priority and
	// protocol; ErrNotFound if none.
	DelRule(r Rule) error
	// WatchRules reports each rule the kernel adds or deletes, both
	// families; the channel is closed when the stream breaks (events were
	// lost: resubscribe and re-list) or ctx ends.
	WatchRules(ctx context.Context) (<-chan RuleEvent, error)
	// Routes lists the routes of one table and family (cached clones
	// excluded).
	Routes(table, family int) ([]Route, error)
	// AddRoute adds r; ErrExist if a route with the same destination,
	// metric (and for IPv4 type) is there.
	AddRoute(r Route) error
	// ReplaceRoute puts r in its slot (the destination and metric AddRoute
	// would refuse as taken) in one step, replacing the route there, or
	// adds it when the slot is free: the slot is never empty meanwhile. A
	// route the kernel refuses leaves the slot as it was.
	ReplaceRoute(r Route) error
	// DelRoute deletes the route matching r's table, destination, metric,
	// gateway, device and protocol; ErrNotFound if none.
	DelRoute(r Route) error
	// RouteGet asks the kernel how it would send a packet to dst
	// (`ip route get dst [oif dev]`): the route it picks, with Gw invalid
	// when dst is on a directly connected network, Type 2 (local) when dst
	// is one of the host's own addresses and another non-unicast type for
	// a broadcast, anycast, blackhole... destination. With dev set, only
	// routes through dev count; ErrNoLink when dev does not exist.
	RouteGet(dst netip.Addr, dev string) (Route, error)
}

// RouteTypeLocal is rtm_type RTN_LOCAL.
const RouteTypeLocal = 2

// RouteTypeThrow is rtm_type RTN_THROW: the lookup leaves the table and
// goes on with the next rule.
const RouteTypeThrow = 9

// RouteTypeName names an rtm_type as ip-route does.
func RouteTypeName(t int) string {
	names := []string{"unspec", "unicast", "local", "broadcast", "anycast", "multicast", "blackhole", "unreachable", "prohibit", "throw", "nat", "xresolve"}
	if t >= 0 && t < len(names) {
		return names[t]
	}
	return fmt.Sprintf("type %d", t)
}

// Family returns 4 or 6 for a.
func Family(a netip.Addr) int { return rtnl.Family(a) }
