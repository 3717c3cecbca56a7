package health

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// newDialer returns the dialer every probe of d uses: the optional source
// address, and SO_MARK set on the socket before connect when d.Mark is set,
// so the director's policy routing or a fwmark IPVS service steers the probe
// (Seesaw's data-path check).
func newDialer(d Definition) *net.Dialer {
	nd := &net.Dialer{KeepAlive: -1}
	if d.Source.IsValid() {
		nd.LocalAddr = &net.TCPAddr{IP: d.Source.AsSlice()}
	}
	if d.Mark != 0 {
		nd.Control = markControl(d.Mark)
	}
	return nd
}

// classify turns a dial or request error into a sentinel-wrapped error with
// a short text.
func classify(err error, timeout time.Duration) error {
	var ue *url.Error
	if errors.As(err, &ue) { // drop `Get "https://...": `, the key says it
		err = ue.Err
	}
	var (
		ne   net.Error
		cert *tls.CertificateVerificationError
		rec  tls.RecordHeaderError
	)
	switch {
	case errors.Is(err, ErrMark):
		return err
	case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
		return fmt.Errorf("%w after %s", ErrTimeout, timeout)
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("%w", ErrRefused)
	case errors.As(err, &cert):
		return fmt.Errorf("%w: %v", ErrTLS, cert.Err)
	case errors.As(err, &rec) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return fmt.Errorf("%w: not a TLS server", ErrTLS)
	}
	var se syscall.Errno
	if errors.As(err, &se) {
		return fmt.Errorf("%w: %v", ErrConnect, se)
	}
	return fmt.Errorf("%w: %v", ErrConnect, err)
}
