package controller

import (
	"errors"
	"fmt"
	"net"
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

func acceptRAKey(dev string) sysctl.Key { return sysctl.Key{"net", "ipv6", "conf", dev, "accept_ra"} }

// sysctlWrite is one parameter to set, and why.
type sysctlWrite struct {
	key   sysctl.Key
	value string
	why   string
}

// forwardingWrites returns what NAT for a family needs written, in order;
// none when forwarding is on already.
//
// IPv6 forwarding is global in Linux: conf.all.forwarding gates forwarding
// and writing it sets every interface's (and default's) forwarding flag,
// so it cannot be enabled on one interface only. An interface with
// forwarding on ignores router advertisements unless accept_ra is 2, and a
// director that takes its default route from RAs (accept_ra=1, the
// default) would lose it. So each interface, and "default" for those
// created later, whose accept_ra is 1 is first set to 2: it keeps
// accepting RAs exactly as before. accept_ra=0 stays 0.
func forwardingWrites(sc sysctl.Client, v6 bool, ifaces func() ([]string, error)) ([]sysctlWrite, error) {
	key := forwardingKey(v6)
	v, err := sc.Get(key)
	if err != nil {
		return nil, fmt.Errorf("%w: read %s: %v", ErrPrerequisite, key, err)
	}
	if strings.TrimSpace(v) == "1" {
		return nil, nil
	}
	var out []sysctlWrite
	if v6 {
		names, err := ifaces()
		if err != nil {
			return nil, fmt.Errorf("%w: list interfaces for their accept_ra: %v", ErrPrerequisite, err)
		}
		for _, dev := range append([]string{"default"}, names...) {
			ra, err := sc.Get(acceptRAKey(dev))
			if errors.Is(err, sysctl.ErrNotExist) {
				continue // gone, or no IPv6 on it
			}
			if err != nil {
				return nil, fmt.Errorf("%w: read %s (forwarding would stop it accepting router advertisements if it is 1): %v; set it to 2 yourself first",
					ErrPrerequisite, acceptRAKey(dev), err)
			}
			if strings.TrimSpace(ra) == "1" {
				out = append(out, sysctlWrite{acceptRAKey(dev), "2", "keeps accepting router advertisements with forwarding on"})
			}
		}
	}
	return append(out, sysctlWrite{key, "1", "for NAT"}), nil
}

// ensureForwarding checks (and with enable, sets) IP forwarding for NAT,
// see forwardingWrites. It returns notes for the user and whether anything
// was, or in a dry run would be, written.
func ensureForwarding(sc sysctl.Client, v6, enable, dryRun bool, ifaces func() ([]string, error)) ([]string, bool, error) {
	if sc == nil {
		return nil, false, nil
	}
	writes, err := forwardingWrites(sc, v6, ifaces)
	if err != nil || len(writes) == 0 {
		return nil, false, err
	}
	key := forwardingKey(v6)
	if !enable {
		cur, _ := sc.Get(key)
		return nil, false, fmt.Errorf("%w: NAT (-m) needs IP forwarding on the director, and %s is %s: rerun with --enable-forwarding (or set %s=1 in /etc/sysctl.d)",
			ErrPrerequisite, key, strings.TrimSpace(cur), key)
	}
	var notes []string
	for _, w := range writes {
		if dryRun {
			notes = append(notes, fmt.Sprintf("would set %s=%s (%s)", w.key, w.value, w.why))
			continue
		}
		if err := sc.Set(w.key, w.value); err != nil {
			return notes, true, fmt.Errorf("%w: set %s=%s: %v", ErrPrerequisite, w.key, w.value, err)
		}
		notes = append(notes, fmt.Sprintf("set %s=%s (%s; not persistent across reboots: add it to /etc/sysctl.d)", w.key, w.value, w.why))
	}
	return notes, true, nil
}

// interfaceNames lists the host's network interfaces.
func interfaceNames() ([]string, error) {
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ifs))
	for i, it := range ifs {
		names[i] = it.Name
	}
	return names, nil
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
