package health

import (
	"fmt"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// markControl sets SO_MARK on the socket before connect (net.Dialer's
// Control, for HTTP probes). The kernel needs CAP_NET_ADMIN (or CAP_NET_RAW
// since 5.17); without it the probe fails with ErrMark rather than going
// out unmarked.
func markControl(mark uint32) func(network, address string, c syscall.RawConn) error {
	return func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) { serr = setMark(int(fd), mark) }); err != nil {
			return fmt.Errorf("%w %#x: %v", ErrMark, mark, err)
		}
		return serr
	}
}

// setMark sets SO_MARK on fd; the error wraps ErrMark.
func setMark(fd int, mark uint32) error {
	v := int32(mark)
	if err := rawSetsockopt(fd, unix.SOL_SOCKET, unix.SO_MARK, unsafe.Pointer(&v), unsafe.Sizeof(v)); err != nil {
		return fmt.Errorf("%w %#x: %v", ErrMark, mark, err)
	}
	return nil
}
