// Package ipvs is lvsnode's boundary to the kernel's IP Virtual Server table.
//
// It exposes one small interface, Client, with two implementations: the real
// one over generic netlink (New) and an in-memory Fake for tests that behaves
// as the kernel does, batches included. The value types are the project's
// own: they carry only what ipvsadm can express, use net/netip, and are
// comparable so that a ServiceKey or DestKey can be a map key in diff
// planning.
//
// The kernel client is one generic-netlink socket from mdlayher/netlink and
// mdlayher/genetlink, with one encoder and one decoder (codec.go) for
// services, real servers, sync daemons, timeouts and info, written to send
// what libipvs (ipvsadm) sends: ipvs/testdata holds ipvsadm's requests and
// the kernel's answers captured in the lab, and the tests compare with them.
// github.com/cloudflare/ipvs is not used: it sends one request per round trip
// with no way to batch, reads without deadlines, lacks ZERO and FLUSH, and
// hides which message of a batch the kernel refused, so it could carry none
// of Apply's contract; keeping it beside this encoder meant two encoders of
// one kernel API (a fix had to land twice). Requests are written and
// answers read through the netlink.Conn's SyscallConn (reads under its
// read deadline) rather than Conn.SendMessages and Conn.Receive: Receive
// turns the first refusal of a read into an error without its sequence
// number, and both allocate per message and enter each system call
// through Go's scheduler, which made reading a large table slower than
// ipvsadm under emulation (conn_linux.go).
//
// Errors follow one contract on both implementations and can be checked with
// errors.Is: ErrNoIPVS, ErrPermission, ErrNotFound, ErrExists, ErrScheduler,
// and for Apply ErrNotSent and ErrUnknownOutcome. Outside Linux, New fails
// with ErrUnsupported.
package ipvs

import (
	"errors"
	"fmt"
	"net/netip"
)

// Sentinel errors. Every error returned by a Client that has one of these
// causes wraps it (%w), so callers test with errors.Is.
var (
	// ErrNoIPVS: the kernel has no IPVS generic netlink family.
	ErrNoIPVS = errors.New("IPVS is not available in this kernel (load it: modprobe ip_vs)")
	// ErrPermission: the kernel refused the request (EPERM/EACCES).
	ErrPermission = errors.New("permission denied: IPVS needs root or CAP_NET_ADMIN")
	// ErrNotFound: the service or real server does not exist (ESRCH, or
	// ENOENT on a real-server operation).
	ErrNotFound = errors.New("no such service or real server")
	// ErrExists: the service or real server already exists (EEXIST).
	ErrExists = errors.New("already exists")
	// ErrScheduler: the kernel has no module for the scheduler or the
	// persistence engine (ENOENT on a service operation).
	ErrScheduler = errors.New("scheduler or persistence engine not available in the kernel (modprobe ip_vs_<scheduler> or ip_vs_pe_<engine>)")
	// ErrUnknownOutcome: a change reached the kernel but its answer could
	// not be read (e.g. ENOBUFS, or no answer before the read deadline), so
	// whether it was made is not known.
	ErrUnknownOutcome = errors.New("outcome unknown")
	// ErrNotSent: Apply did not send the change (an earlier batch had a
	// refusal or an unknown outcome, or the socket failed before sending).
	ErrNotSent = errors.New("not sent")
	// ErrDumpInterrupted: the kernel flagged a dump as interrupted
	// (NLM_F_DUMP_INTR): the table changed while it was being read, so the
	// answer is not a consistent snapshot; read again. The kernel's IPVS
	// dumps walk by position and, in Linux 6.1, never set that flag (see
	// controller.ReadTable for what is checked instead); other kernels may.
	ErrDumpInterrupted = errors.New("the table changed while it was being read")
	// ErrUnsupported: this operating system has no IPVS (not Linux).
	ErrUnsupported = fmt.Errorf("IPVS is only available on Linux: %w", errors.ErrUnsupported)
)

// Protocol is the transport protocol of a virtual service (IPPROTO_*).
type Protocol uint16

// Protocols IPVS balances.
const (
	TCP  Protocol = 6
	UDP  Protocol = 17
	SCTP Protocol = 132
)

func (p Protocol) String() string {
	switch p {
	case TCP:
		return "TCP"
	case UDP:
		return "UDP"
	case SCTP:
		return "SCTP"
	}
	return fmt.Sprintf("proto(%d)", uint16(p))
}

// Forward is the packet-forwarding method to a real server.
type Forward uint32

// Forwarding methods, with the kernel's numbering (IP_VS_CONN_F_*).
const (
	Masq   Forward = 0 // NAT (ipvsadm -m)
	Local  Forward = 1 // set by the kernel when the real server is the director itself
	Tunnel Forward = 2 // IP-in-IP, GUE or GRE (ipvsadm -i)
	Route  Forward = 3 // direct routing (ipvsadm -g, the default)
)

// String returns ipvsadm's column name for the method.
func (f Forward) String() string {
	switch f {
	case Masq:
		return "Masq"
	case Local:
		return "Local"
	case Tunnel:
		return "Tunnel"
	case Route:
		return "Route"
	}
	return fmt.Sprintf("fwd(%d)", uint32(f))
}

// TunnelType is the encapsulation used by the Tunnel method.
type TunnelType uint8

// Tunnel types (IP_VS_CONN_F_TUNNEL_TYPE_*).
const (
	IPIP TunnelType = 0
	GUE  TunnelType = 1 // needs TunnelPort; kernel 5.2+
	GRE  TunnelType = 2 // kernel 5.3+
)

func (t TunnelType) String() string {
	switch t {
	case IPIP:
		return "ipip"
	case GUE:
		return "gue"
	case GRE:
		return "gre"
	}
	return fmt.Sprintf("tun(%d)", uint8(t))
}

// TunnelFlags selects the encapsulation checksum (GUE and GRE only).
type TunnelFlags uint16

// Tunnel checksum modes (IP_VS_TUNNEL_ENCAP_FLAG_*).
const (
	NoCsum  TunnelFlags = 0
	Csum    TunnelFlags = 1
	RemCsum TunnelFlags = 2 // remote checksum offload, GUE only
)

// Service flags (IP_VS_SVC_F_*). FlagHashed is kernel-internal and is
// never reported by this package.
const (
	FlagPersistent uint32 = 0x0001
	FlagHashed     uint32 = 0x0002
	FlagOnePacket  uint32 = 0x0004
	FlagSched1     uint32 = 0x0008
	FlagSched2     uint32 = 0x0010
	FlagSched3     uint32 = 0x0020
)

// ServiceKey identifies a virtual service: either protocol+address+port, or
// a firewall mark (FWMark != 0, with IPv6 choosing the family).
type ServiceKey struct {
	Protocol Protocol
	Addr     netip.Addr
	Port     uint16
	FWMark   uint32
	IPv6     bool // family of a fwmark service; ignored when Addr is set
}

// Is6 reports whether the service is IPv6.
func (k ServiceKey) Is6() bool {
	if k.FWMark != 0 {
		return k.IPv6
	}
	return k.Addr.Is6()
}

// String formats the key for messages: "TCP 10.0.0.100:80",
// "TCP [fd00::100]:80", "FWM 1", "FWM 1 IPv6".
func (k ServiceKey) String() string {
	if k.FWMark != 0 {
		if k.IPv6 {
			return fmt.Sprintf("FWM %d IPv6", k.FWMark)
		}
		return fmt.Sprintf("FWM %d", k.FWMark)
	}
	return fmt.Sprintf("%s %s", k.Protocol, netip.AddrPortFrom(k.Addr, k.Port))
}

// Service is a virtual service with its settings.
type Service struct {
	ServiceKey
	Scheduler string
	Flags     uint32 // FlagPersistent | FlagOnePacket | FlagSched*
	Timeout   uint32 // persistence timeout in seconds
	// Netmask is the persistence granularity as a prefix length: 0..32 for
	// IPv4 (0: one group for every client, as -M 0.0.0.0), 1..128 for IPv6
	// (the kernel refuses /0 there). 0 is a real value, not "unset":
	// ipvsadm's default is the full length (FullMask).
	Netmask int
	// Mask4 is an IPv4 persistence mask that is not a prefix, as a number
	// (0.0.0.24 is 0x18: ipvsadm's inet_aton makes it of "-M 24"). The
	// kernel keeps any IPv4 mask and ipvsadm -S prints it dotted. 0 when
	// the mask is a prefix, which Netmask gives; when set, it is the mask
	// and Netmask is FullMask.
	Mask4 uint32
	// PEName is the persistence engine (IPVS_SVC_ATTR_PE_NAME, ipvsadm
	// --pe): "sip" (module ip_vs_pe_sip), or "" for none. The kernel
	// refuses an engine it has no module for as it refuses a scheduler
	// (ErrScheduler).
	PEName string
	Stats  Stats
}

// DestKey identifies a real server within a service.
type DestKey struct {
	Addr netip.Addr
	Port uint16
}

func (k DestKey) String() string { return netip.AddrPortFrom(k.Addr, k.Port).String() }

// Destination is a real server of a service, with its counters.
type Destination struct {
	DestKey
	Forward        Forward
	Weight         uint32
	UpperThreshold uint32
	LowerThreshold uint32
	TunnelType     TunnelType
	TunnelPort     uint16
	TunnelFlags    TunnelFlags

	// Read-only counters filled in by Destinations.
	ActiveConns     uint32
	InactiveConns   uint32
	PersistentConns uint32
	Stats           Stats
}

// Stats are 64-bit counters and rates of a service or real server.
type Stats struct {
	Conns    uint64 `json:"conns"`
	InPkts   uint64 `json:"in_pkts"`
	OutPkts  uint64 `json:"out_pkts"`
	InBytes  uint64 `json:"in_bytes"`
	OutBytes uint64 `json:"out_bytes"`
	CPS      uint64 `json:"cps"`
	InPPS    uint64 `json:"in_pps"`
	OutPPS   uint64 `json:"out_pps"`
	InBPS    uint64 `json:"in_bps"`
	OutBPS   uint64 `json:"out_bps"`
}

// Timeouts are the connection timeouts in seconds (ipvsadm --set tcp tcpfin
// udp). Zero in SetTimeouts leaves that value unchanged.
type Timeouts struct {
	TCP, TCPFin, UDP uint32
}

// Info describes the kernel's IPVS.
type Info struct {
	Version   [3]int
	TableSize uint32
}

// OpKind is the kind of one change in Apply.
type OpKind uint8

// The changes Apply makes.
const (
	OpCreateService OpKind = iota
	OpUpdateService
	OpRemoveService
	OpCreateDest
	OpUpdateDest
	OpRemoveDest
)

// Op is one change for Apply: Service (only its key for removals and
// real-server changes) and, for real-server changes, Dest.
type Op struct {
	Kind    OpKind
	Service Service
	Dest    Destination
}

// CreateServiceOp adds service s (ipvsadm -A).
func CreateServiceOp(s Service) Op { return Op{Kind: OpCreateService, Service: s} }

// UpdateServiceOp sets every setting of service s (ipvsadm -E).
func UpdateServiceOp(s Service) Op { return Op{Kind: OpUpdateService, Service: s} }

// RemoveServiceOp removes service k and its real servers (ipvsadm -D).
func RemoveServiceOp(k ServiceKey) Op {
	return Op{Kind: OpRemoveService, Service: Service{ServiceKey: k}}
}

// CreateDestOp adds real server d to service k (ipvsadm -a).
func CreateDestOp(k ServiceKey, d Destination) Op {
	return Op{Kind: OpCreateDest, Service: Service{ServiceKey: k}, Dest: d}
}

// UpdateDestOp sets every setting of real server d of service k (ipvsadm -e).
func UpdateDestOp(k ServiceKey, d Destination) Op {
	return Op{Kind: OpUpdateDest, Service: Service{ServiceKey: k}, Dest: d}
}

// RemoveDestOp removes real server d from service k (ipvsadm -d).
func RemoveDestOp(k ServiceKey, d DestKey) Op {
	return Op{Kind: OpRemoveDest, Service: Service{ServiceKey: k}, Dest: Destination{DestKey: d}}
}

// String names the change for messages: "add service TCP 10.0.0.1:80".
func (op Op) String() string {
	s, _ := describeOp(op)
	return s
}

// BatchSize is the number of changes Apply sends per system call, on the
// kernel client and, so that tests see what the kernel does, on the Fake.
const BatchSize = 256

// Client reads and changes the IPVS table. Implementations: New (kernel) and
// Fake (memory). A Client is not safe for concurrent use.
type Client interface {
	Info() (Info, error)
	// Services lists every virtual service; an empty table is an empty
	// slice and a nil error.
	Services() ([]Service, error)
	// Service reads one virtual service by its key: one GET_SERVICE
	// request, not a dump of the table (ipvsadm -L -t reads it so). A
	// service that is not there is an error wrapping ErrNotFound (the
	// kernel answers ESRCH).
	Service(ServiceKey) (Service, error)
	// Destinations lists the real servers of a service; none, or a
	// missing service, is an empty slice and a nil error (as the kernel's
	// dump answers).
	Destinations(ServiceKey) ([]Destination, error)
	// Apply is the one way to change services and real servers. It sends
	// ops in order, BatchSize per system call, each with its own
	// acknowledgement, and returns one error per op saying what became of
	// it:
	//   - nil: the kernel acknowledged it; it took effect.
	//   - an error wrapping ErrNotSent: it was never sent, because an
	//     earlier batch had a refusal or an unknown outcome (Apply stops
	//     after such a batch), or the socket failed before sending.
	//   - an error wrapping ErrUnknownOutcome: it was sent but its answer
	//     was lost; it may or may not have taken effect.
	//   - any other error: the kernel refused it (wrapping ErrExists,
	//     ErrNotFound, ErrScheduler, ErrPermission when one applies).
	// The kernel handles every message of a batch, refused or not: a
	// refusal does not stop the changes after it in the same batch, only
	// the batches after it. A caller that must not run some changes unless
	// others took effect sends them in a later Apply.
	Apply(ops []Op) []error
	// Flush removes every service (ipvsadm -C).
	Flush() error
	// Zero resets the counters of one service, or of all when key is nil.
	Zero(key *ServiceKey) error
	Timeouts() (Timeouts, error)
	SetTimeouts(Timeouts) error
	SyncDaemons
	Close() error
}

// Do applies one change and returns its outcome (see Client.Apply).
func Do(c Client, op Op) error { return c.Apply([]Op{op})[0] }
