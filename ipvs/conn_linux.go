//go:build linux

package ipvs

import (
	"encoding/binary"
	"fmt"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// conn is a client's one generic-netlink socket, opened and set up by
// netlink.Conn: requests go out through its SyscallConn (a whole batch per
// sendmsg, from one reused buffer), answers come in through it into one
// reused buffer, under a read deadline, and are matched to requests by
// sequence number, so a stale answer (to a request given up on earlier) is
// skipped, never taken for a new one. Both directions use raw system
// calls: see send.
type conn struct {
	nl      *netlink.Conn
	raw     syscall.RawConn
	family  uint16
	timeout time.Duration // bound on each read
	seq     uint32        // sequence number of the last request sent
	pid     uint32        // the socket's port ID, in requests as libnl puts it
	wbuf    []byte        // requests being sent, reused
	bufs    [recvBatch][]byte
	iovs    [recvBatch]unix.Iovec
	hdrs    [recvBatch]mmsghdr
	msgs    []netlink.Message

	// The functions given to raw (made once: a closure made per call
	// would be allocated per call), and their results.
	sendNow, recvNow   func(fd uintptr)
	sendWait, recvWait func(fd uintptr) bool
	n                  int
	err                error
}

const (
	// readTimeout bounds each read: the kernel answers IPVS requests
	// while handling them, so silence this long means the answer is lost.
	readTimeout = 10 * time.Second
	// recvBuf holds the answers of a whole batch (an acknowledgement
	// costs about 1 KiB of receive buffer): with less, the kernel drops
	// answers (ENOBUFS) and their changes' outcomes are unknown.
	recvBuf = 4 << 20
)

// dial opens a generic-netlink socket and resolves the IPVS family on it.
func dial() (*conn, error) {
	nl, err := netlink.Dial(unix.NETLINK_GENERIC, nil)
	if err != nil {
		return nil, err
	}
	f, err := genetlink.NewConn(nl).GetFamily(genlName)
	if err != nil {
		nl.Close()
		return nil, err
	}
	c, err := newConn(nl, f.ID)
	if err != nil {
		nl.Close()
		return nil, err
	}
	return c, nil
}

func newConn(nl *netlink.Conn, family uint16) (*conn, error) {
	raw, err := nl.SyscallConn()
	if err != nil {
		return nil, err
	}
	// Error answers without the echoed request, as libnl asks for, and
	// with the kernel's explanation when it has one (extended ack: a
	// socket option, so the requests stay byte for byte ipvsadm's).
	_ = nl.SetOption(netlink.CapAcknowledge, true)
	_ = nl.SetOption(netlink.ExtendedAcknowledge, true)
	_ = raw.Control(func(fd uintptr) {
		// FORCE works for root (who alone can change IPVS); the plain
		// size, capped by rmem_max, is the fallback.
		if unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, recvBuf) != nil {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, recvBuf)
		}
	})
	c := &conn{nl: nl, raw: raw, family: family, timeout: readTimeout}
	for i := range c.bufs {
		c.bufs[i] = make([]byte, 64<<10)
		c.iovs[i].Base = &c.bufs[i][0]
		c.iovs[i].SetLen(len(c.bufs[i]))
		c.hdrs[i].hdr.Iov = &c.iovs[i]
		c.hdrs[i].hdr.SetIovlen(1)
	}
	c.sendNow = func(fd uintptr) { c.err = sendto(fd, c.wbuf) }
	c.sendWait = func(fd uintptr) bool {
		c.err = sendto(fd, c.wbuf)
		return c.err != unix.EAGAIN // EAGAIN: wait until writable
	}
	c.recvNow = func(fd uintptr) { c.n, c.err = recvmmsg(fd, c.hdrs[:]) }
	c.recvWait = func(fd uintptr) bool {
		c.n, c.err = recvmmsg(fd, c.hdrs[:])
		return c.err != unix.EAGAIN // EAGAIN: wait until readable (or the deadline)
	}
	c.seq = uint32(time.Now().UnixNano()) // as libnl: unlikely to match a stale answer
	_ = raw.Control(func(fd uintptr) {
		if sa, err := unix.Getsockname(int(fd)); err == nil {
			if nl, ok := sa.(*unix.SockaddrNetlink); ok {
				c.pid = nl.Pid
			}
		}
	})
	return c, nil
}

func (c *conn) close() error { return c.nl.Close() }

// request builds one IPVS request (the sequence number is set on sending).
func (c *conn) request(cmd uint8, flags netlink.HeaderFlags, attrs []byte) netlink.Message {
	data := make([]byte, 4, 4+len(attrs))
	data[0], data[1] = cmd, genlVersion
	return netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(c.family), Flags: flags},
		Data:   append(data, attrs...),
	}
}

// send sends msgs in one sendmsg and returns them with their sequence
// numbers. Nothing was sent when it fails: a netlink sendmsg is handled
// whole or not at all.
//
// The client writes its requests itself rather than through
// netlink.Conn.SendMessages (which allocates and marshals per message,
// and enters the system call through Go's scheduler): a netlink request
// to the kernel never blocks, and is handled (a dump's first part filled)
// while the caller is in sendmsg, which under emulation takes long enough
// that the scheduler's monitor takes the processor away from the thread in
// a scheduled system call and has to give it back after; a raw system call
// keeps it. Only when the socket cannot take the request now (EAGAIN, a
// full socket pair in tests) does it wait in Go's poller.
func (c *conn) send(msgs []netlink.Message) ([]netlink.Message, error) {
	b := c.wbuf[:0]
	for i := range msgs {
		c.seq++
		h := &msgs[i].Header
		h.Length, h.Sequence, h.PID = uint32(16+len(msgs[i].Data)), c.seq, c.pid
		b = binary.NativeEndian.AppendUint32(b, h.Length)
		b = binary.NativeEndian.AppendUint16(b, uint16(h.Type))
		b = binary.NativeEndian.AppendUint16(b, uint16(h.Flags))
		b = binary.NativeEndian.AppendUint32(b, h.Sequence)
		b = binary.NativeEndian.AppendUint32(b, h.PID)
		b = append(b, msgs[i].Data...)
		for len(b)%4 != 0 {
			b = append(b, 0)
		}
	}
	c.wbuf = b
	err := c.raw.Control(c.sendNow)
	if err == nil && c.err == unix.EAGAIN {
		err = c.raw.Write(c.sendWait)
	}
	if err == nil {
		err = c.err
	}
	if err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	return msgs, nil
}

// sendto is one non-blocking sendto of a whole datagram to the kernel.
func sendto(fd uintptr, b []byte) error {
	for {
		_, _, e := unix.RawSyscall6(unix.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case unix.EINTR:
			continue
		case 0:
			return nil
		}
		return e
	}
}

// recv reads one or more datagrams (recvBatch) and splits them into
// messages, valid until the next recv. The kernel has usually queued the answer by the time sendmsg
// returns (it handles requests, and fills the next part of a dump, while
// the caller is in sendmsg or recvmsg), so recv first reads without
// waiting; only when nothing is there does it wait in Go's poller under the
// read deadline, and then fails with os.ErrDeadlineExceeded on silence.
// Setting a deadline wakes the poller thread: on every read, that doubled
// the cost of reading a large table.
func (c *conn) recv() ([]netlink.Message, error) {
	err := c.raw.Control(c.recvNow)
	if err == nil && c.err == unix.EAGAIN {
		if err := c.nl.SetReadDeadline(time.Now().Add(c.timeout)); err != nil {
			return nil, err
		}
		err = c.raw.Read(c.recvWait)
	}
	if err == nil {
		err = c.err
	}
	if err != nil {
		return nil, err
	}
	c.msgs = c.msgs[:0]
	for i := 0; i < c.n; i++ {
		n := int(c.hdrs[i].n)
		if n > len(c.bufs[i]) {
			return nil, fmt.Errorf("netlink answer of %d bytes does not fit the %d-byte buffer", n, len(c.bufs[i]))
		}
		if c.msgs, err = parseMessages(c.msgs, c.bufs[i][:n]); err != nil {
			return nil, err
		}
	}
	return c.msgs, nil
}

// recvBatch is how many datagrams one read takes when they are there: the
// kernel queues a dump's NLMSG_DONE (its own datagram) while the caller
// reads the dump's last part, so one recvmmsg reads both, where recvmsg
// took two system calls per dump; a batch's acknowledgements (one
// datagram each) come in pairs too.
const recvBatch = 2

// mmsghdr is struct mmsghdr: a msghdr and the length received.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// recvmmsg is one non-blocking recvmmsg into hdrs: the number of
// datagrams read (at least one, or EAGAIN), each hdrs[i].n its full length
// (MSG_TRUNC), which may exceed its buffer.
func recvmmsg(fd uintptr, hdrs []mmsghdr) (int, error) {
	for {
		r, _, e := unix.RawSyscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&hdrs[0])), uintptr(len(hdrs)),
			unix.MSG_TRUNC|unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case unix.EINTR:
			continue
		case 0:
			return int(r), nil
		}
		return 0, e
	}
}

// parseMessages splits a datagram into netlink messages (their Data
// pointing into b). It never panics: a length past the end of the
// datagram is an error; the last message need not be padded.
func parseMessages(out []netlink.Message, b []byte) ([]netlink.Message, error) {
	const hdr = 16
	for len(b) > 0 {
		if len(b) < hdr {
			return out, fmt.Errorf("%w: %d stray bytes after the last message", errDecode, len(b))
		}
		l := int(binary.NativeEndian.Uint32(b))
		if l < hdr || l > len(b) {
			return out, fmt.Errorf("%w: message length %d in a datagram of %d bytes", errDecode, l, len(b))
		}
		out = append(out, netlink.Message{
			Header: netlink.Header{
				Length:   uint32(l),
				Type:     netlink.HeaderType(binary.NativeEndian.Uint16(b[4:])),
				Flags:    netlink.HeaderFlags(binary.NativeEndian.Uint16(b[6:])),
				Sequence: binary.NativeEndian.Uint32(b[8:]),
				PID:      binary.NativeEndian.Uint32(b[12:]),
			},
			Data: b[hdr:l],
		})
		b = b[min((l+3)&^3, len(b)):]
	}
	return out, nil
}

// answerOf reads an NLMSG_ERROR (or NLMSG_DONE) message: nil for an
// acknowledgement (or a clean end), the kernel's refusal (a *refusal, with
// the text of its extended ack when it sent one), and ok=false when the
// message is too short to hold an error code, so what it answers is
// unknown. A short NLMSG_DONE is a clean end (old kernels send it empty).
func answerOf(m netlink.Message) (err error, ok bool) {
	if len(m.Data) < 4 {
		return nil, m.Header.Type == netlink.Done
	}
	e := int32(binary.NativeEndian.Uint32(m.Data))
	if e >= 0 {
		return nil, true
	}
	r := &refusal{errno: syscall.Errno(-e)}
	if m.Header.Type == netlink.Error && m.Header.Flags&nlmFAckTLVs != 0 {
		r.msg = extAckMessage(m)
	}
	return r, true
}

// NLM_F_CAPPED and NLM_F_ACK_TLVS, the flags of an NLMSG_ERROR answer:
// the echoed request is only its header; attributes (extended ack) follow.
const (
	nlmFCapped  = 0x100
	nlmFAckTLVs = 0x200
	// nlmsgerrAttrMsg is NLMSGERR_ATTR_MSG: the kernel's text.
	nlmsgerrAttrMsg = 1
)

// extAckMessage returns the NLMSGERR_ATTR_MSG text of an NLMSG_ERROR
// (after the error code and the echoed request), or "".
func extAckMessage(m netlink.Message) string {
	b := m.Data[4:]
	if len(b) < 16 {
		return ""
	}
	skip := 16 // the echoed request's header
	if m.Header.Flags&nlmFCapped == 0 {
		skip = int(binary.NativeEndian.Uint32(b)) // the whole echoed request
	}
	if skip < 16 || skip > len(b) {
		return ""
	}
	ad, err := netlink.NewAttributeDecoder(b[min((skip+3)&^3, len(b)):])
	if err != nil {
		return ""
	}
	for ad.Next() {
		if ad.Type() == nlmsgerrAttrMsg {
			return strings.TrimRight(ad.String(), "\x00")
		}
	}
	return ""
}

// refusal is the kernel's error answer to a request: errors.Is matches its
// errno (syscall.EEXIST, ...); its text adds the kernel's own words.
type refusal struct {
	errno syscall.Errno
	msg   string
}

func (r *refusal) Error() string {
	if r.msg == "" {
		return r.errno.Error()
	}
	return r.errno.Error() + " (kernel: " + r.msg + ")"
}

func (r *refusal) Unwrap() error { return r.errno }

// errMalformed: an answer too short to say whether the request was done.
func errMalformed(m netlink.Message) error {
	return fmt.Errorf("%w: malformed answer (type %d, %d bytes)", errDecode, m.Header.Type, len(m.Data))
}
