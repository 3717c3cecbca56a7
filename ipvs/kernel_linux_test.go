//go:build linux

package ipvs

import (
	"encoding/binary"
	"errors"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// A scripted kernel on the far end of a SOCK_SEQPACKET socket pair: the
// client under test runs its real code (netlink.Conn, SendMessages, the
// SyscallConn reads under a deadline) against it.

// pairSocket is the client's end, a netlink.Socket over a socket-pair fd.
type pairSocket struct{ f *os.File }

func (s pairSocket) Close() error                        { return s.f.Close() }
func (s pairSocket) Send(m netlink.Message) error        { return s.SendMessages([]netlink.Message{m}) }
func (s pairSocket) Receive() ([]netlink.Message, error) { return nil, errors.New("not used") }
func (s pairSocket) SendMessages(ms []netlink.Message) error {
	var b []byte
	for _, m := range ms {
		mb, err := m.MarshalBinary()
		if err != nil {
			return err
		}
		b = append(b, mb...)
	}
	_, err := s.f.Write(b)
	return err
}
func (s pairSocket) SyscallConn() (syscall.RawConn, error) { return s.f.SyscallConn() }
func (s pairSocket) SetDeadline(t time.Time) error         { return s.f.SetDeadline(t) }
func (s pairSocket) SetReadDeadline(t time.Time) error     { return s.f.SetReadDeadline(t) }
func (s pairSocket) SetWriteDeadline(t time.Time) error    { return s.f.SetWriteDeadline(t) }

// scriptKernel answers each request with what answer returns: a list of
// datagrams (nil: no answer at all).
type scriptKernel struct {
	fd     int
	mu     sync.Mutex
	reqs   []netlink.Message // every request seen
	sends  int               // sendmsg calls seen
	answer func(k *scriptKernel, req netlink.Message) [][]byte
}

const testFamily = 0x20

// newTestClient returns a client whose socket is connected to a scripted
// kernel. dials counts the sockets the client opened.
func newTestClient(t *testing.T, answer func(k *scriptKernel, req netlink.Message) [][]byte) (*netlinkClient, *scriptKernel, *int) {
	t.Helper()
	k := &scriptKernel{answer: answer}
	dials := new(int)
	dial := func() (*conn, error) {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal("socketpair:", err)
		}
		if err := unix.SetNonblock(fds[0], true); err != nil {
			t.Fatal(err)
		}
		for _, fd := range fds {
			_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
			_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
		}
		*dials++
		k.fd = fds[1]
		stopped := make(chan struct{})
		go func() { k.serve(fds[1]); close(stopped) }()
		t.Cleanup(func() {
			// Stop the reader before the fd number can be reused.
			unix.Shutdown(fds[1], unix.SHUT_RDWR)
			<-stopped
			unix.Close(fds[1])
		})
		nl := netlink.NewConn(pairSocket{os.NewFile(uintptr(fds[0]), "client")}, 1234)
		c, err := newConn(nl, testFamily)
		if err == nil {
			c.timeout = 200 * time.Millisecond
		}
		return c, err
	}
	n := &netlinkClient{dial: dial}
	if _, err := n.conn(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n, k, dials
}

func (k *scriptKernel) serve(fd int) {
	buf := make([]byte, 1<<20)
	for {
		n, err := unix.Read(fd, buf)
		if err != nil || n == 0 {
			return
		}
		msgs, err := parseMessages(nil, buf[:n])
		if err != nil {
			panic(err)
		}
		k.mu.Lock()
		k.sends++
		var out [][]byte
		for _, m := range msgs {
			m.Data = append([]byte(nil), m.Data...)
			k.reqs = append(k.reqs, m)
			out = append(out, k.answer(k, m)...)
		}
		k.mu.Unlock()
		for _, d := range out {
			if _, err := unix.Write(fd, d); err != nil {
				return
			}
		}
	}
}

func (k *scriptKernel) requests() ([]netlink.Message, int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]netlink.Message(nil), k.reqs...), k.sends
}

// nlmsg encodes one netlink message (padded unless unpadded).
func nlmsg(typ netlink.HeaderType, flags netlink.HeaderFlags, seq uint32, data []byte, unpadded bool) []byte {
	b := binary.NativeEndian.AppendUint32(nil, uint32(16+len(data)))
	b = binary.NativeEndian.AppendUint16(b, uint16(typ))
	b = binary.NativeEndian.AppendUint16(b, uint16(flags))
	b = binary.NativeEndian.AppendUint32(b, seq)
	b = binary.NativeEndian.AppendUint32(b, 1234)
	b = append(b, data...)
	for !unpadded && len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// ack is the kernel's NLMSG_ERROR answer to seq (errno 0: an ack), without
// the echoed request (NETLINK_CAP_ACK).
func ack(seq uint32, errno syscall.Errno) []byte {
	d := binary.NativeEndian.AppendUint32(nil, uint32(-int32(errno)))
	d = append(d, make([]byte, 16)...)
	return nlmsg(netlink.Error, 0x100, seq, d, false)
}

func done(seq uint32) []byte {
	return nlmsg(netlink.Done, netlink.Multi, seq, []byte{0, 0, 0, 0}, false)
}

// genl is a family message: genetlink header then attributes.
func genl(seq uint32, cmd uint8, attrs []byte, unpadded bool) []byte {
	return nlmsg(testFamily, netlink.Multi, seq, append([]byte{cmd, genlVersion, 0, 0}, attrs...), unpadded)
}

func cmdOf(m netlink.Message) uint8 { return m.Data[0] }
