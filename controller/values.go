package controller

import (
	"github.com/lvsnode/lvsnode/ipvs"
)

// ServiceValue returns the service the Spec asks for. With cur == nil it is
// a new service: options left out take ipvsadm's defaults (scheduler wlc,
// no persistence, full netmask). With cur set it is an edit: options left
// out keep their current value (unlike ipvsadm -E, which resets them).
func (s Spec) ServiceValue(cur *ipvs.Service) (ipvs.Service, error) {
	var v ipvs.Service
	if cur != nil {
		v = *cur
		v.Stats = ipvs.Stats{}
	} else {
		v = ipvs.Service{ServiceKey: s.Service, Scheduler: DefaultScheduler, Netmask: ipvs.FullMask(s.Service.Is6())}
	}
	if s.Scheduler != "" && s.Scheduler != v.Scheduler {
		// Scheduler flags mean something else (or nothing) to another
		// scheduler: a change without -b drops them.
		v.Scheduler = s.Scheduler
		v.Flags &^= ipvs.FlagSched1 | ipvs.FlagSched2 | ipvs.FlagSched3
	}
	if s.Persistent != nil {
		if *s.Persistent == 0 {
			v.Flags &^= ipvs.FlagPersistent
			v.Timeout = 0
		} else {
			v.Flags |= ipvs.FlagPersistent
			v.Timeout = *s.Persistent
		}
	}
	if s.Netmask != nil {
		v.Netmask, v.Mask4 = *s.Netmask, s.Mask4
	}
	if s.PEName != nil {
		v.PEName = *s.PEName
	}
	if s.OnePacket {
		v.Flags |= ipvs.FlagOnePacket
	}
	if s.SchedFlags != 0 {
		v.Flags = v.Flags&^(ipvs.FlagSched1|ipvs.FlagSched2|ipvs.FlagSched3) | s.SchedFlags
	}
	if v.FWMark == 0 && v.Port == 0 && v.Flags&ipvs.FlagPersistent == 0 {
		return v, inputErr("service %s has port 0 (all ports): that needs persistence (-p)", v.ServiceKey)
	}
	return v, nil
}

// DestValue returns the real server the Spec asks for. With cur == nil it
// is new: options left out take ipvsadm's defaults (direct routing, weight
// 1). With cur set, options left out keep their current value: -w alone
// keeps the method, tunnel type, tunnel port, checksum mode and thresholds.
//
// DR and TUN cannot map ports, so a new real server, or one switched to DR
// or TUN, must have the service's port. One that already has another port
// (other clients can create it; the kernel ignores the port for DR and TUN)
// can still be edited.
func (s Spec) DestValue(cur *ipvs.Destination) (ipvs.Destination, error) {
	d, err := s.destValue(cur)
	if err != nil {
		return d, err
	}
	if cur == nil || methodOf(*cur) != d.Forward {
		return d, checkPortMap(s.Service, d)
	}
	return d, nil
}

// ruleDest is the real server of a restore -a line: as written, port
// included, so that a table saved from the kernel restores to the same
// table (ipvsadm -R would silently move a DR/TUN real server to the
// service's port).
func (s Spec) ruleDest() (ipvs.Destination, error) { return s.destValue(nil) }

// methodOf is the forwarding method of a kernel real server as the user set
// it: the kernel reports Local for the director's own addresses.
func methodOf(d ipvs.Destination) ipvs.Forward {
	if d.Forward == ipvs.Local {
		return ipvs.Route
	}
	return d.Forward
}

func (s Spec) destValue(cur *ipvs.Destination) (ipvs.Destination, error) {
	var d ipvs.Destination
	if cur != nil {
		d = *cur
		d.ActiveConns, d.InactiveConns, d.PersistentConns, d.Stats = 0, 0, 0, ipvs.Stats{}
		if d.Forward == ipvs.Local {
			d.Forward = ipvs.Route // the kernel's marker for "real server is this host"
		}
	} else {
		d = ipvs.Destination{DestKey: s.Real, Forward: ipvs.Route, Weight: 1}
	}
	if s.Forward != nil {
		d.Forward = *s.Forward
	}
	if d.Forward != ipvs.Tunnel {
		d.TunnelType, d.TunnelPort, d.TunnelFlags = ipvs.IPIP, 0, ipvs.NoCsum
	}
	if s.TunType != nil && *s.TunType != d.TunnelType {
		// Another tunnel type: the old one's port and checksum mode
		// mean nothing to it.
		d.TunnelType, d.TunnelPort, d.TunnelFlags = *s.TunType, 0, ipvs.NoCsum
	}
	if s.TunPort != 0 {
		if d.TunnelType != ipvs.GUE {
			return d, inputErr("real server %s: --tun-port is only for --tun-type gue (this one is %s)", d.DestKey, d.TunnelType)
		}
		d.TunnelPort = s.TunPort
	}
	if s.TunFlags != nil {
		switch {
		case d.TunnelType == ipvs.IPIP:
			return d, inputErr("real server %s: checksum options (--tun-*csum) are only for gue and gre tunnels (this one is ipip)", d.DestKey)
		case d.TunnelType == ipvs.GRE && *s.TunFlags == ipvs.RemCsum:
			return d, inputErr("real server %s: --tun-remcsum is only for gue tunnels (this one is gre)", d.DestKey)
		}
		d.TunnelFlags = *s.TunFlags
	}
	if s.Weight != nil {
		d.Weight = *s.Weight
	}
	if s.Upper != nil {
		d.UpperThreshold = *s.Upper
	}
	if s.Lower != nil {
		d.LowerThreshold = *s.Lower
	}
	return d, CheckDest(s.Service, d)
}

// CheckDest applies the rules the kernel or ipvsadm would otherwise reject
// late or silently "fix".
func CheckDest(k ipvs.ServiceKey, d ipvs.Destination) error {
	if d.Addr.Is6() != k.Is6() && d.Forward != ipvs.Tunnel {
		return inputErr("real server %s and service %s differ in address family: only tunnelling (-i) can cross families", d.DestKey, k)
	}
	if d.LowerThreshold > d.UpperThreshold {
		return inputErr("real server %s: lower threshold -y %d is above upper threshold -x %d (the kernel refuses it)", d.DestKey, d.LowerThreshold, d.UpperThreshold)
	}
	if d.Forward == ipvs.Tunnel && d.TunnelType == ipvs.GUE && d.TunnelPort == 0 {
		return inputErr("real server %s: --tun-type gue needs --tun-port", d.DestKey)
	}
	return nil
}

// checkPortMap refuses a DR or TUN real server whose port is not the
// service's: those methods cannot map ports (ipvsadm silently uses the
// service port instead).
func checkPortMap(k ipvs.ServiceKey, d ipvs.Destination) error {
	if k.FWMark == 0 && (d.Forward == ipvs.Route || d.Forward == ipvs.Tunnel) && d.Port != k.Port {
		return inputErr("real server %s: %s cannot map ports, its port must be the service port %d (use -m for NAT, or -r %s)",
			d.DestKey, methodName(d.Forward), k.Port, ipvs.DestKey{Addr: d.Addr, Port: k.Port})
	}
	return nil
}

func methodName(f ipvs.Forward) string {
	switch f {
	case ipvs.Route:
		return "direct routing (-g)"
	case ipvs.Tunnel:
		return "tunnelling (-i)"
	case ipvs.Masq:
		return "NAT (-m)"
	}
	return f.String()
}

// hasServiceOpts reports whether the command line names a service setting
// (-s -p -M -o -b --pe), which add-node then applies to an existing service.
func (s Spec) hasServiceOpts() bool {
	return s.Scheduler != "" || s.Persistent != nil || s.Netmask != nil || s.OnePacket || s.SchedFlags != 0 || s.PEName != nil
}
