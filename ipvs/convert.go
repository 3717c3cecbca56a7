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

// maskBits is the prefix length to send for s: its Netmask, where 0 is
// /0 (IPv4 persistence over all clients, which the kernel and ipvsadm
// accept), and the full length only for values out of range.
func maskBits(s Service) int {
	if s.Netmask < 0 || s.Netmask > FullMask(s.Is6()) {
		return FullMask(s.Is6())
	}
	return s.Netmask
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
	out := cf.Service{
		Netmask:   netmask.MaskFrom(maskBits(s), bits),
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
