//go:build !linux

package health

import (
	"context"
	"net"
	"net/netip"
	"time"
)

// tcpChecker connects and closes: the real server's kernel accepts on the
// port. Elsewhere than Linux it dials with net.Dialer (no SO_MARK, no
// shared epoll set); tcp_linux.go is the director's.
type tcpChecker struct {
	dialer  *net.Dialer
	addr    string
	timeout time.Duration
}

func newTCP(d Definition) (*tcpChecker, error) {
	return &tcpChecker{dialer: newDialer(d), addr: netip.AddrPortFrom(d.Target, d.Port).String(), timeout: d.Timeout}, nil
}

func (c *tcpChecker) Check(ctx context.Context) Result {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	conn, err := c.dialer.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return fail(start, classify(err, c.timeout))
	}
	r := pass(start, "connected")
	conn.Close()
	return r
}
