//go:build linux

package ipvs

import (
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

func fwmarkOps(n int) []Op {
	ops := make([]Op, n)
	for i := range ops {
		ops[i] = CreateServiceOp(Service{ServiceKey: ServiceKey{FWMark: uint32(i + 1)}, Scheduler: "rr"})
	}
	return ops
}

// markOf is the fwmark of the service in a request.
func markOf(t *testing.T, m netlink.Message) uint32 {
	s, err := decodeService(m.Data[4:])
	if err != nil {
		t.Errorf("request does not decode: %v", err)
	}
	return s.FWMark
}

// refuse answers every request with an ack, but refuses those whose fwmark
// is in marks with errno.
func refuse(t *testing.T, errno syscall.Errno, marks ...uint32) func(*scriptKernel, netlink.Message) [][]byte {
	return func(_ *scriptKernel, m netlink.Message) [][]byte {
		mark := markOf(t, m)
		for _, x := range marks {
			if x == mark {
				return [][]byte{ack(m.Header.Sequence, errno)}
			}
		}
		return [][]byte{ack(m.Header.Sequence, 0)}
	}
}

type outcome int

const (
	acked outcome = iota
	refused
	unsent
	unknown
)

func outcomeOf(err error) outcome {
	switch {
	case err == nil:
		return acked
	case errors.Is(err, ErrNotSent):
		return unsent
	case errors.Is(err, ErrUnknownOutcome):
		return unknown
	}
	return refused
}

// wantOutcomes checks errs against a run-length list: count, outcome, ...
func wantOutcomes(t *testing.T, errs []error, runs ...any) {
	t.Helper()
	i := 0
	for r := 0; r < len(runs); r += 2 {
		n, want := runs[r].(int), runs[r+1].(outcome)
		for j := 0; j < n; j++ {
			if i >= len(errs) {
				t.Fatalf("%d outcomes, want more", len(errs))
			}
			if got := outcomeOf(errs[i]); got != want {
				t.Fatalf("change %d: outcome %d (%v), want %d", i+1, got, errs[i], want)
			}
			i++
		}
	}
	if i != len(errs) {
		t.Fatalf("%d outcomes, want %d", len(errs), i)
	}
}

// A refusal does not hide the acks after it in the same batch: each change
// gets its own outcome, and the refusal wraps the sentinel.
func TestApplyRefusalThenAck(t *testing.T) {
	n, k, _ := newTestClient(t, refuse(t, syscall.EEXIST, 2))
	errs := n.Apply(fwmarkOps(3))
	wantOutcomes(t, errs, 1, acked, 1, refused, 1, acked)
	if !errors.Is(errs[1], ErrExists) || !strings.HasPrefix(errs[1].Error(), "add service FWM 2: ") {
		t.Errorf("refusal: %v", errs[1])
	}
	reqs, sends := k.requests()
	if sends != 1 || len(reqs) != 3 {
		t.Fatalf("%d sendmsg calls, %d requests; want 1, 3", sends, len(reqs))
	}
	for _, m := range reqs {
		if m.Header.Flags != netlink.Request|netlink.Acknowledge || m.Header.Type != testFamily || cmdOf(m) != cmdNewSvc {
			t.Errorf("request header %+v cmd %d", m.Header, cmdOf(m))
		}
	}
}

// Several batches: BatchSize per sendmsg; after a batch with a refusal,
// the rest of that batch is still handled but no later batch is sent.
func TestApplySeveralBatches(t *testing.T) {
	n, k, _ := newTestClient(t, refuse(t, 0))
	wantOutcomes(t, n.Apply(fwmarkOps(2*BatchSize+88)), 2*BatchSize+88, acked)
	if _, sends := k.requests(); sends != 3 {
		t.Errorf("%d sendmsg calls for %d changes, want 3", sends, 2*BatchSize+88)
	}

	n, k, _ = newTestClient(t, refuse(t, syscall.ENOENT, 5))
	errs := n.Apply(fwmarkOps(BatchSize + 44))
	wantOutcomes(t, errs, 4, acked, 1, refused, BatchSize-5, acked, 44, unsent)
	if !errors.Is(errs[4], ErrScheduler) || !errors.Is(errs[BatchSize], ErrNotSent) {
		t.Errorf("outcomes: %v / %v", errs[4], errs[BatchSize])
	}
	if reqs, sends := k.requests(); sends != 1 || len(reqs) != BatchSize {
		t.Errorf("%d sendmsg calls, %d requests; want 1, %d", sends, len(reqs), BatchSize)
	}
}

// Answers to earlier requests (stale sequence numbers, a refusal among
// them) and duplicates are never taken for the answers of a new batch.
func TestApplyStaleSequenceNumbers(t *testing.T) {
	n, _, _ := newTestClient(t, func(_ *scriptKernel, m netlink.Message) [][]byte {
		s := m.Header.Sequence
		return [][]byte{ack(s-1000, syscall.EEXIST), ack(s+1000, syscall.EEXIST), ack(s, 0), ack(s, syscall.EEXIST)}
	})
	wantOutcomes(t, n.Apply(fwmarkOps(10)), 10, acked)
}

// Answers lost after a refusal: the refusal stands, the unanswered rest of
// the batch is of unknown outcome, later batches are not sent, and the
// socket is replaced (the old one may still receive the lost answers).
func TestApplyLostAnswers(t *testing.T) {
	n, _, dials := newTestClient(t, func(_ *scriptKernel, m netlink.Message) [][]byte {
		switch mark := markOf(t, m); {
		case mark == 3:
			return [][]byte{ack(m.Header.Sequence, syscall.EEXIST)}
		case mark > 100:
			return nil // lost
		}
		return [][]byte{ack(m.Header.Sequence, 0)}
	})
	errs := n.Apply(fwmarkOps(BatchSize + 10))
	wantOutcomes(t, errs, 2, acked, 1, refused, 97, acked, BatchSize-100, unknown, 10, unsent)
	if !strings.Contains(errs[100].Error(), "add service FWM 101: outcome unknown: the kernel got it, but reading its answer failed") {
		t.Errorf("unknown outcome: %v", errs[100])
	}
	if n.c != nil {
		t.Fatal("the socket with lost answers was kept")
	}
	// The next request opens a new socket.
	wantOutcomes(t, n.Apply(fwmarkOps(1)), 1, acked)
	if *dials != 2 {
		t.Errorf("%d sockets opened, want 2", *dials)
	}
}

// A datagram whose last message is not padded to 4 bytes parses (the old
// parser panicked: slice bounds out of range [20:17]), and malformed
// lengths are errors, never panics.
func TestParseUnpaddedFinalMessage(t *testing.T) {
	odd := []byte{5, 0, 99, 0, 0xaa} // an attribute of 1 byte, unpadded
	svc := func(mark uint32) []byte {
		ae := netlink.NewAttributeEncoder()
		encodeService(ae, Service{ServiceKey: ServiceKey{FWMark: mark}, Scheduler: "rr", Netmask: 32}, true)
		return append(mustEncode(ae), odd...)
	}
	n, _, _ := newTestClient(t, func(_ *scriptKernel, m netlink.Message) [][]byte {
		s := m.Header.Sequence
		two := append(genl(s, cmdNewSvc, svc(1), false), genl(s, cmdNewSvc, svc(2), true)...)
		if len(two)%4 == 0 {
			t.Fatal("test datagram is padded")
		}
		return [][]byte{two, done(s)}
	})
	svcs, err := n.Services()
	if err != nil || len(svcs) != 2 || svcs[0].FWMark != 1 || svcs[1].FWMark != 2 || svcs[1].Scheduler != "rr" {
		t.Fatalf("services: %+v, %v", svcs, err)
	}
	full := genl(7, cmdNewSvc, svc(1), true)
	for _, b := range [][]byte{full[:len(full)-3], full[:17], {1, 2, 3}, append(full, make([]byte, 7)...)} {
		if _, err := parseMessages(nil, b); err == nil {
			t.Errorf("%d malformed bytes parsed", len(b))
		}
	}
}

// A dump whose answers the caller cannot use is still read to its end
// (NLMSG_DONE): the socket is left empty for the next request. A dump cut
// off by the read deadline replaces the socket.
func TestDumpAbandoned(t *testing.T) {
	svc := func(mark uint32) []byte {
		ae := netlink.NewAttributeEncoder()
		encodeService(ae, Service{ServiceKey: ServiceKey{FWMark: mark}, Scheduler: "rr"}, true)
		return mustEncode(ae)
	}
	var cut atomic.Bool
	n, _, dials := newTestClient(t, func(_ *scriptKernel, m netlink.Message) [][]byte {
		s := m.Header.Sequence
		switch cmdOf(m) {
		case cmdGetDest: // answers that are not real servers, in 3 datagrams
			return [][]byte{genl(s, cmdNewDest, svc(1), false), genl(s, cmdNewDest, svc(2), false), done(s)}
		case cmdGetSvc:
			if cut.Load() {
				return [][]byte{genl(s, cmdNewSvc, svc(9), false)} // no end
			}
			return [][]byte{genl(s, cmdNewSvc, svc(7), false), done(s)}
		}
		return nil
	})
	if _, err := n.Destinations(ServiceKey{FWMark: 1}); !errors.Is(err, errDecode) {
		t.Fatalf("malformed dump: %v", err)
	}
	var left int
	n.c.raw.Read(func(fd uintptr) bool {
		_, _, e := syscall.Syscall6(syscall.SYS_RECVFROM, fd, 0, 0, syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		if e != syscall.EAGAIN {
			left++
		}
		return true
	})
	if left != 0 {
		t.Errorf("the dump was left unread on the socket")
	}
	if svcs, err := n.Services(); err != nil || len(svcs) != 1 || svcs[0].FWMark != 7 {
		t.Fatalf("next dump: %+v, %v", svcs, err)
	}
	cut.Store(true)
	if _, err := n.Services(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("dump without its end: %v", err)
	}
	cut.Store(false)
	if svcs, err := n.Services(); err != nil || len(svcs) != 1 || svcs[0].FWMark != 7 || *dials != 2 {
		t.Fatalf("after a cut dump: %+v, %v, %d sockets", svcs, err, *dials)
	}
}

// A dump the kernel flags NLM_F_DUMP_INTR (on any of its messages) is not a
// snapshot: the read fails with ErrDumpInterrupted, so the caller reads again.
func TestDumpInterrupted(t *testing.T) {
	var intr atomic.Bool
	n, _, _ := newTestClient(t, func(_ *scriptKernel, m netlink.Message) [][]byte {
		s := m.Header.Sequence
		ae := netlink.NewAttributeEncoder()
		encodeService(ae, Service{ServiceKey: ServiceKey{FWMark: 3}, Scheduler: "rr"}, true)
		svc := genl(s, cmdNewSvc, mustEncode(ae), false)
		if intr.Load() {
			binary.NativeEndian.PutUint16(svc[6:], uint16(netlink.Multi|netlink.DumpInterrupted))
		}
		return [][]byte{svc, done(s)}
	})
	if svcs, err := n.Services(); err != nil || len(svcs) != 1 {
		t.Fatalf("plain dump: %v %v", svcs, err)
	}
	intr.Store(true)
	if _, err := n.Services(); !errors.Is(err, ErrDumpInterrupted) {
		t.Fatalf("dump flagged interrupted: %v", err)
	}
}

// An NLMSG_ERROR too short to hold an error code is no acknowledgement: the
// change's outcome is unknown and nothing after it is sent (before, it
// counted as success).
func TestApplyMalformedAnswerIsUnknown(t *testing.T) {
	n, _, _ := newTestClient(t, func(_ *scriptKernel, m netlink.Message) [][]byte {
		if markOf(t, m) == 2 {
			return [][]byte{nlmsg(netlink.Error, 0, m.Header.Sequence, []byte{0, 0}, false)}
		}
		return [][]byte{ack(m.Header.Sequence, 0)}
	})
	errs := n.Apply(fwmarkOps(BatchSize + 3))
	wantOutcomes(t, errs, 1, acked, 1, unknown, BatchSize-2, acked, 3, unsent)
}

// With extended acks (a socket option: the requests are unchanged, see the
// golden tests) a refusal carries the kernel's text.
func TestApplyRefusalWithKernelMessage(t *testing.T) {
	n, _, _ := newTestClient(t, func(_ *scriptKernel, m netlink.Message) [][]byte {
		code := -int32(syscall.EINVAL)
		d := binary.NativeEndian.AppendUint32(nil, uint32(code))
		d = append(d, make([]byte, 16)...) // the echoed request's header (capped)
		ae := netlink.NewAttributeEncoder()
		ae.String(1, "Attribute failed policy validation") // NLMSGERR_ATTR_MSG
		d = append(d, mustEncode(ae)...)
		return [][]byte{nlmsg(netlink.Error, 0x300, m.Header.Sequence, d, false)}
	})
	err := n.Apply(fwmarkOps(1))[0]
	if !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), "(kernel: Attribute failed policy validation)") {
		t.Fatalf("refusal: %v", err)
	}
}

// The real socket asks for extended acks.
func TestConnAsksForExtendedAcks(t *testing.T) {
	nl, err := netlink.Dial(unix.NETLINK_GENERIC, nil)
	if err != nil {
		t.Skip("this kernel offers no generic netlink socket:", err)
	}
	c, err := newConn(nl, testFamily)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	var v int
	_ = c.raw.Control(func(fd uintptr) { v, err = unix.GetsockoptInt(int(fd), unix.SOL_NETLINK, unix.NETLINK_EXT_ACK) })
	if err != nil || v != 1 {
		t.Errorf("NETLINK_EXT_ACK = %d, %v", v, err)
	}
}
