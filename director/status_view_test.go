package director

import (
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/lvsnode/lvsnode/ipvs"
)

// Status carries what the status page and `controller top` draw: each
// service's ipvsadm flags and sorry server, and the kernel's counters and
// rate estimates per service and per real server (from the table read).
func TestStatusCarriesFlagsSorryServerAndRates(t *testing.T) {
	r := newRig(t, strings.Replace(twoNodes, "scheduler: rr", "scheduler: rr\n    persistent: 300\n    quorum: 1\n    sorry: {address: 10.0.0.50, method: nat}", 1))
	r.tick(2)
	mk := ipvs.ServiceKey{Protocol: ipvs.TCP, Addr: netip.MustParseAddr("10.0.0.100"), Port: 80}
	rs := ipvs.DestKey{Addr: netip.MustParseAddr("10.0.0.11"), Port: 80}
	r.fake.SetCounters(mk, rs, 5, 2, ipvs.Stats{Conns: 100, InBytes: 9000, CPS: 7, InBPS: 1234, OutBPS: 55})
	r.fake.SetServiceStats(mk, ipvs.Stats{Conns: 150, CPS: 9, InBPS: 2000})
	r.clock.Advance(statusMaxAge) // past the reuse of the last read

	s := r.d.Status().Services[0]
	if s.Flags != "persistent 300" || s.SorryServer != "10.0.0.50:80" {
		t.Errorf("flags %q sorry server %q, want \"persistent 300\" and 10.0.0.50:80", s.Flags, s.SorryServer)
	}
	if s.Stats.CPS != 9 || s.Stats.InBPS != 2000 || s.Stats.Conns != 150 {
		t.Errorf("service stats %+v, want the kernel's (cps 9, in_bps 2000, conns 150)", s.Stats)
	}
	n := s.Nodes[0]
	if n.Address != "10.0.0.11" || n.Stats.CPS != 7 || n.Stats.InBPS != 1234 || n.Stats.OutBPS != 55 || n.Stats.Conns != 100 {
		t.Errorf("%s stats %+v, want the kernel's (cps 7, in_bps 1234, out_bps 55, conns 100)", n.Address, n.Stats)
	}
	b, _ := json.Marshal(n)
	for _, key := range []string{`"stats":{`, `"cps":7`, `"in_bps":1234`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("node JSON lacks %s: %s", key, b)
		}
	}
}
