package controller

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/lvsnode/lvsnode/internal/capability"
	"github.com/lvsnode/lvsnode/sysctl"
)

// ErrPrerequisite marks a director that is not ready for the request
// (privileges, kernel settings). The message says how to fix it.
var ErrPrerequisite = errors.New("director not ready")

// forwardingKey is the sysctl that must be 1 for NAT real servers of a
// family: the director routes the replies back to the clients.
func forwardingKey(v6 bool) sysctl.Key {
	if v6 {
		return sysctl.Key{"net", "ipv6", "conf", "all", "forwarding"}
	}
	return sysctl.Key{"net", "ipv4", "ip_forward"}
}

// ensureForwarding checks (and with enable, sets) IP forwarding for NAT.
// It returns a note for the user when it changed something.
func ensureForwarding(sc sysctl.Client, v6, enable, dryRun bool) (string, error) {
	if sc == nil {
		return "", nil
	}
	key := forwardingKey(v6)
	v, err := sc.Get(key)
	if err != nil {
		return "", fmt.Errorf("%w: read %s: %v", ErrPrerequisite, key, err)
	}
	if strings.TrimSpace(v) == "1" {
		return "", nil
	}
	if !enable {
		return "", fmt.Errorf("%w: NAT (-m) needs IP forwarding on the director, and %s is %s: rerun with --enable-forwarding (or set %s=1 in /etc/sysctl.d)",
			ErrPrerequisite, key, strings.TrimSpace(v), key)
	}
	if dryRun {
		return fmt.Sprintf("would set %s=1 for NAT", key), nil
	}
	if err := sc.Set(key, "1"); err != nil {
		return "", fmt.Errorf("%w: set %s=1: %v", ErrPrerequisite, key, err)
	}
	return fmt.Sprintf("set %s=1 for NAT (not persistent across reboots: add it to /etc/sysctl.d)", key), nil
}

// CheckPrivileges fails with ErrPrerequisite unless the process holds
// CAP_NET_ADMIN (root normally does), which every IPVS netlink command
// requires, even listing.
func CheckPrivileges() error {
	ok, err := capability.Has(capability.NetAdmin)
	if err != nil {
		ok = os.Geteuid() == 0 // no /proc: trust root, the kernel has the last word
	}
	if ok {
		return nil
	}
	return fmt.Errorf("%w: IPVS needs CAP_NET_ADMIN: run as root (or give the unit AmbientCapabilities=CAP_NET_ADMIN)", ErrPrerequisite)
}
