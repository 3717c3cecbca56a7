package controller

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	gosysctl "github.com/lorenzosaino/go-sysctl"
)

// ErrPrerequisite marks a director that is not ready for the request
// (privileges, kernel settings). The message says how to fix it.
var ErrPrerequisite = errors.New("director not ready")

// Sysctl reads and writes kernel parameters by dotted name
// ("net.ipv4.ip_forward").
type Sysctl interface {
	Get(name string) (string, error)
	Set(name, value string) error
}

// ProcSysctl is the real Sysctl, over /proc/sys.
type ProcSysctl struct{}

// Get reads /proc/sys/<name with dots as slashes>.
func (ProcSysctl) Get(name string) (string, error) { return gosysctl.Get(name) }

// Set writes /proc/sys/<name with dots as slashes>.
func (ProcSysctl) Set(name, value string) error { return gosysctl.Set(name, value) }

// forwardingKey is the sysctl that must be 1 for NAT real servers of a
// family: the director routes the replies back to the clients.
func forwardingKey(v6 bool) string {
	if v6 {
		return "net.ipv6.conf.all.forwarding"
	}
	return "net.ipv4.ip_forward"
}

// ensureForwarding checks (and with enable, sets) IP forwarding for NAT.
// It returns a note for the user when it changed something.
func ensureForwarding(sc Sysctl, v6, enable bool) (string, error) {
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
	if err := sc.Set(key, "1"); err != nil {
		return "", fmt.Errorf("%w: set %s=1: %v", ErrPrerequisite, key, err)
	}
	return fmt.Sprintf("set %s=1 for NAT (not persistent across reboots: add it to /etc/sysctl.d)", key), nil
}

// capNetAdmin is CAP_NET_ADMIN's bit in /proc/self/status CapEff.
const capNetAdmin = 12

// CheckPrivileges fails with ErrPrerequisite unless the process is root or
// holds CAP_NET_ADMIN, which every IPVS netlink command requires.
func CheckPrivileges() error {
	if os.Geteuid() == 0 {
		return nil
	}
	status, err := os.ReadFile("/proc/self/status")
	if err == nil && hasCap(string(status), capNetAdmin) {
		return nil
	}
	return fmt.Errorf("%w: IPVS needs root or CAP_NET_ADMIN (run with sudo, or give the binary cap_net_admin)", ErrPrerequisite)
}

func hasCap(status string, bit uint) bool {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && m&(1<<bit) != 0
		}
	}
	return false
}
