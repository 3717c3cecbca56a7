package ipvs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"syscall"

	cf "github.com/cloudflare/ipvs"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
)

// Kernel constants (include/uapi/linux/ip_vs.h) for the two commands
// cloudflare/ipvs does not wrap: IPVS_CMD_ZERO and IPVS_CMD_FLUSH.
const (
	genlName       = "IPVS"
	genlVersion    = 1
	cmdZero        = 16
	cmdFlush       = 17
	cmdAttrService = 1
	svcAttrAF      = 1
	svcAttrProto   = 2
	svcAttrAddr    = 3
	svcAttrPort    = 4
	svcAttrFWMark  = 5
)

// netlinkClient implements Client against the running kernel.
type netlinkClient struct {
	c      cf.Client
	closer io.Closer
	// raw carries ZERO and FLUSH and knows the family's ID; bulk carries
	// dumps and Apply (rawnl.go). Both are opened on first use.
	raw    *genetlink.Conn
	family genetlink.Family
	bulk   *rawConn
}

var _ Client = (*netlinkClient)(nil)

// New connects to the kernel's IPVS over generic netlink in the current
// network namespace. It returns an error wrapping ErrNoIPVS when the kernel
// has no IPVS (module not loaded). Close the client when done.
func New() (Client, error) {
	c, err := cf.New()
	if err != nil {
		return nil, mapErr("connect to IPVS", err, onConnect)
	}
	nc := &netlinkClient{c: c}
	if cl, ok := c.(io.Closer); ok {
		nc.closer = cl
	}
	return nc, nil
}

func (n *netlinkClient) Close() error {
	var err error
	if n.bulk != nil {
		err = n.bulk.close()
	}
	if n.raw != nil {
		if cerr := n.raw.Close(); err == nil {
			err = cerr
		}
	}
	if n.closer != nil {
		if cerr := n.closer.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// errContext says what ENOENT means for a request.
type errContext int

const (
	onConnect errContext = iota // no IPVS generic netlink family: ErrNoIPVS
	onService                   // service create/edit: ErrScheduler
	onDest                      // real-server request: ErrNotFound
)

// mapErr turns a netlink error into the package's sentinel errors.
func mapErr(what string, err error, on errContext) error {
	if err == nil {
		return nil
	}
	var sentinel error
	switch {
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
		sentinel = ErrPermission
	case errors.Is(err, syscall.ESRCH):
		sentinel = ErrNotFound
	case errors.Is(err, syscall.EEXIST):
		sentinel = ErrExists
	case errors.Is(err, syscall.ENOENT) || errors.Is(err, fs.ErrNotExist):
		sentinel = [...]error{onConnect: ErrNoIPVS, onService: ErrScheduler, onDest: ErrNotFound}[on]
	}
	if sentinel == nil {
		if errors.Is(err, syscall.EINVAL) {
			// ipvsadm says "Invalid operation. Possibly wrong module
			// version, address not unicast, ..."; the usual causes:
			return fmt.Errorf("%s: the kernel refused it as invalid (address not unicast, or loopback down in this network namespace): %w", what, err)
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s: %w", what, sentinel)
}

func (n *netlinkClient) Info() (Info, error) {
	i, err := n.c.Info()
	if err != nil {
		return Info{}, mapErr("read IPVS info", err, onConnect)
	}
	return Info{Version: i.Version, TableSize: i.ConnectionTableSize}, nil
}

func (n *netlinkClient) Services() ([]Service, error) {
	b, err := n.bulkConn()
	if err != nil {
		return nil, mapErr("list services", err, onConnect)
	}
	var out []Service
	err = b.dump(cmdGetSvc, nil, func(attrs []byte) error {
		s, err := decodeService(attrs)
		out = append(out, s)
		return err
	})
	if err != nil {
		return nil, mapErr("list services", err, onConnect)
	}
	return out, nil
}

func (n *netlinkClient) Destinations(k ServiceKey) ([]Destination, error) {
	b, err := n.bulkConn()
	if err != nil {
		return nil, mapErr("list real servers of "+k.String(), err, onDest)
	}
	var out []Destination
	err = b.dump(cmdGetDest, serviceAttrs(Service{ServiceKey: k}, false), func(attrs []byte) error {
		d, err := decodeDest(attrs, k.Is6())
		out = append(out, d)
		return err
	})
	if err != nil {
		return nil, mapErr("list real servers of "+k.String(), err, onDest)
	}
	return out, nil
}

// bulkConn opens the raw socket for dumps and Apply.
func (n *netlinkClient) bulkConn() (*rawConn, error) {
	if n.bulk != nil {
		return n.bulk, nil
	}
	if err := n.rawGenl(); err != nil {
		return nil, err
	}
	b, err := openRaw(n.family.ID)
	if err != nil {
		return nil, err
	}
	n.bulk = b
	return b, nil
}

// Apply sends the changes batchSize per sendmsg (see rawConn.batch).
func (n *netlinkClient) Apply(ops []Op) (int, error) {
	b, err := n.bulkConn()
	if err != nil {
		return 0, mapErr("connect to IPVS", err, onConnect)
	}
	done, after, err := b.batch(len(ops), func(i int) (uint8, []byte) {
		op := ops[i]
		switch op.Kind {
		case OpCreateService:
			return cmdNewSvc, serviceAttrs(op.Service, true)
		case OpUpdateService:
			return cmdSetSvc, serviceAttrs(op.Service, true)
		case OpRemoveService:
			return cmdDelSvc, serviceAttrs(op.Service, false)
		case OpCreateDest:
			return cmdNewDest, append(serviceAttrs(op.Service, false), destAttrs(op.Dest, true)...)
		case OpUpdateDest:
			return cmdSetDest, append(serviceAttrs(op.Service, false), destAttrs(op.Dest, true)...)
		default:
			return cmdDelDest, append(serviceAttrs(op.Service, false), destAttrs(op.Dest, false)...)
		}
	})
	if err == nil {
		return done, nil
	}
	if errors.Is(err, ErrUnknownOutcome) {
		first, _ := describeOp(ops[done])
		last, _ := describeOp(ops[done+after])
		return done, fmt.Errorf("changes %d to %d of %d (%s ... %s): %w; list the table to see which were made, or restore again",
			done+1, done+after+1, len(ops), first, last, err)
	}
	what, on := describeOp(ops[done])
	err = mapErr(what, err, on)
	if after > 0 {
		err = fmt.Errorf("%w (the kernel still processed the %d changes after it in the same batch)", err, after)
	}
	return done, err
}

// describeOp names an Op for error messages, with what ENOENT means for it.
func describeOp(op Op) (string, errContext) {
	k, d := op.Service.ServiceKey.String(), op.Dest.DestKey.String()
	switch op.Kind {
	case OpCreateService:
		return "add service " + k, onService
	case OpUpdateService:
		return "edit service " + k, onService
	case OpRemoveService:
		return "remove service " + k, onDest
	case OpCreateDest:
		return "add real server " + d + " to " + k, onDest
	case OpUpdateDest:
		return "edit real server " + d + " of " + k, onDest
	}
	return "remove real server " + d + " from " + k, onDest
}

// CreateService and UpdateService go through the project's encoder, which
// carries what cloudflare/ipvs cannot: the persistence engine and an IPv4
// mask that is not a prefix.
func (n *netlinkClient) CreateService(s Service) error {
	_, err := n.Apply([]Op{{Kind: OpCreateService, Service: s}})
	return err
}

func (n *netlinkClient) UpdateService(s Service) error {
	_, err := n.Apply([]Op{{Kind: OpUpdateService, Service: s}})
	return err
}

func (n *netlinkClient) RemoveService(k ServiceKey) error {
	return mapErr("remove service "+k.String(), n.c.RemoveService(toCFService(Service{ServiceKey: k})), onDest)
}

func (n *netlinkClient) CreateDestination(k ServiceKey, d Destination) error {
	err := n.c.CreateDestination(toCFService(Service{ServiceKey: k}), toCFDest(d))
	return mapErr("add real server "+d.String()+" to "+k.String(), err, onDest)
}

func (n *netlinkClient) UpdateDestination(k ServiceKey, d Destination) error {
	err := n.c.UpdateDestination(toCFService(Service{ServiceKey: k}), toCFDest(d))
	return mapErr("edit real server "+d.String()+" of "+k.String(), err, onDest)
}

func (n *netlinkClient) RemoveDestination(k ServiceKey, d DestKey) error {
	err := n.c.RemoveDestination(toCFService(Service{ServiceKey: k}), toCFDest(Destination{DestKey: d}))
	return mapErr("remove real server "+d.String()+" from "+k.String(), err, onDest)
}

func (n *netlinkClient) Timeouts() (Timeouts, error) {
	c, err := n.c.Config()
	if err != nil {
		return Timeouts{}, mapErr("read timeouts", err, onConnect)
	}
	return Timeouts{TCP: c.TCPTimeout, TCPFin: c.TCPFinTimeout, UDP: c.UDPTimeout}, nil
}

func (n *netlinkClient) SetTimeouts(t Timeouts) error {
	err := n.c.SetConfig(cf.Config{TCPTimeout: t.TCP, TCPFinTimeout: t.TCPFin, UDPTimeout: t.UDP})
	return mapErr("set timeouts", err, onConnect)
}

func (n *netlinkClient) Flush() error {
	return mapErr("clear the table", n.rawCommand(cmdFlush, nil), onConnect)
}

func (n *netlinkClient) Zero(k *ServiceKey) error {
	if k == nil {
		return mapErr("zero counters", n.rawCommand(cmdZero, nil), onConnect)
	}
	ae := netlink.NewAttributeEncoder()
	ae.Nested(cmdAttrService, func(nae *netlink.AttributeEncoder) error {
		if k.Is6() {
			nae.Uint16(svcAttrAF, syscall.AF_INET6)
		} else {
			nae.Uint16(svcAttrAF, syscall.AF_INET)
		}
		if k.FWMark != 0 {
			nae.Uint32(svcAttrFWMark, k.FWMark)
			return nil
		}
		nae.Uint16(svcAttrProto, uint16(k.Protocol))
		nae.Bytes(svcAttrAddr, addr16(k.Addr))
		nae.Bytes(svcAttrPort, []byte{byte(k.Port >> 8), byte(k.Port)}) // network order
		return nil
	})
	b, err := ae.Encode()
	if err != nil {
		return err
	}
	return mapErr("zero counters of "+k.String(), n.rawCommand(cmdZero, b), onDest)
}

// rawGenl opens the genetlink connection and resolves the family.
func (n *netlinkClient) rawGenl() error {
	if n.raw != nil {
		return nil
	}
	c, err := genetlink.Dial(nil)
	if err != nil {
		return err
	}
	f, err := c.GetFamily(genlName)
	if err != nil {
		c.Close()
		return err
	}
	n.raw, n.family = c, f
	return nil
}

// rawCommand sends one IPVS command that cloudflare/ipvs does not wrap.
func (n *netlinkClient) rawCommand(cmd uint8, data []byte) error {
	if err := n.rawGenl(); err != nil {
		return err
	}
	msg := genetlink.Message{
		Header: genetlink.Header{Command: cmd, Version: genlVersion},
		Data:   data,
	}
	_, err := n.raw.Execute(msg, n.family.ID, netlink.Request|netlink.Acknowledge)
	return err
}

// addr16 is the kernel's union nf_inet_addr: 16 bytes, IPv4 in the first 4.
func addr16(a netip.Addr) []byte {
	b := make([]byte, 16)
	if a.Is4() {
		v := a.As4()
		copy(b, v[:])
	} else {
		v := a.As16()
		copy(b, v[:])
	}
	return b
}
