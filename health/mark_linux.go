package health

import (
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// markControl sets SO_MARK on the socket before connect. The kernel needs
// CAP_NET_ADMIN (or CAP_NET_RAW since 5.17); without it the probe fails
// with ErrMark rather than going out unmarked.
func markControl(mark uint32) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_MARK, int(mark))
		}); err != nil {
			return fmt.Errorf("%w %#x: %v", ErrMark, mark, err)
		}
		if serr != nil {
			return fmt.Errorf("%w %#x: %v", ErrMark, mark, serr)
		}
		return nil
	}
}
