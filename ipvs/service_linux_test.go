//go:build linux

package ipvs

import (
	"errors"
	"net/netip"
	"syscall"
	"testing"

	"github.com/mdlayher/netlink"
)

// Service sends one GET_SERVICE request (not a dump) naming the key, and
// reads the one answer before the ack; the kernel's ESRCH (no such
// service) is ErrNotFound. The real kernel's answers are shown in the lab
// (lab/scenarios/pair-change.sh: the daemon reads a managed service, a
// foreign one and a missing one with it, through add-node).
func TestServiceOne(t *testing.T) {
	want := Service{ServiceKey: ServiceKey{Protocol: TCP, Addr: netip.MustParseAddr("10.0.0.100"), Port: 80},
		Scheduler: "wrr", Netmask: 32}
	n, k, _ := newTestClient(t, func(_ *scriptKernel, m netlink.Message) [][]byte {
		s := m.Header.Sequence
		got, err := decodeService(m.Data[4:])
		if err != nil || got.ServiceKey != want.ServiceKey {
			return [][]byte{ack(s, syscall.ESRCH)}
		}
		ae := netlink.NewAttributeEncoder()
		encodeService(ae, want, true)
		return [][]byte{append(nlmsg(testFamily, 0, s, append([]byte{cmdNewSvc, genlVersion, 0, 0}, mustEncode(ae)...), false), ack(s, 0)...)}
	})
	got, err := n.Service(want.ServiceKey)
	if err != nil || got.ServiceKey != want.ServiceKey || got.Scheduler != "wrr" {
		t.Fatalf("Service: %+v, %v", got, err)
	}
	reqs, _ := k.requests()
	if len(reqs) != 1 || cmdOf(reqs[0]) != cmdGetSvc || reqs[0].Header.Flags&netlink.Dump != 0 {
		t.Fatalf("requests: %+v, want one GET_SERVICE without NLM_F_DUMP", reqs)
	}
	other := want.ServiceKey
	other.Port = 81
	if _, err := n.Service(other); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing service: %v, want ErrNotFound", err)
	}
	// The fake answers as the kernel does.
	f := NewFake()
	if _, err := f.Service(want.ServiceKey); !errors.Is(err, ErrNotFound) {
		t.Fatalf("fake, missing service: %v", err)
	}
	if err := Do(f, CreateServiceOp(want)); err != nil {
		t.Fatal(err)
	}
	if s, err := f.Service(want.ServiceKey); err != nil || s.Scheduler != "wrr" {
		t.Fatalf("fake: %+v, %v", s, err)
	}
}
