package ipvs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// rawConn is a blocking generic-netlink socket for the two bulk paths:
// dumping the table and applying many changes. cloudflare/ipvs sends one
// request per round trip through Go's poller (a peek, a page-sized buffer
// and a wake-up per answer); on a table of thousands of rules that
// overhead, not the kernel, is the cost. Here changes go out many per
// sendmsg without per-message acks (the kernel answers only errors, and
// an ack on the last message of each batch), and dumps read into one
// reused buffer.
type rawConn struct {
	fd     int
	family uint16
	seq    uint32
	buf    []byte
}

// Netlink and IPVS constants not worth importing from internal packages.
const (
	nlmsgHdrLen   = 16
	genlHdrLen    = 4
	nlaHdrLen     = 4
	cmdNewSvc     = 1
	cmdSetSvc     = 2
	cmdDelSvc     = 3
	cmdGetSvc     = 4
	cmdNewDest    = 5
	cmdSetDest    = 6
	cmdDelDest    = 7
	cmdGetDest    = 8
	cmdAttrDest   = 2
	svcAttrSched  = 6
	svcAttrFlags  = 7
	svcAttrTmo    = 8
	svcAttrMask   = 9
	svcAttrPEName = 11
	svcAttrSt64   = 12
	dstAttrAddr   = 1
	dstAttrPort   = 2
	dstAttrFwd    = 3
	dstAttrW      = 4
	dstAttrU      = 5
	dstAttrL      = 6
	dstAttrAct    = 7
	dstAttrInact  = 8
	dstAttrPers   = 9
	dstAttrAF     = 11
	dstAttrSt64   = 12
	dstAttrTType  = 13
	dstAttrTPort  = 14
	dstAttrTFlag  = 15
)

func openRaw(family uint16) (*rawConn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_GENERIC)
	if err != nil {
		return nil, err
	}
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, err
	}
	// Error answers without the echoed request, and room for a whole
	// batch of them (FORCE works for root; the plain size is the fallback).
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 4<<20) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
	}
	return &rawConn{fd: fd, family: family, buf: make([]byte, 64<<10)}, nil
}

func (r *rawConn) close() error { return unix.Close(r.fd) }

// appendMsg appends one generic-netlink request to b and returns its
// sequence number.
func (r *rawConn) appendMsg(b []byte, cmd uint8, flags uint16, attrs []byte) ([]byte, uint32) {
	r.seq++
	n := nlmsgHdrLen + genlHdrLen + len(attrs)
	b = binary.NativeEndian.AppendUint32(b, uint32(n))
	b = binary.NativeEndian.AppendUint16(b, r.family)
	b = binary.NativeEndian.AppendUint16(b, flags)
	b = binary.NativeEndian.AppendUint32(b, r.seq)
	b = binary.NativeEndian.AppendUint32(b, 0)
	b = append(b, cmd, genlVersion, 0, 0)
	b = append(b, attrs...)
	return b, r.seq
}

// send writes to the kernel (an unconnected netlink socket's default
// destination); write(2) saves sendto's address handling.
func (r *rawConn) send(b []byte) error {
	for {
		_, err := unix.Write(r.fd, b)
		if err != unix.EINTR {
			return err
		}
	}
}

// nlMsg is one parsed netlink message.
type nlMsg struct {
	typ   uint16
	seq   uint32
	errno int32  // NLMSG_ERROR / NLMSG_DONE code (negative errno), else 0
	data  []byte // after the genetlink header (family messages)
}

// recv reads one datagram and splits it into messages (valid until the
// next recv).
func (r *rawConn) recv() ([]nlMsg, error) {
	for {
		n, err := unix.Read(r.fd, r.buf) // one datagram; no source address to allocate
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n >= len(r.buf) { // possibly truncated: grow and retry is not possible; report
			return nil, fmt.Errorf("netlink answer larger than %d bytes", len(r.buf))
		}
		return parseMsgs(r.buf[:n])
	}
}

func parseMsgs(b []byte) ([]nlMsg, error) {
	var out []nlMsg
	for len(b) >= nlmsgHdrLen {
		l := int(binary.NativeEndian.Uint32(b))
		if l < nlmsgHdrLen || l > len(b) {
			return nil, errors.New("malformed netlink message")
		}
		m := nlMsg{typ: binary.NativeEndian.Uint16(b[4:]), seq: binary.NativeEndian.Uint32(b[8:])}
		body := b[nlmsgHdrLen:l]
		switch m.typ {
		case unix.NLMSG_ERROR, unix.NLMSG_DONE:
			if len(body) >= 4 {
				m.errno = int32(binary.NativeEndian.Uint32(body))
			}
		default:
			if len(body) >= genlHdrLen {
				m.data = body[genlHdrLen:]
			}
		}
		out = append(out, m)
		b = b[nlmAlign(l):]
	}
	return out, nil
}

func nlmAlign(n int) int {
	if n > 1<<30 {
		return n
	}
	return (n + 3) &^ 3
}

// dump runs one dump request and calls fn with the attributes of every
// answer.
func (r *rawConn) dump(cmd uint8, attrs []byte, fn func(attrs []byte) error) error {
	b, seq := r.appendMsg(nil, cmd, unix.NLM_F_REQUEST|unix.NLM_F_DUMP, attrs)
	if err := r.send(b); err != nil {
		return err
	}
	for {
		msgs, err := r.recv()
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.seq != seq {
				continue // a stale answer
			}
			switch m.typ {
			case unix.NLMSG_DONE:
				if m.errno < 0 {
					return syscall.Errno(-m.errno)
				}
				return nil
			case unix.NLMSG_ERROR:
				if m.errno < 0 {
					return syscall.Errno(-m.errno)
				}
				return nil
			default:
				if err := fn(m.data); err != nil {
					return err
				}
			}
		}
	}
}

// batchSize bounds the requests per sendmsg, and so the changes that may
// follow a failed one (the kernel carries on with the rest of a batch).
const batchSize = 256

// batch sends requests built by build(i) for i in [0, n), batchSize per
// sendmsg, acking only the last of each batch. It returns n, 0 and nil when
// every request succeeded. Otherwise it returns the index of the first
// request not known to have succeeded, how many requests after it the
// kernel still got (the rest of that batch), and:
//   - the kernel's error, when it refused that request (the kernel
//     handles a whole batch inside sendmsg, so the rest of the batch was
//     processed; this holds even if reading later answers then failed);
//   - the socket's error, with 0 after, when sending the batch failed
//     (nothing of it reached the kernel);
//   - an error wrapping ErrUnknownOutcome and the socket's error, when
//     the batch was sent but reading the answers failed before any
//     refusal was seen: that request and the after ones are of unknown
//     outcome.
func (r *rawConn) batch(n int, build func(i int) (uint8, []byte)) (failed, after int, err error) {
	var b []byte
	for start := 0; start < n; start += batchSize {
		end := min(start+batchSize, n)
		b = b[:0]
		first := r.seq + 1
		for i := start; i < end; i++ {
			flags := uint16(unix.NLM_F_REQUEST)
			if i == end-1 {
				flags |= unix.NLM_F_ACK
			}
			cmd, attrs := build(i)
			b, _ = r.appendMsg(b, cmd, flags, attrs)
		}
		last := r.seq
		if err := r.send(b); err != nil {
			return start, 0, err
		}
		failAt, failErr := -1, error(nil)
		for done := false; !done; {
			msgs, err := r.recv()
			if err != nil {
				if failAt >= 0 {
					// Answers were lost, not the refusal already seen.
					return failAt, end - failAt - 1, failErr
				}
				return start, end - start - 1, fmt.Errorf("%w: the kernel got them, but reading its answers failed: %w", ErrUnknownOutcome, err)
			}
			for _, m := range msgs {
				if m.typ != unix.NLMSG_ERROR || m.seq < first || m.seq > last {
					continue
				}
				idx := start + int(m.seq-first)
				if m.errno < 0 && (failAt < 0 || idx < failAt) {
					failAt, failErr = idx, syscall.Errno(-m.errno)
				}
				if m.seq == last {
					done = true
				}
			}
		}
		if failAt >= 0 {
			return failAt, end - failAt - 1, failErr
		}
	}
	return n, 0, nil
}
