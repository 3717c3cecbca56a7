package director

import (
	"fmt"

	"github.com/lvsnode/lvsnode/ipvs"
)

// The data-path check. A probe to a real server's own address does not
// prove that it serves the VIP (no VIP bound, no tunnel unwrapping:
// seesaw#25). So the daemon creates, per real server path (address, port,
// method and tunnel settings, family), a fwmark IPVS service holding only
// that real server, and the check dials the VIP with SO_MARK set to that
// mark. No iptables rule is needed on the director: IPVS hooks
// NF_INET_LOCAL_OUT (ip_vs_local_request4/6), a locally generated packet
// carries its socket's mark in skb->mark from the start, and IPVS looks a
// fwmark service up by skb->mark before the address service, so the probe
// is scheduled to that one real server and leaves along its DR or TUN path
// (lab/scenarios/pair-basic.sh proves it against the kernel).
//
// These fwmark services are the daemon's own: their marks come from
// datapath.marks, which no configured service may use, and one is removed
// as soon as no real server needs it.

// pathID names the forwarding path of a real server: what its data-path
// fwmark service must reproduce.
func pathID(d ipvs.Destination, v6 bool) string {
	fam := "ipv4"
	if v6 {
		fam = "ipv6"
	}
	s := fmt.Sprintf("%s %s %s", fam, d.DestKey, methodName(d.Forward))
	if d.Forward == ipvs.Tunnel {
		s += fmt.Sprintf(" %s port=%d flags=%d", d.TunnelType, d.TunnelPort, d.TunnelFlags)
	}
	return s
}

// markAlloc hands out data-path marks from [lo, hi], keeping those already
// given (saved in the state file) so a restart reuses them.
type markAlloc struct {
	lo, hi uint32
	byPath map[string]uint32
	used   map[uint32]string
	live   map[string]bool // paths asked for by the current compile
}

func newMarkAlloc(lo, hi uint32, saved map[string]uint32) *markAlloc {
	a := &markAlloc{lo: lo, hi: hi, byPath: map[string]uint32{}, used: map[uint32]string{}, live: map[string]bool{}}
	for p, m := range saved {
		if a.inRange(m) {
			a.byPath[p], a.used[m] = m, p
		}
	}
	return a
}

func (a *markAlloc) inRange(m uint32) bool { return a != nil && m >= a.lo && m <= a.hi && a.hi != 0 }

func (a *markAlloc) get(path string) (uint32, error) {
	a.live[path] = true
	if m, ok := a.byPath[path]; ok {
		return m, nil
	}
	for m := a.lo; m <= a.hi && m != 0; m++ {
		if _, taken := a.used[m]; !taken {
			a.byPath[path], a.used[m] = m, path
			return m, nil
		}
		if m == a.hi {
			break
		}
	}
	return 0, fmt.Errorf("datapath.marks %#x-%#x: every mark is in use", a.lo, a.hi)
}

// saved returns the marks of the live paths only (what the state file keeps).
func (a *markAlloc) saved() map[string]uint32 {
	if a == nil {
		return nil
	}
	out := map[string]uint32{}
	for p := range a.live {
		out[p] = a.byPath[p]
	}
	return out
}

// dataPathServices returns the fwmark services the model's data-path
// checks need: each with its one real server, always at weight 1 (the probe
// must get through whatever the real server's health).
func dataPathServices(m *model) []svcEntry {
	seen := map[string]bool{}
	var out []svcEntry
	for _, s := range m.services {
		for _, n := range s.nodes {
			if n.path == "" || seen[n.path] {
				continue
			}
			seen[n.path] = true
			k := ipvs.ServiceKey{FWMark: n.check.Mark, IPv6: n.check.Target.Is6()}
			d := n.dest
			d.Weight, d.UpperThreshold, d.LowerThreshold = 1, 0, 0
			out = append(out, svcEntry{
				service: ipvs.Service{ServiceKey: k, Scheduler: "rr", Netmask: ipvs.FullMask(k.IPv6)},
				dests:   []ipvs.Destination{d},
			})
		}
	}
	return out
}

type svcEntry struct {
	service ipvs.Service
	dests   []ipvs.Destination
}
