// Package controller programs IPVS on a director with ipvsadm's vocabulary:
// the same options, the same -Ln columns, the same -S save format. It holds
// the logic only; cmd/lvsnode wires flags to it and ipvs/ talks to the
// kernel.
//
// Desired state is data: a Table parsed from flags or restore input is
// validated whole, diffed against one dump of the kernel (Plan, a pure
// function), and only then applied.
package controller

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/lvsnode/lvsnode/ipvs"
)

// ErrInput marks errors in what the user typed (flags, restore lines).
// The CLI maps it to exit status 2, like ipvsadm.
var ErrInput = errors.New("invalid input")

// inputErr returns a one-line error wrapping ErrInput.
func inputErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInput, fmt.Sprintf(format, a...))
}

// Schedulers are the IPVS schedulers Linux has (ipvs.AllSchedulers).
var Schedulers = ipvs.AllSchedulers

const (
	// DefaultScheduler is ipvsadm's default.
	DefaultScheduler = "wlc"
	// DefaultPersistence is ipvsadm's timeout for a bare -p.
	DefaultPersistence = 300
	maxTimeout         = 86400 * 31 // ipvsadm's MAX_TIMEOUT
	maxThreshold       = 1<<31 - 1
)

// Flags are ipvsadm's options as typed, before interpretation. The CLI and
// the restore parser both fill one and call Parse, so both accept exactly
// the same language. Empty strings mean "not given".
type Flags struct {
	TCP, UDP, SCTP, FWMark string
	IPv6                   bool
	Scheduler              string
	Persistent             string // "" not given; a number of seconds
	NoPersistent           bool   // edit-service: turn persistence off
	Netmask                string
	PE                     string // --pe: persistence engine ("sip")
	NoPE                   bool   // edit-service: drop the engine
	OnePacket              bool
	SchedFlags             string // -b: sh-fallback,sh-port,mh-fallback,mh-port,flag-1..3
	Real                   string
	DR, TUN, NAT           bool
	Weight, Upper, Lower   string
	TunType, TunPort       string
	TunNoCsum, TunCsum     bool
	TunRemCsum             bool

	// rules: the options come from a restore line, where -M is read as
	// ipvsadm -R reads it (see parseNetmask).
	rules bool
}

// Spec is a parsed, validated command: a service key plus the settings
// that were given. Pointers are nil when the option was left out, so that
// edits can keep current values.
type Spec struct {
	Service    ipvs.ServiceKey
	Scheduler  string
	Persistent *uint32 // timeout; 0 means "turn persistence off"
	Netmask    *int    // prefix length; nil = not given (0 is /0)
	Mask4      uint32  // with Netmask: an IPv4 mask that is not a prefix (ipvs.Service.Mask4)
	PEName     *string // persistence engine; "" = none; nil = not given
	OnePacket  bool
	SchedFlags uint32

	HasReal  bool
	Real     ipvs.DestKey
	portSet  bool
	Forward  *ipvs.Forward
	Weight   *uint32
	Upper    *uint32
	Lower    *uint32
	TunType  *ipvs.TunnelType // nil: keep the current type (ipip when new)
	TunPort  uint16           // 0 = not given
	TunFlags *ipvs.TunnelFlags
}

// Parse interprets and validates Flags. Every error wraps ErrInput and is
// one line naming the offending option.
func Parse(f Flags) (Spec, error) {
	var s Spec
	var err error
	if s.Service, err = parseServiceKey(f); err != nil {
		return s, err
	}
	if f.Scheduler != "" {
		if !slices.Contains(Schedulers, f.Scheduler) {
			return s, inputErr("unknown scheduler %q (-s): one of %s", f.Scheduler, strings.Join(Schedulers, " "))
		}
		s.Scheduler = f.Scheduler
	}
	if f.Persistent != "" {
		t, err := parseUint(f.Persistent, 1, maxTimeout, "persistence timeout (-p)")
		if err != nil {
			return s, err
		}
		t32 := uint32(t)
		s.Persistent = &t32
	}
	if f.NoPersistent {
		if s.Persistent != nil {
			return s, inputErr("-p and --no-persistent contradict each other")
		}
		zero := uint32(0)
		s.Persistent = &zero
	}
	if f.Netmask != "" {
		m, m4, err := parseNetmask(f.Netmask, s.Service.Is6(), f.rules)
		if err != nil {
			return s, err
		}
		s.Netmask, s.Mask4 = &m, m4
	}
	if f.PE != "" || f.NoPE {
		if f.PE != "" && f.NoPE {
			return s, inputErr("--pe and --no-pe contradict each other")
		}
		if f.PE != "" && !validPE(f.PE) {
			return s, inputErr("persistence engine %q (--pe): want a module suffix of up to 15 letters, digits or '_' (sip: ip_vs_pe_sip)", f.PE)
		}
		s.PEName = ptr(f.PE)
	}
	if f.OnePacket {
		if s.Service.FWMark == 0 && s.Service.Protocol != ipvs.UDP {
			return s, inputErr("one-packet scheduling (-o) is only for UDP or fwmark services")
		}
		s.OnePacket = true
	}
	if f.SchedFlags != "" {
		if s.SchedFlags, err = parseSchedFlags(f.SchedFlags, f.Scheduler); err != nil {
			return s, err
		}
	}
	if err := parseReal(f, &s); err != nil {
		return s, err
	}
	return s, nil
}

func parseUint(v string, lo, hi uint64, what string) (uint64, error) {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, inputErr("%s %q: want a whole number from %d to %d", what, v, lo, hi)
	}
	return n, nil
}

func parseServiceKey(f Flags) (ipvs.ServiceKey, error) {
	var k ipvs.ServiceKey
	given := 0
	var proto ipvs.Protocol
	var addr string
	for _, c := range []struct {
		v string
		p ipvs.Protocol
	}{{f.TCP, ipvs.TCP}, {f.UDP, ipvs.UDP}, {f.SCTP, ipvs.SCTP}} {
		if c.v != "" {
			given++
			proto, addr = c.p, c.v
		}
	}
	if f.FWMark != "" {
		given++
	}
	switch {
	case given == 0:
		return k, inputErr("no service given: use -t|-u|--sctp-service VIP:PORT or -f FWMARK")
	case given > 1:
		return k, inputErr("give exactly one of -t, -u, --sctp-service, -f")
	}
	if f.FWMark != "" {
		m, err := parseUint(f.FWMark, 1, 1<<32-1, "fwmark (-f)")
		if err != nil {
			return k, err
		}
		return ipvs.ServiceKey{FWMark: uint32(m), IPv6: f.IPv6}, nil
	}
	ap, portGiven, err := parseAddrPort(addr)
	if err != nil {
		return k, inputErr("service address %q: %v (want VIP:PORT or [IPv6]:PORT)", addr, err)
	}
	if f.IPv6 && !ap.Addr().Is6() {
		return k, inputErr("-6 with the IPv4 service address %s", addr)
	}
	_ = portGiven // a missing port is port 0: all ports, persistent services only
	return ipvs.ServiceKey{Protocol: proto, Addr: ap.Addr(), Port: ap.Port()}, nil
}

// parseAddrPort accepts "1.2.3.4", "1.2.3.4:80", "[fd00::1]:80", "[fd00::1]"
// and a bare "fd00::1". Addresses only: no host or service names. An
// IPv4-mapped IPv6 address ([::ffff:10.0.0.5]) stays IPv6, as ipvsadm
// keeps it: the kernel has an IPv6 service at it, saved in that form.
func parseAddrPort(s string) (netip.AddrPort, bool, error) {
	// One colon is IPv4:port: no ParseAddr, whose error allocates (on
	// every line of a restore).
	if strings.Count(s, ":") != 1 {
		if a, err := netip.ParseAddr(s); err == nil {
			return netip.AddrPortFrom(a, 0), false, checkUnicast(a)
		}
	}
	if strings.HasPrefix(s, "[") && strings.HasSuffix(s, "]") {
		a, err := netip.ParseAddr(s[1 : len(s)-1])
		if err != nil || !a.Is6() {
			return netip.AddrPort{}, false, errors.New("not an IPv6 address")
		}
		return netip.AddrPortFrom(a, 0), false, checkUnicast(a)
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		if strings.ContainsAny(s, "ghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ") {
			return netip.AddrPort{}, false, errors.New("not an address[:port]: names are not resolved, give numbers (ipvsadm -S -n, not -S)")
		}
		return netip.AddrPort{}, false, errors.New("not an address[:port]")
	}
	if ap.Addr().Zone() != "" {
		return netip.AddrPort{}, false, errors.New("zoned addresses are not supported")
	}
	return ap, true, checkUnicast(ap.Addr())
}

// ParseRealAddr reads -r for a command without a service (drain-node
// --all-services): the address, and the port only when one is given.
func ParseRealAddr(v string) (netip.Addr, *uint16, error) {
	if v == "" {
		return netip.Addr{}, nil, inputErr("a real server is needed (-r RIP[:PORT])")
	}
	ap, portGiven, err := parseAddrPort(v)
	if err != nil {
		return netip.Addr{}, nil, inputErr("real server %q (-r): %v", v, err)
	}
	if !portGiven {
		return ap.Addr(), nil, nil
	}
	p := ap.Port()
	return ap.Addr(), &p, nil
}

func checkUnicast(a netip.Addr) error {
	if a.Zone() != "" {
		return errors.New("zoned addresses are not supported")
	}
	if a.IsUnspecified() || a.IsMulticast() {
		return errors.New("not a unicast address")
	}
	return nil
}

// parseNetmask reads -M and returns a prefix length, plus the mask itself
// when it is an IPv4 mask that is not a prefix (the kernel keeps any IPv4
// mask). IPv6 takes a prefix length 1-128 (the kernel refuses /0). IPv4
// takes what ipvsadm takes, read by inet_aton: 255.255.255.0, 0.0.0.0 (/0,
// one persistence group for all clients), even 255.0.255.0. A bare number
// is where the two readings part: on the command line it is a prefix
// length (-M 24 = 255.255.255.0), as --help says; in restore input it is
// what ipvsadm -R makes of it, inet_aton's 0.0.0.24, so that a rules file
// means the same table to both.
func parseNetmask(v string, v6, rules bool) (int, uint32, error) {
	if v6 {
		n, err := parseUint(v, 1, 128, "IPv6 persistence prefix length (-M)")
		return int(n), 0, err
	}
	if !rules && isDigits(v) {
		n, err := parseUint(v, 0, 32, "netmask (-M) prefix length")
		return int(n), 0, err
	}
	m, ok := inetAton(v)
	if !ok {
		return 0, 0, inputErr("netmask (-M) %q: want a dotted mask like 255.255.255.0 (or on the command line a length 0-32)", v)
	}
	ones := 0
	for ones < 32 && m&(1<<(31-ones)) != 0 {
		ones++
	}
	if ones < 32 && m<<ones != 0 {
		return ipvs.FullMask(false), m, nil // not a prefix: kept as is
	}
	return ones, 0, nil
}

// inetAton reads an IPv4 address as C's inet_aton does: "a.b.c.d", "a.b.c",
// "a.b" or "a", each part decimal, octal (leading 0) or hex (0x), the last
// part filling the bytes that remain ("24" is 0.0.0.24).
func inetAton(s string) (uint32, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return 0, false
	}
	var v uint32
	for i, p := range parts {
		n, ok := cNumber(p)
		if !ok {
			return 0, false
		}
		if i < len(parts)-1 {
			if n > 0xff {
				return 0, false
			}
			v |= uint32(n) << (24 - 8*i)
			continue
		}
		rest := 32 - 8*i // bits the last part may fill
		if rest < 32 && n >= 1<<rest {
			return 0, false
		}
		v |= uint32(n)
	}
	return v, true
}

// cNumber reads one inet_aton part as strtoul with base 0 does: 0x for
// hex, a leading 0 for octal, else decimal (no sign, no underscores).
func cNumber(p string) (uint64, bool) {
	base := 10
	switch {
	case len(p) > 2 && (p[:2] == "0x" || p[:2] == "0X"):
		p, base = p[2:], 16
	case len(p) > 1 && p[0] == '0':
		p, base = p[1:], 8
	}
	if p == "" || p[0] == '+' || p[0] == '-' || strings.Contains(p, "_") {
		return 0, false
	}
	n, err := strconv.ParseUint(p, base, 32)
	return n, err == nil
}

// validPE accepts a persistence engine name the kernel can look up as
// module ip_vs_pe_NAME (IP_VS_PENAME_MAXLEN is 16 with the NUL).
func validPE(v string) bool {
	if len(v) > 15 {
		return false
	}
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

// schedFlagNames maps -b names to service flag bits.
var schedFlagNames = map[string]uint32{
	"flag-1": ipvs.FlagSched1, "flag-2": ipvs.FlagSched2, "flag-3": ipvs.FlagSched3,
	"sh-fallback": ipvs.FlagSched1, "sh-port": ipvs.FlagSched2,
	"mh-fallback": ipvs.FlagSched1, "mh-port": ipvs.FlagSched2,
}

func parseSchedFlags(v, sched string) (uint32, error) {
	var out uint32
	for _, name := range strings.Split(v, ",") {
		bit, ok := schedFlagNames[name]
		if !ok {
			return 0, inputErr("unknown scheduler flag %q (-b): sh-fallback sh-port mh-fallback mh-port flag-1 flag-2 flag-3", name)
		}
		if p, _, found := strings.Cut(name, "-"); found && (p == "sh" || p == "mh") && sched != "" && sched != p {
			return 0, inputErr("scheduler flag %q (-b) needs scheduler %s, not %s", name, p, sched)
		}
		out |= bit
	}
	return out, nil
}

func parseReal(f Flags, s *Spec) error {
	nfwd := 0
	for _, b := range []bool{f.DR, f.TUN, f.NAT} {
		if b {
			nfwd++
		}
	}
	if nfwd > 1 {
		return inputErr("give at most one forwarding method: -g (direct routing), -i (tunnel), -m (NAT)")
	}
	tunOpts := f.TunType != "" || f.TunPort != "" || f.TunNoCsum || f.TunCsum || f.TunRemCsum
	if f.Real == "" {
		if nfwd > 0 || f.Weight != "" || f.Upper != "" || f.Lower != "" || tunOpts {
			return inputErr("real-server options (-g -i -m -w -x -y --tun-*) need a real server (-r)")
		}
		return nil
	}
	ap, portGiven, err := parseAddrPort(f.Real)
	if err == nil {
		err = ipvs.CheckDestAddr(ap.Addr()) // refused by the kernel anyway: refuse before changing anything
	}
	if err != nil {
		return inputErr("real server %q (-r): %v", f.Real, err)
	}
	s.HasReal, s.portSet = true, portGiven
	s.Real = ipvs.DestKey{Addr: ap.Addr(), Port: ap.Port()}
	if !portGiven {
		s.Real.Port = s.Service.Port
	}
	switch {
	case f.DR:
		s.Forward = ptr(ipvs.Route)
	case f.TUN:
		s.Forward = ptr(ipvs.Tunnel)
	case f.NAT:
		s.Forward = ptr(ipvs.Masq)
	}
	if f.Weight != "" {
		w, err := parseUint(f.Weight, 0, 65535, "weight (-w)")
		if err != nil {
			return err
		}
		s.Weight = ptr(uint32(w))
	}
	if f.Upper != "" {
		x, err := parseUint(f.Upper, 0, maxThreshold, "upper threshold (-x)")
		if err != nil {
			return err
		}
		s.Upper = ptr(uint32(x))
	}
	if f.Lower != "" {
		y, err := parseUint(f.Lower, 0, maxThreshold, "lower threshold (-y)")
		if err != nil {
			return err
		}
		s.Lower = ptr(uint32(y))
	}
	if tunOpts {
		if s.Forward == nil || *s.Forward != ipvs.Tunnel {
			return inputErr("tunnel options (--tun-*) need the tunnel method (-i)")
		}
		if err := parseTunnel(f, s); err != nil {
			return err
		}
	}
	return nil
}

// parseTunnel reads the --tun-* options. Only what was given is set: the
// type stays nil without --tun-type, so that edit-node can change one
// option of an existing tunnel. Whether the options fit the type is
// checked on the merged value (DestValue), where the type is known: the
// one given, the current one, or ipip for a new real server.
func parseTunnel(f Flags, s *Spec) error {
	switch f.TunType {
	case "":
	case "ipip":
		s.TunType = ptr(ipvs.IPIP)
	case "gue":
		s.TunType = ptr(ipvs.GUE)
	case "gre":
		s.TunType = ptr(ipvs.GRE)
	default:
		return inputErr("tunnel type %q (--tun-type): one of ipip gue gre", f.TunType)
	}
	ncs := 0
	var fl ipvs.TunnelFlags
	for _, c := range []struct {
		on bool
		v  ipvs.TunnelFlags
	}{{f.TunNoCsum, ipvs.NoCsum}, {f.TunCsum, ipvs.Csum}, {f.TunRemCsum, ipvs.RemCsum}} {
		if c.on {
			ncs++
			fl = c.v
		}
	}
	if ncs > 1 {
		return inputErr("give at most one of --tun-nocsum, --tun-csum, --tun-remcsum")
	}
	if f.TunPort != "" {
		p, err := parseUint(f.TunPort, 1, 65535, "tunnel port (--tun-port)")
		if err != nil {
			return err
		}
		s.TunPort = uint16(p)
	}
	if ncs > 0 {
		s.TunFlags = ptr(fl)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
