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

func fromCFService(s cf.ServiceExtended) Service {
	v6 := s.Family == cf.INET6
	out := Service{
		ServiceKey: ServiceKey{FWMark: s.FWMark},
		Scheduler:  s.Scheduler,
		Timeout:    s.Timeout,
		Flags:      uint32(s.Flags) &^ FlagHashed,
		Netmask:    FullMask(v6),
		Stats:      fromCFStats(s.Stats64),
	}
	if b := s.Netmask.Bits(); b >= 0 && s.Netmask.IsValid() {
		out.Netmask = b
	}
	if s.FWMark != 0 {
		out.IPv6 = v6
	} else {
		out.Protocol = Protocol(s.Protocol)
		out.Addr = s.Address
		out.Port = s.Port
	}
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

func fromCFDest(d cf.DestinationExtended) Destination {
	return Destination{
		DestKey:         DestKey{Addr: d.Address, Port: d.Port},
		Forward:         Forward(d.FwdMethod),
		Weight:          d.Weight,
		UpperThreshold:  d.UpperThreshold,
		LowerThreshold:  d.LowerThreshold,
		TunnelType:      TunnelType(d.TunnelType),
		TunnelPort:      d.TunnelPort,
		TunnelFlags:     TunnelFlags(d.TunnelFlags),
		ActiveConns:     d.ActiveConnections,
		InactiveConns:   d.InactiveConnections,
		PersistentConns: d.PersistentConnections,
		Stats:           fromCFStats(d.Stats64),
	}
}

func fromCFStats(s cf.Stats) Stats {
	return Stats{
		Conns: s.Connections, InPkts: s.IncomingPackets, OutPkts: s.OutgoingPackets,
		InBytes: s.IncomingBytes, OutBytes: s.OutgoingBytes,
		CPS: s.ConnectionRate, InPPS: s.IncomingPacketRate, OutPPS: s.OutgoingPacketRate,
		InBPS: s.IncomingByteRate, OutBPS: s.OutgoingByteRate,
	}
}
