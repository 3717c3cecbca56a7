package agent

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Gateway is a NAT real server's default gateway: the director's DIP.
type Gateway struct {
	Addr  netip.Addr // zone-less; Dev holds an IPv6 link-local address's zone
	Dev   string     // "" = wherever the kernel's route to Addr goes
	Where string     // where it was given, for errors found on the host
}

// modeOptions validates the options of the TUN and NAT modes into o (whose
// VIPs are parsed already): tun-type and tun-port only with --mode tun,
// gateways only with --mode nat, and each mode's required values present.
func (c Config) modeOptions(o *Options) error {
	if o.Mode != ModeTUN {
		for _, kv := range []struct {
			key string
			v   Value
		}{{"tun-type", c.TunType}, {"tun-port", c.TunPort}} {
			if kv.v.S != "" {
				return kv.v.errorf("%s %q applies to mode tun only (mode is %s)", kv.key, kv.v.S, o.Mode)
			}
		}
	}
	if o.Mode != ModeNAT && len(c.Gateways) > 0 {
		return c.Gateways[0].errorf("gateway %q applies to mode nat only (mode is %s)", c.Gateways[0].S, o.Mode)
	}
	switch o.Mode {
	case ModeTUN:
		return c.tunOptions(o)
	case ModeNAT:
		return c.natOptions(o)
	}
	return nil
}

func (c Config) tunOptions(o *Options) error {
	o.TunType = TunIPIP
	if c.TunType.S != "" {
		switch t := TunType(strings.ToLower(c.TunType.S)); t {
		case TunIPIP, TunGUE, TunGRE:
			o.TunType = t
		default:
			return c.TunType.errorf("unknown tunnel type %q (want ipip, gue or gre, as the director's --tun-type)", c.TunType.S)
		}
	}
	switch {
	case o.TunType == TunGUE && c.TunPort.S == "":
		return fmt.Errorf("%w: --tun-type gue needs --tun-port N: the UDP port the director sends GUE to (its --tun-port)", ErrBadInput)
	case o.TunType != TunGUE && c.TunPort.S != "":
		return c.TunPort.errorf("tun-port %q applies to --tun-type gue only (tunnel type is %s)", c.TunPort.S, o.TunType)
	case c.TunPort.S != "":
		n, err := strconv.Atoi(strings.TrimSpace(c.TunPort.S))
		if err != nil || n < 1 || n > 65535 {
			return c.TunPort.errorf("tun-port %q: want a UDP port 1-65535", c.TunPort.S)
		}
		o.TunPort = n
	}
	return nil
}

func (c Config) natOptions(o *Options) error {
	if len(c.VIPs) > 0 {
		return c.VIPs[0].errorf("mode nat binds no VIP (the director rewrites the destination to this server's own address): drop %q", c.VIPs[0].S)
	}
	if len(c.Interfaces) > 0 {
		return c.Interfaces[0].errorf("mode nat sets no ARP sysctls: drop interface %q", c.Interfaces[0].S)
	}
	if len(c.Gateways) == 0 {
		return fmt.Errorf("%w: mode nat needs --gateway DIP (the director's address on this network; one per address family), LVSNODE_GATEWAY or gateways: in the config file", ErrBadInput)
	}
	fams := map[bool]Value{}
	for _, v := range c.Gateways {
		g, err := ParseGateway(v.S)
		if err != nil {
			return v.errorf("%v", err)
		}
		g.Where = v.Where
		if prev, dup := fams[g.Addr.Is4()]; dup {
			return v.errorf("gateway %q: a second IPv%d gateway (first: %q): one default route per family", v.S, Family(g.Addr), prev.S)
		}
		fams[g.Addr.Is4()] = v
		o.Gateways = append(o.Gateways, g)
	}
	return nil
}

// ParseGateway accepts one unicast address; an IPv6 link-local one needs
// its interface as a zone (fe80::1%eth0).
func ParseGateway(s string) (Gateway, error) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return Gateway{}, fmt.Errorf("gateway %q is not an IP address", s)
	}
	a = a.Unmap()
	g := Gateway{Addr: a.WithZone(""), Dev: a.Zone()}
	switch {
	case a.IsUnspecified(), a.IsLoopback(), a.IsMulticast(), a.Is4() && a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return Gateway{}, fmt.Errorf("gateway %q is not a unicast address", s)
	case a.IsLinkLocalUnicast() && a.Is6() && g.Dev == "":
		return Gateway{}, fmt.Errorf("gateway %q is link-local: give its interface too (fe80::1%%eth0)", s)
	case g.Dev != "":
		if err := checkDevName(g.Dev); err != nil {
			return Gateway{}, fmt.Errorf("gateway %q: interface %q: %v", s, g.Dev, err)
		}
	}
	return g, nil
}

func (g Gateway) String() string {
	if g.Dev != "" {
		return g.Addr.String() + "%" + g.Dev
	}
	return g.Addr.String()
}

// Family is 4 or 6.
func Family(a netip.Addr) int {
	if a.Is4() {
		return 4
	}
	return 6
}
