//go:build linux

package ipvs

import (
	"net/netip"
	"testing"

	"github.com/mdlayher/netlink"
)

// BenchmarkDestinations is one real-server dump of 10 (the no-op restore
// and list make one per service) against the scripted kernel: the
// client's own cost per dump, without the kernel's.
func BenchmarkDestinations(b *testing.B) {
	var answer []byte
	for r := 1; r <= 10; r++ {
		ae := netlink.NewAttributeEncoder()
		encodeDest(ae, Destination{DestKey: DestKey{Addr: netip.AddrFrom4([4]byte{10, 2, 0, byte(r)}), Port: 80}, Forward: Route, Weight: uint32(r)})
		answer = append(answer, genl(0, cmdNewDest, mustEncode(ae), false)...)
	}
	t := &testing.T{}
	n, _, _ := newTestClient(t, func(_ *scriptKernel, m netlink.Message) [][]byte {
		a := restamp(answer, m, testFamily)
		return [][]byte{a, done(m.Header.Sequence)}
	})
	k := ServiceKey{Protocol: TCP, Addr: netip.MustParseAddr("10.1.0.1"), Port: 80}
	b.ReportAllocs()
	for b.Loop() {
		if ds, err := n.Destinations(k); err != nil || len(ds) != 10 {
			b.Fatal(len(ds), err)
		}
	}
}

// BenchmarkDecodeDest decodes one GET_DEST answer as the kernel sends it
// (captured in the lab).
func BenchmarkDecodeDest(b *testing.B) {
	c := loadCapture(&testing.T{}, "list")
	var data []byte
	for i, r := range c.reqs {
		if r.Data[0] == cmdGetDest && len(c.answers[i]) > 1 {
			msgs, _ := parseMessages(nil, c.answers[i][0])
			data = msgs[0].Data[4:]
			break
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeDest(data, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadTable reads a table of 1,000 services x 10 real servers
// (11,000 rules, the lab benchmark's small table) through the real client
// against the scripted kernel, as list and the no-op restore do: one
// service dump, then one real-server dump per service, each answered as
// the kernel answers (the real servers in one datagram, NLMSG_DONE in
// the next). The scripted kernel's own work is in the figure too.
func BenchmarkReadTable(b *testing.B) {
	const services = 1000
	var svcAnswers [][]byte
	var dgram []byte
	for i := 0; i < services; i++ {
		ae := netlink.NewAttributeEncoder()
		encodeService(ae, Service{ServiceKey: ServiceKey{Protocol: TCP, Addr: netip.AddrFrom4([4]byte{10, 1, byte(i / 250), byte(i%250 + 1)}), Port: 80},
			Scheduler: "wrr", Netmask: 32}, true)
		dgram = append(dgram, genl(0, cmdNewSvc, mustEncode(ae), false)...)
		if len(dgram) > 3500 { // the kernel fills about a page per datagram
			svcAnswers = append(svcAnswers, dgram)
			dgram = nil
		}
	}
	svcAnswers = append(svcAnswers, dgram)
	var destAnswer []byte
	for r := 1; r <= 10; r++ {
		ae := netlink.NewAttributeEncoder()
		encodeDest(ae, Destination{DestKey: DestKey{Addr: netip.AddrFrom4([4]byte{10, 2, 0, byte(r)}), Port: 80}, Forward: Route, Weight: uint32(r)})
		destAnswer = append(destAnswer, genl(0, cmdNewDest, mustEncode(ae), false)...)
	}
	t := &testing.T{}
	n, _, _ := newTestClient(t, func(_ *scriptKernel, m netlink.Message) [][]byte {
		if cmdOf(m) == cmdGetSvc {
			var out [][]byte
			for _, a := range svcAnswers {
				out = append(out, restamp(a, m, testFamily))
			}
			return append(out, done(m.Header.Sequence))
		}
		return [][]byte{restamp(destAnswer, m, testFamily), done(m.Header.Sequence)}
	})
	b.ReportAllocs()
	for b.Loop() {
		svcs, err := n.Services()
		if err != nil || len(svcs) != services {
			b.Fatal(len(svcs), err)
		}
		for _, s := range svcs {
			if ds, err := n.Destinations(s.ServiceKey); err != nil || len(ds) != 10 {
				b.Fatal(len(ds), err)
			}
		}
	}
}
