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
