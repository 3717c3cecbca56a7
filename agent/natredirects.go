package agent

import (
	"slices"

	"github.com/lvsnode/lvsnode/sysctl"
)

// In NAT mode every reply must go back through the director, which
// rewrites its source (RIP -> VIP). A director that forwards a reply out
// the interface it came in by (one-armed: clients and real servers on one
// link) sends an ICMP redirect, "the client is on-link"; a real server
// that accepts it answers the client directly, around IPVS: the handshake
// passes, the data never arrives (measured in the lab's nat scenario, with
// the stall as its control). IPv6 has no send_redirects switch on the
// director, so the real server must refuse them. natRedirects adds those
// rows to a NAT plan, on the NIC that reaches each gateway, found now:
// the plan is computed before the host is read, and a gateway's NIC is a
// fact of the host (a route lookup), so it is resolved here, like
// keepNICsRP's rows. A gateway that cannot be resolved adds nothing (the
// route rows report it). Teardown puts the previous values back.

// natRedirectRows are the rows for one gateway NIC of a family. IPv4
// accepts redirects when conf/all or conf/<dev> says so (a host that does
// not forward): both are set. IPv6 reads only the device's own value.
func natRedirectRows(fam int, dev string) []SysctlItem {
	const why = "NAT: refuse ICMP redirects from the director, so replies keep going through it (a redirected reply bypasses IPVS and never reaches the client)"
	if fam == 4 {
		var rows []SysctlItem
		for _, d := range []string{"all", dev} {
			rows = append(rows, SysctlItem{Setting: sysctl.Setting{Key: sysctl.ConfKey(d, "accept_redirects"), Value: "0", Why: why},
				Dev: d, Name: "accept_redirects"})
		}
		return rows
	}
	return []SysctlItem{{Setting: sysctl.Setting{Key: sysctl.Key{"net", "ipv6", "conf", dev, "accept_redirects"}, Value: "0", Why: why},
		Dev: dev, Name: "accept_redirects"}}
}

// natRedirects returns p with natRedirectRows for each gateway's NIC; p
// unchanged when it is not a NAT plan. Its rows are never shared.
func (a *Agent) natRedirects(p Plan) Plan {
	if p.NAT == nil {
		return p
	}
	out := slices.Clone(p.Sysctls)
	for _, g := range p.NAT.Gateways {
		r, err := a.Tun.RouteGet(g.Addr, g.Dev)
		if err != nil || r.Gw.IsValid() || r.Dev == "" || r.Dev == VIPDevice {
			continue // not a usable gateway: gatewayDev says why
		}
		for _, row := range natRedirectRows(Family(g.Addr), r.Dev) {
			if !slices.ContainsFunc(out, func(s SysctlItem) bool { return s.Key.String() == row.Key.String() }) {
				out = append(out, row)
			}
		}
	}
	p.Sysctls = out
	return p
}
