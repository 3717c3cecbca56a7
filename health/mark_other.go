//go:build !linux

package health

import (
	"fmt"
	"syscall"
)

// markControl: SO_MARK exists only on Linux; a marked probe fails with
// ErrMark instead of going out unmarked.
func markControl(mark uint32) func(network, address string, c syscall.RawConn) error {
	return func(string, string, syscall.RawConn) error {
		return fmt.Errorf("%w %#x: not supported on this system", ErrMark, mark)
	}
}
