package director

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/lvsnode/lvsnode/ipvs"
)

// ParseService reads the NodeRef form of a service: "tcp 10.0.0.100:80",
// "udp [fd00::100]:53", "sctp 10.0.0.100:9", "fwm 7", "fwm 7 ipv6". The
// error wraps ErrInvalid.
func ParseService(s string) (ipvs.ServiceKey, error) {
	f := strings.Fields(strings.ToLower(s))
	bad := func(why string) error {
		return fmt.Errorf("%w: service %q: %s (want e.g. \"tcp 10.0.0.100:80\" or \"fwm 7\")", ErrInvalid, s, why)
	}
	if len(f) < 2 {
		return ipvs.ServiceKey{}, bad("protocol and address required")
	}
	switch f[0] {
	case "fwm":
		m, err := strconv.ParseUint(f[1], 0, 32)
		if err != nil || m == 0 {
			return ipvs.ServiceKey{}, bad("fwmark must be 1..4294967295")
		}
		k := ipvs.ServiceKey{FWMark: uint32(m)}
		switch {
		case len(f) == 2 || len(f) == 3 && f[2] == "ipv4":
		case len(f) == 3 && f[2] == "ipv6":
			k.IPv6 = true
		default:
			return ipvs.ServiceKey{}, bad("after the mark only ipv4 or ipv6")
		}
		return k, nil
	case "tcp", "udp", "sctp":
	default:
		return ipvs.ServiceKey{}, bad("protocol must be tcp, udp, sctp or fwm")
	}
	if len(f) != 2 {
		return ipvs.ServiceKey{}, bad("extra words")
	}
	ap, err := netip.ParseAddrPort(f[1])
	if err != nil || ap.Port() == 0 || ap.Addr().Zone() != "" {
		return ipvs.ServiceKey{}, bad("address:port with a port 1..65535 required")
	}
	proto := map[string]ipvs.Protocol{"tcp": ipvs.TCP, "udp": ipvs.UDP, "sctp": ipvs.SCTP}[f[0]]
	return ipvs.ServiceKey{Protocol: proto, Addr: ap.Addr().Unmap(), Port: ap.Port()}, nil
}

// ServiceName is the canonical NodeRef form of k (ParseService's input).
func ServiceName(k ipvs.ServiceKey) string {
	if k.FWMark != 0 {
		if k.IPv6 {
			return fmt.Sprintf("fwm %d ipv6", k.FWMark)
		}
		return fmt.Sprintf("fwm %d", k.FWMark)
	}
	return strings.ToLower(k.Protocol.String()) + " " + netip.AddrPortFrom(k.Addr, k.Port).String()
}

// parseMethod maps the config/API method names to IPVS's.
func parseMethod(m string) (ipvs.Forward, error) {
	switch m {
	case "", "dr":
		return ipvs.Route, nil
	case "tun":
		return ipvs.Tunnel, nil
	case "nat":
		return ipvs.Masq, nil
	}
	return 0, fmt.Errorf("%w: method %q: want dr, tun or nat", ErrInvalid, m)
}

func methodName(f ipvs.Forward) string {
	switch f {
	case ipvs.Tunnel:
		return "tun"
	case ipvs.Masq:
		return "nat"
	case ipvs.Local:
		return "local"
	}
	return "dr"
}

func parseTunType(t string) (ipvs.TunnelType, error) {
	switch t {
	case "", "ipip":
		return ipvs.IPIP, nil
	case "gue":
		return ipvs.GUE, nil
	case "gre":
		return ipvs.GRE, nil
	}
	return 0, fmt.Errorf("%w: tun_type %q: want ipip, gue or gre", ErrInvalid, t)
}

func parseTunCsum(c string) (ipvs.TunnelFlags, error) {
	switch c {
	case "", "none":
		return ipvs.NoCsum, nil
	case "csum":
		return ipvs.Csum, nil
	case "remcsum":
		return ipvs.RemCsum, nil
	}
	return 0, fmt.Errorf("%w: tun_csum %q: want none, csum or remcsum", ErrInvalid, c)
}
