package agent

import (
	"net/netip"
	"slices"

	"github.com/lvsnode/lvsnode/sysctl"
	"github.com/lvsnode/lvsnode/tunnel"
)

// MSS policy routing: VIP-sourced traffic (the SYN-ACK the real server
// sends from the VIP to the client) is looked up in MSSTable, a copy of the
// main table whose routes carry advmss. The kernel takes the MSS it
// advertises in a SYN-ACK from the route the SYN-ACK leaves by
// (dst_metric_advmss of the reply route, not the route the SYN came in on),
// so the metric has to be on the route to the client, chosen by source.
const (
	// MSSTable is the routing table of lvsnode's advmss routes; every
	// route lvsnode puts there has protocol OwnerProto.
	MSSTable = 76
	// MSSRulePriority places the `from VIP lookup 76` rules just before
	// the main table's rule (32766): site rules before it keep precedence,
	// only main's choice is replaced, by the same choice with advmss.
	MSSRulePriority = 32700
)

// tunRow is what IPVS sends for one tunnel type and outer family, and what
// unwraps it on the real server. Overhead is the most the director adds
// (optional checksum and remote-checksum-offload fields included), so the
// advertised MSS fits whichever flags the director uses.
type tunRow struct {
	typ      TunType
	family   int // the outer (= VIP = RIP) family
	kind     tunnel.Kind
	fou      bool
	overhead int
	why      string
}

var tunTable = []tunRow{
	// IPv4 in IPv4 (protocol 4): the ipip module's fallback device takes
	// packets from any sender once it is up.
	{TunIPIP, 4, tunnel.KindIPIP, false, 20, "IPVS sends IPv4 in IPv4 (protocol 4): tunl0, the ipip fallback device, unwraps it once up"},
	// IPVS encapsulates IPv6 real servers as ip6ip6 (next header 41),
	// measured in the lab; ip6tnl0 unwraps it.
	{TunIPIP, 6, tunnel.KindIP6Tnl, false, 40, "IPVS sends IPv6 in IPv6 (ip6ip6): ip6tnl0, the ip6_tunnel fallback device, unwraps it once up"},
	// GUE: UDP to the director's --tun-port; the FOU port strips UDP and
	// the 4-byte GUE header (+8 with remcsum) and hands the inner packet
	// to the ipip handler, that is to tunl0.
	{TunGUE, 4, tunnel.KindIPIP, true, 20 + 8 + 4 + 8, "GUE: the FOU port strips UDP and GUE and hands the inner IPv4 packet to tunl0, which must be up"},
	{TunGUE, 6, tunnel.KindIP6Tnl, true, 40 + 8 + 4 + 8, "GUE over IPv6: the FOU port strips UDP and GUE and hands the inner IPv6 packet to ip6tnl0, which must be up"},
	// GRE: 4-byte header, +4 with checksum.
	{TunGRE, 4, tunnel.KindGRE, false, 20 + 4 + 4, "IPVS sends GRE over IPv4: gre0, the ip_gre fallback device, unwraps it once up"},
	{TunGRE, 6, tunnel.KindIP6GRE, false, 40 + 4 + 4, "IPVS sends GRE over IPv6: ip6gre0, the ip6_gre fallback device, unwraps it once up"},
}

// TunPlan is the TUN-mode part of a Plan.
type TunPlan struct {
	Type TunType
	// Devices must exist (asking for one loads its module) and be up.
	Devices []TunDevice
	// Fous are the receive ports (GUE only).
	Fous []tunnel.Fou
	// Rules send VIP-sourced lookups to MSSTable, one per VIP.
	Rules []tunnel.Rule
	// Overhead is the encapsulation overhead per outer family (4, 6):
	// MSSTable mirrors main's routes of that family with
	// advmss = MTU - overhead - IP and TCP headers.
	Overhead map[int]int
}

// TunDevice is one fallback device the plan needs.
type TunDevice struct {
	Kind tunnel.Kind
	Name string
	Why  string
}

// rpTable is the reverse-path filtering a tunnel device needs, in the
// order it is written. The unwrapped packet arrives on the device with the
// client's address as its source. The fallback device has no IPv4 address,
// and for such a device the kernel's source validation fails in loose mode
// (2) as well as strict (1): __fib_validate_source goes to "last_resort",
// which rejects whenever rp_filter is non-zero (measured in the lab:
// TcpExtIPReversePathFilter counts the drops with tunl0=2). The kernel acts
// on the larger of conf/all and conf/<dev>, so both must be 0: `all` first,
// then the device. Other interfaces keep their own value; with `all` at 0
// a NIC's own value is what applies to it.
var rpTable = []struct {
	dev bool // false: conf/all, true: the tunnel device
	why string
}{
	{false, "no reverse-path filtering from conf/all: the kernel uses max(all, dev), and the tunnel device needs 0"},
	{true, "no reverse-path filtering on the tunnel device: unwrapped packets come from the client and the device has no address, so even loose mode (2) drops them"},
}

// newTunPlan computes the TUN rows for the VIPs of o, and appends the
// tunnel devices' sysctls to p.
func newTunPlan(p *Plan, o Options) *TunPlan {
	tp := &TunPlan{Type: o.TunType, Overhead: map[int]int{}}
	fams := map[int]bool{}
	for _, v := range o.VIPs {
		fams[Family(v)] = true
		// A source-policy rule per VIP: its replies are routed with advmss.
		tp.Rules = append(tp.Rules, tunnel.Rule{Src: netip.PrefixFrom(v, v.BitLen()), Table: MSSTable, Priority: MSSRulePriority, Protocol: OwnerProto})
	}
	for _, row := range tunTable {
		if row.typ != o.TunType || !fams[row.family] {
			continue
		}
		name := tunnel.FallbackName(row.kind)
		tp.Devices = append(tp.Devices, TunDevice{Kind: row.kind, Name: name, Why: row.why})
		tp.Overhead[row.family] = row.overhead
		if row.fou {
			tp.Fous = append(tp.Fous, tunnel.Fou{Port: o.TunPort, Family: row.family, GUE: true})
		}
		if row.family == 4 { // rp_filter is IPv4 only
			for _, rp := range rpTable {
				dev := "all"
				if rp.dev {
					dev = name
				}
				if slices.ContainsFunc(p.Sysctls, func(s SysctlItem) bool { return s.Dev == dev && s.Name == "rp_filter" }) {
					continue
				}
				p.Sysctls = append(p.Sysctls, SysctlItem{
					Setting: sysctl.Setting{Key: sysctl.ConfKey(dev, "rp_filter"), Value: "0", Why: rp.why},
					Dev:     dev, Name: "rp_filter",
				})
			}
		}
	}
	return tp
}

// advMSS is the MSS that fits a path of MTU mtu after the encapsulation of
// the given outer family: the inner packet may be mtu - overhead bytes,
// less the inner IP and TCP headers (20 + 20 for IPv4, 40 + 20 for IPv6).
func (tp *TunPlan) advMSS(family, mtu int) int {
	hdr := 40
	if family == 6 {
		hdr = 60
	}
	return mtu - tp.Overhead[family] - hdr
}

// mirror is the content MSSTable should have for one family: every route
// of main copied with lvsnode's protocol and advmss, except those that
// never carry a reply from a VIP to a client: via lo, via the tunnel
// devices themselves (the kernel adds fe80::/64 on ip6tnl0 once it is up),
// and to IPv6 link-local destinations. mtuOf gives a device's MTU.
func (tp *TunPlan) mirror(family int, main []tunnel.Route, mtuOf func(dev string) int) []tunnel.Route {
	var out []tunnel.Route
	for _, r := range main {
		// A route this model cannot copy faithfully (r.Foreign: via a
		// gateway of the other family, an encapsulation) becomes a throw
		// route: a VIP-sourced packet to it leaves MSSTable (a shorter
		// prefix there, the default, would catch it otherwise) and
		// follows main's route, only without the advmss. (Routes using a
		// nexthop object, nhid, are dumped with that nexthop's gateway
		// and device and copied as such; the copy follows the object's
		// changes at the next re-list.)
		if r.Foreign != "" {
			out = append(out, tunnel.Route{Table: MSSTable, Family: r.Family, Dst: r.Dst, Protocol: OwnerProto,
				Metric: r.Metric, Type: tunnel.RouteTypeThrow})
			continue
		}
		if r.Dev == VIPDevice || slices.ContainsFunc(tp.Devices, func(d TunDevice) bool { return d.Name == r.Dev }) ||
			r.Dst.Addr().Is6() && r.Dst.Bits() >= 10 && r.Dst.Addr().IsLinkLocalUnicast() {
			continue
		}
		c := r
		c.Table, c.Protocol = MSSTable, OwnerProto
		c.AdvMSS = 0
		if r.Type == 0 || r.Type == tunnel.RouteTypeUnicast {
			mtu := r.MTU
			if mtu == 0 {
				mtu = mtuOf(r.Dev)
				for _, h := range r.NextHops {
					if m := mtuOf(h.Dev); mtu == 0 || m < mtu {
						mtu = m
					}
				}
			}
			if mtu == 0 {
				mtu = 1500
			}
			c.AdvMSS = tp.advMSS(family, mtu)
		}
		out = append(out, c)
	}
	return out
}
