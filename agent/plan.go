package agent

import (
	"net/netip"
	"slices"

	"github.com/lvsnode/lvsnode/loopback"
	"github.com/lvsnode/lvsnode/sysctl"
)

// VIPDevice is where DR VIPs live: the kernel accepts packets for them, and
// never answers ARP for them given the sysctls below.
const VIPDevice = "lo"

// Ownership marks. The state file is the record of what the agent added;
// these make the same facts visible to `ip addr` and `ip route`.
const (
	// OwnerLabel is the label of the agent's IPv4 addresses on lo (the
	// kernel has no labels for IPv6 addresses).
	OwnerLabel = VIPDevice + ":lvsnode"
	// OwnerProto is the rtm_protocol of the agent's routes and the
	// address protocol (IFA_PROTO) of its addresses: 76 ('L'), which
	// iproute2's rt_protos table leaves unassigned and the kernel's
	// IFAPROT_* values (0-3) do not use.
	OwnerProto = 76
)

// arpTable is the ARP behaviour of a DR real server. Each row is set on
// "all", on lo and on every configured interface, in this order, before any
// VIP is added: the kernel uses the larger of conf/all and conf/<dev>, and a
// VIP added first could be announced in between (ARP flux).
var arpTable = []struct {
	name, value string
	also        []string // values at least as strict: a site's are kept
	why         string
}{
	// Reply to ARP only for addresses configured on the interface the
	// request came in on: the VIP sits on lo, so the real server never
	// answers for it and the director alone owns the VIP's MAC. 2 (also
	// checks the sender's subnet) and 8 (never reply) are stricter and
	// kept; 3 is not (it replies for any global-scope address, the VIP too).
	{"arp_ignore", "1", []string{"2", "8"}, "reply to ARP only for addresses on the receiving interface: the VIP on lo is never answered for"},
	// Always use the best local address of the outgoing interface as the
	// ARP source, never the VIP, so neighbours never learn VIP -> this MAC.
	// 2 is the strictest value there is.
	{"arp_announce", "2", nil, "use the outgoing interface's own address as ARP source: the VIP never leaks into neighbours' caches"},
}

// SysctlItem is one parameter the plan wants, on one device.
type SysctlItem struct {
	sysctl.Setting
	Dev  string // "all", "lo", "eth0"...
	Name string // "arp_ignore"
	// Also lists other values that serve the row's purpose at least as
	// well (a site's stricter arp_ignore, a looser rp_filter where
	// unwrapped packets must pass). A value found in Also is kept as it
	// is: never lowered to Value, never recorded as a change.
	Also []string
}

// Serves tells whether v, found on the host, does what the row is for.
func (s SysctlItem) Serves(v string) bool { return v == s.Value || slices.Contains(s.Also, v) }

// Plan is the desired state of a real server, computed from Options before
// anything is touched. Applying and verifying it are separate steps.
type Plan struct {
	Mode    Mode
	Sysctls []SysctlItem // in the order they must be written
	Link    string       // must be up: lo, where the VIPs live
	Addrs   []loopback.Addr
	Routes  []loopback.Route
	Tun     *TunPlan // mode tun: devices, FOU ports, MSS rules (agent/tun.go)
	NAT     *NATPlan // mode nat: the default routes (agent/nat.go)
}

// NewPlan computes the plan for o.
func NewPlan(o Options) Plan {
	p := Plan{Mode: o.Mode, Link: VIPDevice}
	if o.Mode == ModeNAT { // no VIP, no ARP: only the way back through the director
		p.NAT = newNATPlan(o)
		return p
	}
	devs := append([]string{"all", VIPDevice}, o.Interfaces...)
	if o.hasIPv4() { // ARP is IPv4 only; an IPv6 VIP on lo is never announced
		for _, row := range arpTable {
			for _, dev := range devs {
				p.Sysctls = append(p.Sysctls, SysctlItem{
					Setting: sysctl.Setting{Key: sysctl.ConfKey(dev, row.name), Value: row.value, Why: row.why},
					Dev:     dev, Name: row.name, Also: row.also,
				})
			}
		}
	}
	for _, v := range o.VIPs {
		pfx := netip.PrefixFrom(v, v.BitLen())
		p.Addrs = append(p.Addrs, ownedAddr(pfx))
		// The seeds' `route add -host $VIP dev lo`: a host route in the
		// main table, so the VIP resolves to lo even under policy routing
		// that bypasses the local table's entry. IPv4 only: for a /128
		// the kernel itself adds `VIP dev lo proto kernel metric 256` to
		// the main table (the address's prefix route), which does the same
		// job and lives exactly as long as the address; a second route of
		// ours beside it would add nothing, and no check of "a route to the
		// VIP" could ever fail while the kernel's is there.
		if v.Is4() {
			p.Routes = append(p.Routes, loopback.Route{Dev: VIPDevice, Dst: pfx, Protocol: OwnerProto, Table: loopback.TableMain, Type: loopback.TypeUnicast})
		}
	}
	if o.Mode == ModeTUN {
		p.Tun = newTunPlan(&p, o)
	}
	return p
}

// ownedAddr is the VIP address as the agent adds it: on lo, labelled for
// IPv4 (the kernel keeps no labels for IPv6), with the address protocol
// 76 for both (kept by Linux 5.18+, ignored before).
func ownedAddr(pf netip.Prefix) loopback.Addr {
	a := loopback.Addr{Dev: VIPDevice, Prefix: pf, Protocol: OwnerProto}
	if pf.Addr().Is4() {
		a.Label = OwnerLabel
	}
	return a
}

// marked tells whether an address found on lo carries the agent's mark,
// enough to re-adopt it without the state file: the label for IPv4, the
// address protocol (IFA_PROTO) for IPv6, which has no labels. On a kernel
// older than 5.18 IPv6 addresses carry no protocol, and only the state
// file tells which are the agent's.
func marked(a loopback.Addr) bool {
	if a.Prefix.Addr().Is4() {
		return a.Label == OwnerLabel
	}
	return a.Protocol == OwnerProto
}

// removable tells whether an address found on lo may be removed as the
// agent's: it carries the mark, or it is an IPv6 address with no protocol
// at all (an older kernel, or an older lvsnode) that the state records.
// One replaced by someone else's (same prefix, other label or protocol) is
// theirs now and is left alone.
func removable(a loopback.Addr, recorded bool) bool {
	return marked(a) || (recorded && a.Prefix.Addr().Is6() && a.Protocol == 0)
}

func (o Options) hasIPv4() bool {
	for _, v := range o.VIPs {
		if v.Is4() {
			return true
		}
	}
	return false
}

// Settings returns the plan's sysctls in the form a sysctl.d file takes.
func (p Plan) Settings() []sysctl.Setting {
	out := make([]sysctl.Setting, len(p.Sysctls))
	for i, s := range p.Sysctls {
		out[i] = s.Setting
	}
	return out
}

// settingsKeeping is Settings for the drop-in, with the stricter values
// found on the host (ob) in place of the plan's: a drop-in that wrote the
// plan's value would lower them at the next boot.
func (p Plan) settingsKeeping(ob observed) []sysctl.Setting {
	out := p.Settings()
	for i, s := range p.Sysctls {
		if cur, ok := ob.sysctls[s.Key.String()]; ok && s.Serves(cur) {
			out[i].Value = cur
		}
	}
	return out
}
