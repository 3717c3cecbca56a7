package ipvs

import (
	"net/netip"
	"testing"
)

// What the raw path sends must read back as the same value: the kernel
// answers dumps with the attributes it was given.
func TestCodecRoundTrip(t *testing.T) {
	svcs := []Service{
		{ServiceKey: ServiceKey{Protocol: TCP, Addr: netip.MustParseAddr("10.0.0.100"), Port: 80}, Scheduler: "wrr", Flags: FlagPersistent, Timeout: 300, Netmask: 24},
		{ServiceKey: ServiceKey{Protocol: SCTP, Addr: netip.MustParseAddr("fd00::100"), Port: 3868}, Scheduler: "mh", Flags: FlagSched1 | FlagSched2, Netmask: 128},
		{ServiceKey: ServiceKey{FWMark: 7, IPv6: true}, Scheduler: "rr", Flags: FlagPersistent | FlagOnePacket, Timeout: 60, Netmask: 64},
		{ServiceKey: ServiceKey{FWMark: 8}, Scheduler: "sh", Netmask: 32},
		{ServiceKey: ServiceKey{FWMark: 9}, Scheduler: "rr", Flags: FlagPersistent, Timeout: 60, Netmask: 0}, // -M 0.0.0.0
	}
	for _, s := range svcs {
		got, err := decodeService(serviceAttrs(s, true))
		if err != nil || got != s {
			t.Errorf("service %v: got %+v, %v", s, got, err)
		}
	}
	dests := []Destination{
		{DestKey: DestKey{Addr: netip.MustParseAddr("10.0.0.11"), Port: 80}, Forward: Route, Weight: 3, UpperThreshold: 100, LowerThreshold: 10},
		{DestKey: DestKey{Addr: netip.MustParseAddr("fd00::11"), Port: 8080}, Forward: Masq, Weight: 0},
		{DestKey: DestKey{Addr: netip.MustParseAddr("10.0.0.12"), Port: 80}, Forward: Tunnel, Weight: 1, TunnelType: GUE, TunnelPort: 6080, TunnelFlags: RemCsum},
	}
	for _, d := range dests {
		got, err := decodeDest(destAttrs(d, true), false)
		if err != nil || got != d {
			t.Errorf("dest %v: got %+v, %v", d, got, err)
		}
	}
}

func TestParseMsgs(t *testing.T) {
	r := &rawConn{family: 0x20}
	b, seq := r.appendMsg(nil, cmdNewSvc, 1, serviceAttrs(Service{ServiceKey: ServiceKey{FWMark: 1}, Scheduler: "rr"}, true))
	b, _ = r.appendMsg(b, cmdNewSvc, 1, nil)
	msgs, err := parseMsgs(b)
	if err != nil || len(msgs) != 2 || msgs[0].seq != seq || msgs[0].typ != 0x20 {
		t.Fatalf("parse: %+v %v", msgs, err)
	}
	s, err := decodeService(msgs[0].data)
	if err != nil || s.FWMark != 1 || s.Scheduler != "rr" {
		t.Errorf("decoded %+v %v", s, err)
	}
}

// The single-change path (cloudflare/ipvs) sends the netmask as given:
// 0 is /0 (-M 0.0.0.0), not the full length.
func TestCFServiceNetmask(t *testing.T) {
	for _, c := range []struct {
		s    Service
		want int
	}{
		{Service{ServiceKey: ServiceKey{FWMark: 1}, Netmask: 0}, 0},
		{Service{ServiceKey: ServiceKey{FWMark: 1}, Netmask: 24}, 24},
		{Service{ServiceKey: ServiceKey{FWMark: 1}, Netmask: 32}, 32},
		{Service{ServiceKey: ServiceKey{FWMark: 1, IPv6: true}, Netmask: 64}, 64},
		{Service{ServiceKey: ServiceKey{FWMark: 1}, Netmask: 99}, 32},
	} {
		m := toCFService(c.s).Netmask
		if got := m.Bits(); got != c.want || m.Is6() != c.s.Is6() {
			t.Errorf("netmask %d (IPv6 %v): sent /%d (IPv6 %v), want /%d", c.s.Netmask, c.s.Is6(), got, m.Is6(), c.want)
		}
	}
}
