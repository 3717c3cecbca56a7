package ipvs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/mdlayher/netlink"
)

// The one encoder and decoder of IPVS generic-netlink messages
// (include/uapi/linux/ip_vs.h). Requests are byte for byte what libipvs
// (ipvsadm 1.31) sends for the same command: the same attributes in the same
// order, nested ones flagged NLA_F_NESTED; testdata/*.hex holds ipvsadm's
// requests and the kernel's answers captured in the lab, and codec_test.go
// compares.

const (
	genlName    = "IPVS"
	genlVersion = 1

	cmdNewSvc     = 1
	cmdSetSvc     = 2
	cmdDelSvc     = 3
	cmdGetSvc     = 4
	cmdNewDest    = 5
	cmdSetDest    = 6
	cmdDelDest    = 7
	cmdGetDest    = 8
	cmdNewDaemon  = 9
	cmdDelDaemon  = 10
	cmdGetDaemon  = 11
	cmdSetConfig  = 12
	cmdGetConfig  = 13
	cmdGetInfo    = 15
	cmdZero       = 16
	cmdFlush      = 17
	attrService   = 1 // IPVS_CMD_ATTR_*
	attrDest      = 2
	attrDaemon    = 3
	attrTCP       = 4
	attrTCPFin    = 5
	attrUDP       = 6
	svcAF         = 1 // IPVS_SVC_ATTR_*
	svcProto      = 2
	svcAddr       = 3
	svcPort       = 4
	svcFWMark     = 5
	svcSched      = 6
	svcFlags      = 7
	svcTimeout    = 8
	svcNetmask    = 9
	svcPEName     = 11
	svcStats64    = 12
	dstAddr       = 1 // IPVS_DEST_ATTR_*
	dstPort       = 2
	dstFwd        = 3
	dstWeight     = 4
	dstUThresh    = 5
	dstLThresh    = 6
	dstActive     = 7
	dstInactive   = 8
	dstPersist    = 9
	dstAF         = 11
	dstStats64    = 12
	dstTunType    = 13
	dstTunPort    = 14
	dstTunFlags   = 15
	infoVersion   = 1 // IPVS_INFO_ATTR_*
	infoTableSize = 2
	dmnState      = 1 // IPVS_DAEMON_ATTR_*
	dmnIfname     = 2
	dmnSyncID     = 3
	dmnSyncMaxLen = 4
	dmnGroup      = 5
	dmnGroup6     = 6
	dmnPort       = 7
	dmnTTL        = 8

	// Linux's address family numbers (not the host's: this file builds
	// everywhere).
	afInet  = 2
	afInet6 = 10
)

// Daemon is a connection-sync daemon (ipvsadm --start-daemon).
type Daemon struct {
	State     uint32 // DaemonMaster or DaemonBackup
	Interface string // multicast interface
	SyncID    uint32
	MaxLen    uint16     // sync message size, 0: the kernel's default
	Group     netip.Addr // multicast group, invalid: the kernel's default
	Port      uint16     // 0: the kernel's default
	TTL       uint8      // 0: the kernel's default
}

// Sync daemon states (IP_VS_STATE_*).
const (
	DaemonMaster uint32 = 1
	DaemonBackup uint32 = 2
)

func af(v6 bool) uint16 {
	if v6 {
		return afInet6
	}
	return afInet
}

func be16(v uint16) []byte { return []byte{byte(v >> 8), byte(v)} }

// encodeService writes the nested service: its key, and with full its
// settings too, in libipvs's order. libipvs sends the settings with every
// command but a dump, the command line's defaults when it names none: so
// does keyService.
func encodeService(ae *netlink.AttributeEncoder, s Service, full bool) {
	ae.Nested(attrService, func(ae *netlink.AttributeEncoder) error {
		ae.Uint16(svcAF, af(s.Is6()))
		if s.FWMark != 0 {
			ae.Uint32(svcFWMark, s.FWMark)
		} else {
			ae.Uint16(svcProto, uint16(s.Protocol))
			ae.Bytes(svcAddr, addr16(s.Addr))
			ae.Bytes(svcPort, be16(s.Port))
		}
		if !full {
			return nil
		}
		ae.String(svcSched, s.Scheduler)
		if s.PEName != "" {
			ae.String(svcPEName, s.PEName)
		}
		flags := binary.NativeEndian.AppendUint32(nil, s.Flags&^FlagHashed)
		flags = binary.NativeEndian.AppendUint32(flags, ^uint32(0)) // mask: set every flag
		ae.Bytes(svcFlags, flags)
		ae.Uint32(svcTimeout, s.Timeout)
		bits := maskBits(s)
		if s.Is6() {
			ae.Uint32(svcNetmask, uint32(bits))
		} else {
			m := ^uint32(0) << (32 - bits) // 0 for /0
			if s.Mask4 != 0 {
				m = s.Mask4 // not a prefix (-M 0.0.0.24), as the kernel keeps it
			}
			ae.Bytes(svcNetmask, binary.BigEndian.AppendUint32(nil, m))
		}
		return nil
	})
}

// keyService is what libipvs sends for a service named only by its key
// (ipvsadm -a, -d, -D, -Z): no scheduler, no flags, the full netmask.
func keyService(k ServiceKey) Service {
	return Service{ServiceKey: k, Netmask: FullMask(k.Is6())}
}

// keyDest is what libipvs sends for a real server named only by its key
// (ipvsadm -d): ipvsadm's defaults, direct routing and weight 1.
func keyDest(k DestKey) Destination {
	return Destination{DestKey: k, Forward: Route, Weight: 1}
}

// encodeDest writes the nested real server, in libipvs's order, tunnel
// attributes included whatever the method (as libipvs sends them).
func encodeDest(ae *netlink.AttributeEncoder, d Destination) {
	ae.Nested(attrDest, func(ae *netlink.AttributeEncoder) error {
		ae.Uint16(dstAF, af(d.Addr.Is6()))
		ae.Bytes(dstAddr, addr16(d.Addr))
		ae.Bytes(dstPort, be16(d.Port))
		ae.Uint32(dstFwd, uint32(d.Forward))
		ae.Uint32(dstWeight, d.Weight)
		ae.Uint8(dstTunType, uint8(d.TunnelType))
		ae.Bytes(dstTunPort, be16(d.TunnelPort))
		ae.Uint16(dstTunFlags, uint16(d.TunnelFlags))
		ae.Uint32(dstUThresh, d.UpperThreshold)
		ae.Uint32(dstLThresh, d.LowerThreshold)
		return nil
	})
}

// encodeOp returns the command and attributes of one change.
func encodeOp(op Op) (uint8, []byte) {
	ae := netlink.NewAttributeEncoder()
	k := op.Service.ServiceKey
	var cmd uint8
	switch op.Kind {
	case OpCreateService:
		cmd = cmdNewSvc
		encodeService(ae, op.Service, true)
	case OpUpdateService:
		cmd = cmdSetSvc
		encodeService(ae, op.Service, true)
	case OpRemoveService:
		cmd = cmdDelSvc
		encodeService(ae, keyService(k), true)
	case OpCreateDest:
		cmd = cmdNewDest
		encodeService(ae, keyService(k), true)
		encodeDest(ae, op.Dest)
	case OpUpdateDest:
		cmd = cmdSetDest
		encodeService(ae, keyService(k), true)
		encodeDest(ae, op.Dest)
	default:
		cmd = cmdDelDest
		encodeService(ae, keyService(k), true)
		encodeDest(ae, keyDest(op.Dest.DestKey))
	}
	return cmd, mustEncode(ae)
}

// encodeZero is ZERO's attributes: none for every counter, else the
// service as libipvs sends it.
func encodeZero(k *ServiceKey) []byte {
	if k == nil {
		return nil
	}
	ae := netlink.NewAttributeEncoder()
	encodeService(ae, keyService(*k), true)
	return mustEncode(ae)
}

// appendDumpDests appends the GET_DEST dump's attribute to b: the
// service's key, as encodeService writes it without settings. It is
// written by hand, without an AttributeEncoder, because the table is read
// with one such dump per service (9 allocations each through the encoder);
// TestGoldenList compares it with ipvsadm's bytes.
func appendDumpDests(b []byte, k ServiceKey) []byte {
	at := len(b)
	b = appendAttrHeader(b, attrService|netlink.Nested, 0)
	b = appendAttrHeader(b, svcAF, 2)
	b = binary.NativeEndian.AppendUint16(b, af(k.Is6()))
	b = append(b, 0, 0)
	if k.FWMark != 0 {
		b = appendAttrHeader(b, svcFWMark, 4)
		b = binary.NativeEndian.AppendUint32(b, k.FWMark)
	} else {
		b = appendAttrHeader(b, svcProto, 2)
		b = binary.NativeEndian.AppendUint16(b, uint16(k.Protocol))
		b = append(b, 0, 0)
		b = appendAttrHeader(b, svcAddr, 16)
		a := k.Addr.As16()
		if k.Addr.Is4() {
			a = [16]byte{}
			v := k.Addr.As4()
			copy(a[:], v[:])
		}
		b = append(b, a[:]...)
		b = appendAttrHeader(b, svcPort, 2)
		b = binary.BigEndian.AppendUint16(b, k.Port)
		b = append(b, 0, 0)
	}
	binary.NativeEndian.PutUint16(b[at:], uint16(len(b)-at))
	return b
}

// appendAttrHeader appends an attribute header for n bytes of data.
func appendAttrHeader(b []byte, typ uint16, n int) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(4+n))
	return binary.NativeEndian.AppendUint16(b, typ)
}

// encodeTimeouts is SET_CONFIG's attributes; a zero value is left out
// (the kernel keeps it).
func encodeTimeouts(t Timeouts) []byte {
	ae := netlink.NewAttributeEncoder()
	for _, a := range []struct {
		typ uint16
		v   uint32
	}{{attrTCP, t.TCP}, {attrTCPFin, t.TCPFin}, {attrUDP, t.UDP}} {
		if a.v != 0 {
			ae.Uint32(a.typ, a.v)
		}
	}
	return mustEncode(ae)
}

// encodeDaemon is the attribute of NEW_DAEMON and DEL_DAEMON (which
// reads only State): libipvs sends state, interface and sync ID, then the
// optional settings that are set: size, port, TTL, group
// (testdata/start-daemon-backup-full.hex).
func encodeDaemon(d Daemon) []byte {
	ae := netlink.NewAttributeEncoder()
	ae.Nested(attrDaemon, func(ae *netlink.AttributeEncoder) error {
		ae.Uint32(dmnState, d.State)
		ae.String(dmnIfname, d.Interface)
		ae.Uint32(dmnSyncID, d.SyncID)
		if d.MaxLen != 0 {
			ae.Uint16(dmnSyncMaxLen, d.MaxLen)
		}
		if d.Port != 0 {
			ae.Uint16(dmnPort, d.Port)
		}
		if d.TTL != 0 {
			ae.Uint8(dmnTTL, d.TTL)
		}
		if d.Group.Is4() {
			ae.Bytes(dmnGroup, d.Group.AsSlice())
		} else if d.Group.Is6() {
			ae.Bytes(dmnGroup6, d.Group.AsSlice())
		}
		return nil
	})
	return mustEncode(ae)
}

func mustEncode(ae *netlink.AttributeEncoder) []byte {
	b, err := ae.Encode()
	if err != nil {
		panic(err) // only fixed-size values are encoded: cannot fail
	}
	return b
}

// addr16 is the kernel's union nf_inet_addr: 16 bytes, IPv4 in the first 4.
func addr16(a netip.Addr) []byte {
	b := make([]byte, 16)
	if a.Is4() {
		v := a.As4()
		copy(b, v[:])
	} else if a.Is6() {
		v := a.As16()
		copy(b, v[:])
	}
	return b
}

// errDecode marks an answer the decoder cannot read.
var errDecode = errors.New("malformed IPVS answer")

// Answers are decoded by a zero-copy walk over the attributes:
// netlink.AttributeDecoder copies every attribute's data (29 allocations
// per real server), which made reading a 110,000-rule table twice as slow
// as ipvsadm.

// attrs walks the attributes of b without copying: after next, typ (flags
// NLA_F_NESTED and NLA_F_NET_BYTEORDER cleared) and data are the current
// attribute's. A length that runs past b stops the walk with err set.
type attrs struct {
	b    []byte
	typ  uint16
	data []byte
	err  error
}

func (a *attrs) next() bool {
	if len(a.b) == 0 || a.err != nil {
		return false
	}
	if len(a.b) < 4 {
		a.err = fmt.Errorf("%w: %d stray bytes after the last attribute", errDecode, len(a.b))
		return false
	}
	l := int(binary.NativeEndian.Uint16(a.b))
	if l < 4 || l > len(a.b) {
		a.err = fmt.Errorf("%w: attribute length %d in %d bytes", errDecode, l, len(a.b))
		return false
	}
	a.typ = binary.NativeEndian.Uint16(a.b[2:]) & 0x3fff
	a.data = a.b[4:l]
	a.b = a.b[min((l+3)&^3, len(a.b)):]
	return true
}

func (a *attrs) u8() uint8 {
	if len(a.data) < 1 {
		return 0
	}
	return a.data[0]
}

func (a *attrs) u16() uint16 {
	if len(a.data) < 2 {
		return 0
	}
	return binary.NativeEndian.Uint16(a.data)
}

func (a *attrs) u32() uint32 {
	if len(a.data) < 4 {
		return 0
	}
	return binary.NativeEndian.Uint32(a.data)
}

func (a *attrs) be16() uint16 {
	if len(a.data) < 2 {
		return 0
	}
	return binary.BigEndian.Uint16(a.data)
}

// str is a NUL-terminated string attribute.
func (a *attrs) str() string {
	b := a.data
	for i, c := range b {
		if c == 0 {
			b = b[:i]
			break
		}
	}
	return string(b)
}

// nested returns the contents of attribute typ of b, an error if missing.
func nested(b []byte, typ uint16, what string) ([]byte, error) {
	a := attrs{b: b}
	for a.next() {
		if a.typ == typ {
			return a.data, nil
		}
	}
	if a.err != nil {
		return nil, fmt.Errorf("%s: %w", what, a.err)
	}
	return nil, fmt.Errorf("%w: no %s", errDecode, what)
}

func decodeStats64(b []byte) Stats {
	var s Stats
	a := attrs{b: b}
	for a.next() {
		if len(a.data) < 8 {
			continue
		}
		v := binary.NativeEndian.Uint64(a.data)
		switch a.typ {
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
	}
	return s
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

// decodeService reads one GET_SERVICE answer (after the genetlink header).
func decodeService(msg []byte) (Service, error) {
	var s Service
	in, err := nested(msg, attrService, "service")
	if err != nil {
		return s, err
	}
	var family uint16
	var addr, mask []byte
	a := attrs{b: in}
	for a.next() {
		switch a.typ {
		case svcAF:
			family = a.u16()
		case svcProto:
			s.Protocol = Protocol(a.u16())
		case svcAddr:
			addr = a.data
		case svcPort:
			s.Port = a.be16()
		case svcFWMark:
			s.FWMark = a.u32()
		case svcSched:
			s.Scheduler = a.str()
		case svcPEName:
			s.PEName = a.str()
		case svcFlags:
			s.Flags = a.u32() &^ FlagHashed
		case svcTimeout:
			s.Timeout = a.u32()
		case svcNetmask:
			mask = a.data
		case svcStats64:
			s.Stats = decodeStats64(a.data)
		}
	}
	if a.err != nil {
		return Service{}, fmt.Errorf("service: %w", a.err)
	}
	v6 := family == afInet6
	if s.FWMark != 0 {
		s.IPv6 = v6
		s.Protocol, s.Port = 0, 0
	} else {
		s.Addr = getAddr(addr, v6)
	}
	s.Netmask = FullMask(v6)
	if len(mask) >= 4 {
		if v6 {
			s.Netmask = int(binary.NativeEndian.Uint32(mask))
		} else {
			m := binary.BigEndian.Uint32(mask)
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
	in, err := nested(msg, attrDest, "real server")
	if err != nil {
		return d, err
	}
	v6 := svc6
	var addr []byte
	a := attrs{b: in}
	for a.next() {
		switch a.typ {
		case dstAddr:
			addr = a.data
		case dstPort:
			d.Port = a.be16()
		case dstFwd:
			d.Forward = Forward(a.u32() & 0x7)
		case dstWeight:
			d.Weight = a.u32()
		case dstUThresh:
			d.UpperThreshold = a.u32()
		case dstLThresh:
			d.LowerThreshold = a.u32()
		case dstActive:
			d.ActiveConns = a.u32()
		case dstInactive:
			d.InactiveConns = a.u32()
		case dstPersist:
			d.PersistentConns = a.u32()
		case dstAF:
			v6 = a.u16() == afInet6
		case dstStats64:
			d.Stats = decodeStats64(a.data)
		case dstTunType:
			d.TunnelType = TunnelType(a.u8())
		case dstTunPort:
			d.TunnelPort = a.be16()
		case dstTunFlags:
			d.TunnelFlags = TunnelFlags(a.u16())
		}
	}
	if a.err != nil {
		return Destination{}, fmt.Errorf("real server: %w", a.err)
	}
	d.Addr = getAddr(addr, v6)
	return d, nil
}

// decodeTimeouts reads a GET_CONFIG answer.
func decodeTimeouts(msg []byte) (Timeouts, error) {
	var t Timeouts
	a := attrs{b: msg}
	for a.next() {
		switch a.typ {
		case attrTCP:
			t.TCP = a.u32()
		case attrTCPFin:
			t.TCPFin = a.u32()
		case attrUDP:
			t.UDP = a.u32()
		}
	}
	return t, a.err
}

// decodeInfo reads a GET_INFO answer.
func decodeInfo(msg []byte) (Info, error) {
	var in Info
	a := attrs{b: msg}
	for a.next() {
		switch a.typ {
		case infoVersion:
			v := a.u32()
			in.Version = [3]int{int(v >> 16 & 0xff), int(v >> 8 & 0xff), int(v & 0xff)}
		case infoTableSize:
			in.TableSize = a.u32()
		}
	}
	return in, a.err
}

// decodeDaemon reads one GET_DAEMON answer.
func decodeDaemon(msg []byte) (Daemon, error) {
	var d Daemon
	in, err := nested(msg, attrDaemon, "sync daemon")
	if err != nil {
		return d, err
	}
	a := attrs{b: in}
	for a.next() {
		switch a.typ {
		case dmnState:
			d.State = a.u32()
		case dmnIfname:
			d.Interface = a.str()
		case dmnSyncID:
			d.SyncID = a.u32()
		case dmnSyncMaxLen:
			d.MaxLen = a.u16()
		case dmnGroup:
			d.Group = getAddr(a.data, false)
		case dmnGroup6:
			d.Group = getAddr(a.data, true)
		case dmnPort:
			d.Port = a.u16()
		case dmnTTL:
			d.TTL = a.u8()
		}
	}
	return d, a.err
}
