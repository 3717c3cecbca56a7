package ipvs

import (
	cf "github.com/cloudflare/ipvs"
	"github.com/cloudflare/ipvs/netmask"
)

// FullMask is the default persistence granularity of a family: one client
// address (/32 or /128).
func FullMask(ipv6 bool) int {
	if ipv6 {
		return 128
	}
	return 32
}

func family(ipv6 bool) cf.AddressFamily {
	if ipv6 {
		return cf.INET6
	}
	return cf.INET
}

func toCFService(s Service) cf.Service {
	v6 := s.Is6()
	bits := 32
	if v6 {
		bits = 128
	}
	nm := s.Netmask
	if nm <= 0 || nm > bits {
		// The kernel requires a netmask on create/update; 0 is not a
		// useful granularity, so treat it as "unset".
		nm = bits
	}
	out := cf.Service{
		Netmask:   netmask.MaskFrom(nm, bits),
		Scheduler: s.Scheduler,
		Timeout:   s.Timeout,
		Flags:     cf.Flags(s.Flags &^ FlagHashed),
		Family:    family(v6),
	}
	if s.FWMark != 0 {
		out.FWMark = s.FWMark
		return out
	}
	out.Address = s.Addr
	out.Port = s.Port
	out.Protocol = cf.Protocol(s.Protocol)
	return out
}

func toCFDest(d Destination) cf.Destination {
	return cf.Destination{
		Address:        d.Addr,
		Port:           d.Port,
		Family:         family(d.Addr.Is6()),
		FwdMethod:      cf.ForwardType(d.Forward),
		Weight:         d.Weight,
		UpperThreshold: d.UpperThreshold,
		LowerThreshold: d.LowerThreshold,
		TunnelType:     cf.TunnelType(d.TunnelType),
		TunnelPort:     d.TunnelPort,
		TunnelFlags:    cf.TunnelFlags(d.TunnelFlags),
	}
}
