package ipvs

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
)

// errContext says what ENOENT means for a request.
type errContext int

const (
	onConnect errContext = iota // no IPVS generic netlink family: ErrNoIPVS
	onService                   // service create/edit: ErrScheduler
	onDest                      // real-server request: ErrNotFound
)

// mapErr turns a netlink error into the package's sentinel errors.
func mapErr(what string, err error, on errContext) error {
	if err == nil {
		return nil
	}
	var sentinel error
	switch {
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
		sentinel = ErrPermission
	case errors.Is(err, syscall.ESRCH):
		sentinel = ErrNotFound
	case errors.Is(err, syscall.EEXIST):
		sentinel = ErrExists
	case errors.Is(err, syscall.ENOENT) || errors.Is(err, fs.ErrNotExist):
		sentinel = [...]error{onConnect: ErrNoIPVS, onService: ErrScheduler, onDest: ErrNotFound}[on]
	}
	if sentinel == nil {
		if errors.Is(err, syscall.EINVAL) {
			// ipvsadm says "Invalid operation. Possibly wrong module
			// version, address not unicast, ..."; the usual causes:
			return fmt.Errorf("%s: the kernel refused it as invalid (address not unicast, or loopback down in this network namespace): %w", what, err)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s: %w", what, sentinel)
}

// describeOp names an Op for error messages, with what ENOENT means for it.
func describeOp(op Op) (string, errContext) {
	k, d := op.Service.ServiceKey.String(), op.Dest.DestKey.String()
	switch op.Kind {
	case OpCreateService:
		return "add service " + k, onService
	case OpUpdateService:
		return "edit service " + k, onService
	case OpRemoveService:
		return "remove service " + k, onDest
	case OpCreateDest:
		return "add real server " + d + " to " + k, onDest
	case OpUpdateDest:
		return "edit real server " + d + " of " + k, onDest
	}
	return "remove real server " + d + " from " + k, onDest
}

// notSent is the outcome of an op Apply did not send, for reason.
func notSent(op Op, reason string) error {
	return fmt.Errorf("%s: %w (%s)", op, ErrNotSent, reason)
}

// FullMask is the default persistence granularity of a family: one client
// address (/32 or /128).
func FullMask(ipv6 bool) int {
	if ipv6 {
		return 128
	}
	return 32
}

// maskBits is the prefix length to send for s: its Netmask, where 0 is
// /0 (IPv4 persistence over all clients, which the kernel and ipvsadm
// accept), and the full length only for values out of range.
func maskBits(s Service) int {
	if s.Netmask < 0 || s.Netmask > FullMask(s.Is6()) {
		return FullMask(s.Is6())
	}
	return s.Netmask
}
