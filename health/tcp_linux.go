package health

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// tcpChecker connects and closes: the real server's kernel accepts on the
// port (or, with a mark, the VIP does so through the data path).
//
// It works as keepalived's TCP_CHECK does (check_tcp.c, layer4.c
// tcp_bind_connect): a nonblocking socket, connect, wait for writability
// in one epoll set shared by every probe (connPoller), SO_ERROR, close.
// Go's net.Dialer did the same with one netpoller registration, a
// net.Conn, a context and its goroutine per probe, about 25 allocations and
// twice the syscalls (getpeername, getsockname, TCP_NODELAY, keepalive);
// this costs none of those (BenchmarkTCPCheck1000).
//
// The socket has SO_LINGER {on, 0}, as keepalived sets it "to free the tcp
// port after closing": close sends RST instead of the FIN exchange, so the
// director keeps no TIME_WAIT socket per probe (1,000 real servers every
// second would hold ~60,000 of them and their ephemeral ports, the more so
// with a fixed source address) and neither side spends packets on a
// graceful close of a connection that carried nothing. The real server
// still counts the probe as an accepted connection (TcpPassiveOpens).
//
// Not safe for concurrent use (the Checker contract): done and timer are
// reused by every probe of this checker, so a probe allocates nothing.
type tcpChecker struct {
	family  int
	dst     rawAddr
	src     rawAddr // len 0: the kernel chooses the source address
	mark    uint32
	timeout time.Duration
	done    chan uint32 // the poller's event for the probe in flight
	timer   *time.Timer // the probe's timeout; made by the first probe
}

// lingerRST makes close send RST and free the socket at once (see
// tcpChecker). Read-only: shared by every probe.
var lingerRST = unix.Linger{Onoff: 1, Linger: 0}

func newTCP(d Definition) (*tcpChecker, error) {
	c := &tcpChecker{mark: d.Mark, timeout: d.Timeout, done: make(chan uint32, 1)}
	c.family, c.dst = sockaddr(netip.AddrPortFrom(d.Target, d.Port))
	if d.Source.IsValid() {
		_, c.src = sockaddr(netip.AddrPortFrom(d.Source, 0))
	}
	return c, nil
}

func (c *tcpChecker) Check(ctx context.Context) Result {
	start := time.Now()
	if err := ctx.Err(); err != nil {
		return fail(start, classify(err, c.timeout))
	}
	fd, pending, err := c.connect()
	if err != nil {
		return fail(start, classify(err, c.timeout))
	}
	if pending {
		if err := c.wait(ctx, fd, start); err != nil {
			rawClose(fd)
			return fail(start, classify(err, c.timeout))
		}
	}
	r := pass(start, "connected")
	rawClose(fd)
	return r
}

// connect opens the probe's socket and starts connecting; pending means
// the handshake is under way. On error the socket is closed.
func (c *tcpChecker) connect() (fd int, pending bool, err error) {
	fd, err = rawSocket(c.family)
	if err != nil {
		return -1, false, fmt.Errorf("socket: %w", err)
	}
	defer func() {
		if err != nil {
			rawClose(fd)
		}
	}()
	if err := rawSetsockopt(fd, unix.SOL_SOCKET, unix.SO_LINGER, unsafe.Pointer(&lingerRST), unsafe.Sizeof(lingerRST)); err != nil {
		return -1, false, fmt.Errorf("SO_LINGER: %w", err)
	}
	if c.mark != 0 {
		if err := setMark(fd, c.mark); err != nil {
			return -1, false, err
		}
	}
	if c.src.len != 0 {
		if err := c.src.zone(); err != nil {
			return -1, false, err
		}
		if err := rawBind(fd, c.src.ptr(), c.src.len); err != nil {
			return -1, false, fmt.Errorf("bind: %w", err)
		}
	}
	if err := c.dst.zone(); err != nil {
		return -1, false, err
	}
	switch err := rawConnect(fd, c.dst.ptr(), c.dst.len); err {
	case nil:
		return fd, false, nil
	case unix.EINPROGRESS, unix.EALREADY, unix.EINTR:
		return fd, true, nil
	default:
		return -1, false, err
	}
}

// wait waits for the pending connect on fd to complete, fail, time out
// (start + timeout) or be cancelled, and returns the connect's error.
func (c *tcpChecker) wait(ctx context.Context, fd int, start time.Time) error {
	p, err := sharedPoller()
	if err != nil {
		return err
	}
	id, err := p.add(fd, c.done)
	if err != nil {
		return fmt.Errorf("epoll_ctl: %w", err)
	}
	left := c.timeout - time.Since(start)
	if c.timer == nil {
		c.timer = time.NewTimer(left)
	} else {
		c.timer.Reset(left)
	}
	var cause error
	select {
	case <-c.done:
	case <-c.timer.C:
		cause = context.DeadlineExceeded
	case <-ctx.Done():
		cause = ctx.Err()
	}
	c.timer.Stop()
	if cause != nil {
		if p.cancel(id) {
			return cause
		}
		<-c.done // the verdict came as the time ran out: judge it
	}
	soErr, err := rawGetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return err
	}
	if soErr != 0 {
		return syscall.Errno(soErr)
	}
	return nil
}

var _ evProbe = (*tcpChecker)(nil)

// begin starts a probe for the scheduler's event loop: the connect's
// completion will be an event with id in epfd. done means the verdict is
// already known (r; the socket is closed); otherwise fd is in flight and
// end or abandon closes it.
func (c *tcpChecker) begin(epfd int, id uint64, start time.Time) (fd int, r Result, done bool) {
	fd, pending, err := c.connect()
	switch {
	case err != nil:
		return -1, fail(start, classify(err, c.timeout)), true
	case !pending:
		rawClose(fd)
		return -1, pass(start, "connected"), true
	}
	if err := epollAdd(epfd, fd, id); err != nil {
		rawClose(fd)
		return -1, fail(start, classify(fmt.Errorf("epoll_ctl: %w", err), c.timeout)), true
	}
	return fd, Result{}, false
}

// end judges and closes the in-flight fd of a probe begun at start.
func (c *tcpChecker) end(fd int, start time.Time) Result {
	soErr, err := rawGetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	rawClose(fd)
	if err == nil && soErr != 0 {
		err = syscall.Errno(soErr)
	}
	if err != nil {
		return fail(start, classify(err, c.timeout))
	}
	return pass(start, "connected")
}

// abandon closes the in-flight fd of a probe begun at start, for cause
// (its timeout, or the run's end).
func (c *tcpChecker) abandon(fd int, start time.Time, cause error) Result {
	rawClose(fd)
	return fail(start, classify(cause, c.timeout))
}

// rawAddr is a socket address in the kernel's layout, built once per
// checker so a probe passes it to connect or bind as it is.
type rawAddr struct {
	in4  unix.RawSockaddrInet4
	in6  unix.RawSockaddrInet6
	len  uintptr // 0: unset
	name string  // IPv6 zone (link-local address), resolved per probe
}

// sockaddr turns ap into the socket family and address to connect or bind
// (an IPv4-mapped IPv6 address is dialled over IPv4, as net.Dial does).
func sockaddr(ap netip.AddrPort) (int, rawAddr) {
	var r rawAddr
	a, port := ap.Addr().Unmap(), (*[2]byte)(nil)
	if a.Is4() {
		r.in4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.As4()}
		r.len, port = unsafe.Sizeof(r.in4), (*[2]byte)(unsafe.Pointer(&r.in4.Port))
	} else {
		r.in6 = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.As16()}
		r.len, port, r.name = unsafe.Sizeof(r.in6), (*[2]byte)(unsafe.Pointer(&r.in6.Port)), a.Zone()
	}
	port[0], port[1] = byte(ap.Port()>>8), byte(ap.Port()) // network byte order
	if a.Is4() {
		return unix.AF_INET, r
	}
	return unix.AF_INET6, r
}

func (r *rawAddr) ptr() unsafe.Pointer {
	if r.in4.Family != 0 {
		return unsafe.Pointer(&r.in4)
	}
	return unsafe.Pointer(&r.in6)
}

// zone sets the scope of a link-local IPv6 address from its zone name
// (looked up per probe: the interface may come and go).
func (r *rawAddr) zone() error {
	if r.name == "" {
		return nil
	}
	ifi, err := net.InterfaceByName(r.name)
	if err != nil {
		return fmt.Errorf("zone %q: %w", r.name, err)
	}
	r.in6.Scope_id = uint32(ifi.Index)
	return nil
}
