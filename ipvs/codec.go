package ipvs

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"syscall"
)

// Attribute encoding and decoding of services and real servers for the
// raw paths (rawnl.go), following the kernel's policy in ip_vs_ctl.c: the
// same attributes libipvs (ipvsadm) sends.

func putAttr(b []byte, typ uint16, data []byte) []byte {
	l := nlaHdrLen + len(data)
	b = binary.NativeEndian.AppendUint16(b, uint16(l))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func u16(v uint16) []byte { return binary.NativeEndian.AppendUint16(nil, v) }
func u32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }
func be16(v uint16) []byte {
	return []byte{byte(v >> 8), byte(v)}
}

// serviceAttrs is the nested service attribute; full adds the settings
// (create and update), otherwise only the identity.
func serviceAttrs(s Service, full bool) []byte {
	var in []byte
	if s.Is6() {
		in = putAttr(in, svcAttrAF, u16(syscall.AF_INET6))
	} else {
		in = putAttr(in, svcAttrAF, u16(syscall.AF_INET))
	}
	if s.FWMark != 0 {
		in = putAttr(in, svcAttrFWMark, u32(s.FWMark))
	} else {
		in = putAttr(in, svcAttrProto, u16(uint16(s.Protocol)))
		in = putAttr(in, svcAttrAddr, addr16(s.Addr))
		in = putAttr(in, svcAttrPort, be16(s.Port))
	}
	if full {
		in = putAttr(in, svcAttrSched, append([]byte(s.Scheduler), 0))
		// libipvs always sends the engine, "" for none, which the
		// kernel reads as "no engine" (an edit drops the old one).
		in = putAttr(in, svcAttrPEName, append([]byte(s.PEName), 0))
		flags := u32(s.Flags &^ FlagHashed)
		flags = append(flags, 0xff, 0xff, 0xff, 0xff) // mask: set every flag
		in = putAttr(in, svcAttrFlags, flags)
		in = putAttr(in, svcAttrTmo, u32(s.Timeout))
		bits := maskBits(s)
		if s.Is6() {
			in = putAttr(in, svcAttrMask, u32(uint32(bits)))
		} else {
			m := ^uint32(0) << (32 - bits) // 0 for /0
			if s.Mask4 != 0 {
				m = s.Mask4
			}
			in = putAttr(in, svcAttrMask, []byte{byte(m >> 24), byte(m >> 16), byte(m >> 8), byte(m)})
		}
	}
	return putAttr(nil, cmdAttrService, in)
}

// destAttrs is the nested real-server attribute; full adds the settings.
func destAttrs(d Destination, full bool) []byte {
	var in []byte
	in = putAttr(in, dstAttrAddr, addr16(d.Addr))
	in = putAttr(in, dstAttrPort, be16(d.Port))
	if d.Addr.Is6() {
		in = putAttr(in, dstAttrAF, u16(syscall.AF_INET6))
	} else {
		in = putAttr(in, dstAttrAF, u16(syscall.AF_INET))
	}
	if full {
		in = putAttr(in, dstAttrFwd, u32(uint32(d.Forward)))
		in = putAttr(in, dstAttrW, u32(d.Weight))
		in = putAttr(in, dstAttrU, u32(d.UpperThreshold))
		in = putAttr(in, dstAttrL, u32(d.LowerThreshold))
		in = putAttr(in, dstAttrTType, []byte{byte(d.TunnelType)})
		in = putAttr(in, dstAttrTPort, be16(d.TunnelPort))
		in = putAttr(in, dstAttrTFlag, u16(uint16(d.TunnelFlags)))
	}
	return putAttr(nil, cmdAttrDest, in)
}

// eachAttr calls fn for every attribute in b.
func eachAttr(b []byte, fn func(typ uint16, data []byte)) error {
	for len(b) >= nlaHdrLen {
		l := int(binary.NativeEndian.Uint16(b))
		typ := binary.NativeEndian.Uint16(b[2:]) & 0x3fff // drop NESTED/BYTEORDER flags
		if l < nlaHdrLen || l > len(b) {
			return errors.New("malformed netlink attribute")
		}
		fn(typ, b[nlaHdrLen:l])
		al := (l + 3) &^ 3
		if al > len(b) {
			break
		}
		b = b[al:]
	}
	return nil
}

// cString is a NUL-terminated string attribute.
func cString(b []byte) string {
	n := 0
	for n < len(b) && b[n] != 0 {
		n++
	}
	return string(b[:n])
}

func getU16(b []byte) uint16 {
	if len(b) < 2 {
		return 0
	}
	return binary.NativeEndian.Uint16(b)
}

func getU32(b []byte) uint32 {
	if len(b) < 4 {
		return 0
	}
	return binary.NativeEndian.Uint32(b)
}

func getBE16(b []byte) uint16 {
	if len(b) < 2 {
		return 0
	}
	return uint16(b[0])<<8 | uint16(b[1])
}

func getAddr(b []byte, v6 bool) netip.Addr {
	if v6 && len(b) >= 16 {
		return netip.AddrFrom16([16]byte(b[:16]))
	}
	if !v6 && len(b) >= 4 {
		return netip.AddrFrom4([4]byte(b[:4]))
	}
	return netip.Addr{}
}

func decodeStats64(b []byte) Stats {
	var s Stats
	_ = eachAttr(b, func(typ uint16, d []byte) {
		if len(d) < 8 {
			return
		}
		v := binary.NativeEndian.Uint64(d)
		switch typ {
		case 1:
			s.Conns = v
		case 2:
			s.InPkts = v
		case 3:
			s.OutPkts = v
		case 4:
			s.InBytes = v
		case 5:
			s.OutBytes = v
		case 6:
			s.CPS = v
		case 7:
			s.InPPS = v
		case 8:
			s.OutPPS = v
		case 9:
			s.InBPS = v
		case 10:
			s.OutBPS = v
		}
	})
	return s
}

// decodeService reads one GET_SERVICE answer.
func decodeService(msg []byte) (Service, error) {
	var s Service
	var raw []byte
	err := eachAttr(msg, func(typ uint16, d []byte) {
		if typ == cmdAttrService {
			raw = d
		}
	})
	if err != nil || raw == nil {
		return s, errors.New("service answer without a service")
	}
	var af uint16
	var addr, mask []byte
	err = eachAttr(raw, func(typ uint16, d []byte) {
		switch typ {
		case svcAttrAF:
			af = getU16(d)
		case svcAttrProto:
			s.Protocol = Protocol(getU16(d))
		case svcAttrAddr:
			addr = d
		case svcAttrPort:
			s.Port = getBE16(d)
		case svcAttrFWMark:
			s.FWMark = getU32(d)
		case svcAttrSched:
			s.Scheduler = cString(d)
		case svcAttrPEName:
			s.PEName = cString(d)
		case svcAttrFlags:
			s.Flags = getU32(d) &^ FlagHashed
		case svcAttrTmo:
			s.Timeout = getU32(d)
		case svcAttrMask:
			mask = d
		case svcAttrSt64:
			s.Stats = decodeStats64(d)
		}
	})
	if err != nil {
		return s, err
	}
	v6 := af == syscall.AF_INET6
	if s.FWMark != 0 {
		s.IPv6 = v6
		s.Protocol, s.Port = 0, 0
	} else {
		s.Addr = getAddr(addr, v6)
	}
	s.Netmask = FullMask(v6)
	if len(mask) >= 4 {
		if v6 {
			s.Netmask = int(getU32(mask))
		} else {
			m := uint32(mask[0])<<24 | uint32(mask[1])<<16 | uint32(mask[2])<<8 | uint32(mask[3])
			ones := 0
			for ones < 32 && m&(1<<(31-ones)) != 0 {
				ones++
			}
			s.Netmask = ones
			if ones < 32 && m<<ones != 0 {
				s.Netmask, s.Mask4 = 32, m // not a prefix
			}
		}
	}
	return s, nil
}

// decodeDest reads one GET_DEST answer; svc6 is the service's family, the
// default for kernels that do not report the real server's.
func decodeDest(msg []byte, svc6 bool) (Destination, error) {
	var d Destination
	var raw []byte
	err := eachAttr(msg, func(typ uint16, b []byte) {
		if typ == cmdAttrDest {
			raw = b
		}
	})
	if err != nil || raw == nil {
		return d, errors.New("real-server answer without a real server")
	}
	v6 := svc6
	var addr []byte
	err = eachAttr(raw, func(typ uint16, b []byte) {
		switch typ {
		case dstAttrAddr:
			addr = b
		case dstAttrPort:
			d.Port = getBE16(b)
		case dstAttrFwd:
			d.Forward = Forward(getU32(b) & 0x7)
		case dstAttrW:
			d.Weight = getU32(b)
		case dstAttrU:
			d.UpperThreshold = getU32(b)
		case dstAttrL:
			d.LowerThreshold = getU32(b)
		case dstAttrAct:
			d.ActiveConns = getU32(b)
		case dstAttrInact:
			d.InactiveConns = getU32(b)
		case dstAttrPers:
			d.PersistentConns = getU32(b)
		case dstAttrAF:
			v6 = getU16(b) == syscall.AF_INET6
		case dstAttrSt64:
			d.Stats = decodeStats64(b)
		case dstAttrTType:
			if len(b) > 0 {
				d.TunnelType = TunnelType(b[0])
			}
		case dstAttrTPort:
			d.TunnelPort = getBE16(b)
		case dstAttrTFlag:
			d.TunnelFlags = TunnelFlags(getU16(b))
		}
	})
	d.Addr = getAddr(addr, v6)
	return d, err
}
