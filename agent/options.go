package agent

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
	"time"
)

// Options validates everything in c before anything is changed anywhere.
// Every error wraps ErrBadInput and names where the bad value came from.
func (c Config) Options() (Options, error) {
	o := Options{
		Mode:           ModeDR,
		StateFile:      c.StateFile,
		SysctlFile:     c.SysctlFile,
		Listen:         c.Listen,
		ResyncInterval: c.ResyncInterval,
		TeardownOnStop: c.TeardownOnStop,
	}
	var err error
	if o.Drain, err = c.drainConfig(); err != nil {
		return Options{}, err
	}
	if c.Mode.S != "" {
		switch m := Mode(strings.ToLower(c.Mode.S)); m {
		case ModeDR, ModeTUN, ModeNAT:
			o.Mode = m
		default:
			return Options{}, c.Mode.errorf("unknown mode %q (want dr, tun or nat)", c.Mode.S)
		}
	}
	seen := map[netip.Addr]bool{}
	for _, v := range c.VIPs {
		a, err := ParseVIP(v.S)
		if err != nil {
			return Options{}, v.errorf("%v", err)
		}
		if !seen[a] {
			seen[a] = true
			o.VIPs = append(o.VIPs, a)
		}
	}
	if err := c.modeOptions(&o); err != nil {
		return Options{}, err
	}
	if o.Register, err = c.Register.registration(o); err != nil {
		return Options{}, err
	}
	if len(o.VIPs) == 0 && o.Mode != ModeNAT {
		return Options{}, fmt.Errorf("%w: no VIP given: use --vip IP (repeatable), LVSNODE_VIP or vips: in the config file", ErrBadInput)
	}
	for _, v := range c.Interfaces {
		if err := checkDevName(v.S); err != nil {
			return Options{}, v.errorf("interface %q: %v", v.S, err)
		}
		if v.S != "lo" && v.S != "all" {
			o.Interfaces = append(o.Interfaces, v.S)
		}
	}
	if o.SysctlFile != "" && (!filepath.IsAbs(o.SysctlFile) || !strings.HasSuffix(o.SysctlFile, ".conf")) {
		return Options{}, fmt.Errorf("%w: sysctl-file %q: want an absolute path ending in .conf (systemd-sysctl reads only those), e.g. /etc/sysctl.d/99-lvsnode.conf", ErrBadInput, o.SysctlFile)
	}
	if o.StateFile == "" {
		o.StateFile = DefaultStateFile
	}
	if o.ResyncInterval == 0 {
		o.ResyncInterval = DefaultResyncInterval
	}
	if o.ResyncInterval < MinResyncInterval {
		where := c.ResyncWhere
		if where == "" {
			where = "resync-interval"
		}
		return Options{}, Value{S: o.ResyncInterval.String(), Where: where}.errorf("%v is below the %v floor (each re-list reads every sysctl and dumps lo)", o.ResyncInterval, MinResyncInterval)
	}
	return o, nil
}

// drainConfig validates the drain: block (drain.timeout, drain.min-wait,
// their flags and variables).
func (c Config) drainConfig() (DrainConfig, error) {
	dc := DrainConfig{OnStop: c.DrainOnStop, Timeout: DefaultDrainTimeout, MinWait: DefaultDrainMinWait}
	parse := func(v Value, name string, zeroOK bool) (time.Duration, error) {
		d, err := time.ParseDuration(strings.TrimSpace(v.S))
		switch {
		case err != nil:
			return 0, v.errorf("%s %q is not a duration (e.g. 5m, 30s)", name, v.S)
		case d < 0 || d == 0 && !zeroOK:
			return 0, v.errorf("%s %s must be above 0", name, v.S)
		}
		return d, nil
	}
	var err error
	if c.DrainTimeout.S != "" {
		if dc.Timeout, err = parse(c.DrainTimeout, "drain timeout", false); err != nil {
			return dc, err
		}
	}
	if c.DrainMinWait.S != "" {
		if dc.MinWait, err = parse(c.DrainMinWait, "drain min-wait", true); err != nil {
			return dc, err
		}
	}
	if dc.MinWait > dc.Timeout {
		v := c.DrainMinWait
		if v.S == "" {
			v = c.DrainTimeout
		}
		return dc, v.errorf("drain min-wait %s is above the drain timeout %s: a drain could never last min-wait", dc.MinWait, dc.Timeout)
	}
	return dc, nil
}

// ParseVIP accepts exactly one IPv4 or IPv6 address. Prefixes are refused:
// a VIP is bound as a /32 (/128), and a wider prefix on lo would capture the
// whole subnet.
func ParseVIP(s string) (netip.Addr, error) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err == nil && p.IsSingleIP() {
			return ParseVIP(p.Addr().String()) // the same checks as a bare address
		}
		return netip.Addr{}, fmt.Errorf("VIP %q is a prefix: give a single address (lvsnode binds it as /32 or /128 itself)", s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fmt.Errorf("VIP %q is not an IP address", s)
	}
	a = a.Unmap()
	switch {
	case a.Zone() != "":
		return netip.Addr{}, fmt.Errorf("VIP %q has a zone: link-local VIPs cannot be load-balanced", s)
	case a.IsUnspecified(), a.IsLoopback(), a.IsMulticast(), a.IsLinkLocalUnicast():
		return netip.Addr{}, fmt.Errorf("VIP %q is not a unicast service address", s)
	}
	for _, r := range reservedVIPs {
		if r.Contains(a) {
			return netip.Addr{}, fmt.Errorf("VIP %q is in %s, %s: not a unicast service address", s, r.Prefix, r.why)
		}
	}
	return a, nil
}

// reservedVIPs are blocks no client can reach a service at, besides what
// netip already classifies (unspecified, loopback 127/8 and ::1, multicast
// 224/4 and ff00::/8, link-local 169.254/16 and fe80::/10: those exist on
// one link only, so a director cannot forward them to a real server).
// Bound on lo, such an address captures traffic the host needs elsewhere:
// 255.255.255.255 as a local address takes over `ip route get` of the
// limited broadcast.
var reservedVIPs = []struct {
	netip.Prefix
	why string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), `"this network" (RFC 1122), never a destination`},
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved (RFC 1112) with the limited broadcast 255.255.255.255, which the kernel does not route"},
	// The rest of ::/8 besides :: and ::1: the deprecated IPv4-compatible
	// addresses (RFC 4291 2.5.5.1); IPv4-mapped ones are unmapped above.
	{netip.MustParsePrefix("::/8"), "reserved by the IETF (RFC 4291), e.g. deprecated IPv4-compatible addresses"},
}

func checkDevName(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("empty name")
	case len(s) > 15:
		return fmt.Errorf("longer than 15 characters")
	case strings.ContainsAny(s, "/ \t"):
		return fmt.Errorf("not a valid interface name")
	case strings.Contains(s, "."):
		return fmt.Errorf("names containing '.' (VLAN devices) are not supported yet; set their ARP sysctls through all")
	}
	return nil
}
