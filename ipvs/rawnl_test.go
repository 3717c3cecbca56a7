package ipvs

import (
	"encoding/binary"
	"errors"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// fakeKernel returns a rawConn on one end of a socket pair and the other
// end, where a test queues the kernel's answers. Reads on the rawConn time
// out (EAGAIN) once the queued answers are used up: an answer lost.
func fakeKernel(t *testing.T) (*rawConn, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET, 0)
	if err != nil {
		t.Fatal("socketpair:", err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	tv := unix.NsecToTimeval(50e6)
	if err := unix.SetsockoptTimeval(fds[0], unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		t.Fatal(err)
	}
	if err := unix.SetsockoptInt(fds[0], unix.SOL_SOCKET, unix.SO_SNDBUF, 1<<20); err != nil {
		t.Fatal(err)
	}
	return &rawConn{fd: fds[0], family: 0x20, buf: make([]byte, 64<<10)}, fds[1]
}

// answer queues the kernel's NLMSG_ERROR answer (errno 0: an ack) to seq.
func answer(t *testing.T, fd int, seq uint32, errno syscall.Errno) {
	t.Helper()
	b := binary.NativeEndian.AppendUint32(nil, nlmsgHdrLen+4+nlmsgHdrLen)
	b = binary.NativeEndian.AppendUint16(b, unix.NLMSG_ERROR)
	b = binary.NativeEndian.AppendUint16(b, 0)
	b = binary.NativeEndian.AppendUint32(b, seq)
	b = binary.NativeEndian.AppendUint32(b, 0)
	b = binary.NativeEndian.AppendUint32(b, uint32(-int32(errno)))
	b = append(b, make([]byte, nlmsgHdrLen)...) // the echoed header (NETLINK_CAP_ACK)
	if _, err := unix.Write(fd, b); err != nil {
		t.Fatal(err)
	}
}

func fwmarkOps(n int) []Op {
	ops := make([]Op, n)
	for i := range ops {
		ops[i] = Op{Kind: OpCreateService, Service: Service{ServiceKey: ServiceKey{FWMark: uint32(i + 1)}, Scheduler: "rr"}}
	}
	return ops
}

func TestBatchAnswersLost(t *testing.T) {
	build := func(int) (uint8, []byte) { return cmdNewSvc, nil }

	// A refusal seen, then the rest of the answers lost: the refusal is
	// the result, and the rest of its batch was still processed.
	r, k := fakeKernel(t)
	answer(t, k, 2, syscall.EEXIST)
	failed, after, err := r.batch(3, build)
	if failed != 1 || after != 1 || !errors.Is(err, syscall.EEXIST) || errors.Is(err, ErrUnknownOutcome) {
		t.Errorf("refusal then lost answers: failed %d after %d err %v (want 1, 1, EEXIST)", failed, after, err)
	}

	// No refusal seen: the second batch (256..299) is of unknown outcome,
	// the first is known to be applied.
	r, k = fakeKernel(t)
	answer(t, k, batchSize, 0)
	failed, after, err = r.batch(300, build)
	if failed != batchSize || after != 300-batchSize-1 || !errors.Is(err, ErrUnknownOutcome) || !errors.Is(err, syscall.EAGAIN) {
		t.Errorf("lost answers: failed %d after %d err %v (want %d, %d, unknown outcome)", failed, after, err, batchSize, 300-batchSize-1)
	}

	// Apply names the changes of unknown outcome, on one line.
	r, k = fakeKernel(t)
	answer(t, k, batchSize, 0)
	n, err := (&netlinkClient{bulk: r}).Apply(fwmarkOps(300))
	want := "changes 257 to 300 of 300 (add service FWM 257 ... add service FWM 300): outcome unknown: the kernel got them, but reading its answers failed"
	if n != batchSize || !errors.Is(err, ErrUnknownOutcome) || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Errorf("Apply with lost answers: %d, %v\nwant %d, %q...", n, err, batchSize, want)
	}
}
