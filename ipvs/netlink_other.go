//go:build !linux

package ipvs

// New fails outside Linux: IPVS is a Linux kernel table.
func New() (Client, error) { return nil, ErrUnsupported }
