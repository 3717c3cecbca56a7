//go:build linux

package ipvs

import (
	"fmt"
	"slices"

	"github.com/mdlayher/netlink"
)

// netlinkClient implements Client against the running kernel over one
// socket. After a read fails mid-answer (deadline, ENOBUFS) the socket is
// closed and the next call opens a new one: whatever the kernel still had
// to say about the old requests, a dump it was still sending included, can
// then never be taken for an answer to a new request, nor leave the new
// request refused as busy.
type netlinkClient struct {
	c    *conn
	dial func() (*conn, error)
	// Reused by every dump: the request, and the real servers decoded
	// before they are copied out at their final size.
	req   [1]netlink.Message
	dests []Destination
}

var _ Client = (*netlinkClient)(nil)

// New connects to the kernel's IPVS over generic netlink in the current
// network namespace. It returns an error wrapping ErrNoIPVS when the kernel
// has no IPVS (module not loaded). Close the client when done.
func New() (Client, error) {
	n := &netlinkClient{dial: dial}
	if _, err := n.conn(); err != nil {
		return nil, mapErr("connect to IPVS", err, onConnect)
	}
	return n, nil
}

func (n *netlinkClient) conn() (*conn, error) {
	if n.c == nil {
		c, err := n.dial()
		if err != nil {
			return nil, err
		}
		n.c = c
	}
	return n.c, nil
}

// reset drops a socket that may still carry answers nobody reads.
func (n *netlinkClient) reset() {
	if n.c != nil {
		n.c.close()
		n.c = nil
	}
}

func (n *netlinkClient) Close() error {
	if n.c == nil {
		return nil
	}
	err := n.c.close()
	n.c = nil
	return err
}

// do sends one request with an acknowledgement and calls fn (when not nil)
// with the attributes of each answer to it before the acknowledgement.
func (n *netlinkClient) do(cmd uint8, attrs []byte, fn func(attrs []byte) error) error {
	c, err := n.conn()
	if err != nil {
		return err
	}
	return n.exchange(c, []netlink.Message{c.request(cmd, netlink.Request|netlink.Acknowledge, attrs)}, false, fn)
}

// dump runs one dump request (data: the genetlink header and attributes)
// and calls fn with the attributes of every answer.
func (n *netlinkClient) dump(data []byte, fn func(attrs []byte) error) error {
	c, err := n.conn()
	if err != nil {
		return err
	}
	// REQUEST|ACK|DUMP, as ipvsadm asks (the kernel sends no ack after
	// a dump's end; a late one would be skipped as stale).
	n.req[0] = netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(c.family), Flags: netlink.Request | netlink.Acknowledge | netlink.Dump},
		Data:   data,
	}
	return n.exchange(c, n.req[:], true, fn)
}

// exchange sends one request and reads its answers to their end: the
// acknowledgement (NLMSG_ERROR) of a request; NLMSG_DONE, or an error, of
// a dump. It calls fn (when not nil) with the attributes of each answer,
// and always reads to the end, even after fn failed, so the socket is free
// for the next request; a read that fails part-way drops the socket (see
// netlinkClient). A dump the kernel flags NLM_F_DUMP_INTR fails with
// ErrDumpInterrupted.
func (n *netlinkClient) exchange(c *conn, req []netlink.Message, dump bool, fn func(attrs []byte) error) error {
	sent, err := c.send(req)
	if err != nil {
		return err
	}
	seq := sent[0].Header.Sequence
	var ferr error
	intr := false
	for {
		msgs, err := c.recv()
		if err != nil {
			n.reset()
			return err
		}
		for _, m := range msgs {
			if m.Header.Sequence != seq {
				continue // stale: the answer to an earlier request
			}
			intr = intr || m.Header.Flags&netlink.DumpInterrupted != 0
			switch t := m.Header.Type; {
			case t == netlink.Error, dump && t == netlink.Done:
				if e, ok := answerOf(m); !ok {
					return errMalformed(m)
				} else if e != nil {
					return e
				}
				if ferr == nil && intr {
					return ErrDumpInterrupted
				}
				return ferr
			case t == netlink.Done, t == netlink.Noop, t == netlink.Overrun:
			case fn == nil || ferr != nil:
			case len(m.Data) < 4:
				ferr = fmt.Errorf("%w: answer without a generic netlink header", errDecode)
			default:
				ferr = fn(m.Data[4:])
			}
		}
	}
}

// dumpRequest is a dump's genetlink header, attributes to be appended; it
// reuses the previous request's bytes (the message is sent before the
// next request is built).
func (n *netlinkClient) dumpRequest(cmd uint8) []byte {
	return append(n.req[0].Data[:0], cmd, genlVersion, 0, 0)
}

// Apply implements Client.Apply: BatchSize requests per sendmsg, each
// with NLM_F_ACK, each answer matched to its request by sequence number.
func (n *netlinkClient) Apply(ops []Op) []error {
	errs := make([]error, len(ops))
	c, err := n.conn()
	if err != nil {
		for i, op := range ops {
			errs[i] = notSent(op, "cannot connect to IPVS: "+err.Error())
		}
		return errs
	}
	answered := make([]bool, BatchSize)
	msgs := make([]netlink.Message, 0, BatchSize)
	stop := ""
	for start := 0; start < len(ops); start += BatchSize {
		end := min(start+BatchSize, len(ops))
		if stop != "" {
			for i := start; i < len(ops); i++ {
				errs[i] = notSent(ops[i], stop)
			}
			break
		}
		msgs = msgs[:0]
		for _, op := range ops[start:end] {
			cmd, attrs := encodeOp(op)
			msgs = append(msgs, c.request(cmd, netlink.Request|netlink.Acknowledge, attrs))
		}
		sent, err := c.send(msgs)
		if err != nil {
			for i := start; i < len(ops); i++ {
				errs[i] = notSent(ops[i], "sending failed: "+err.Error())
			}
			break
		}
		first := sent[0].Header.Sequence
		clear(answered)
		for pending := end - start; pending > 0; {
			got, err := c.recv()
			if err != nil {
				for i := start; i < end; i++ {
					if !answered[i-start] {
						errs[i] = fmt.Errorf("%s: %w: the kernel got it, but reading its answer failed: %w", ops[i], ErrUnknownOutcome, err)
					}
				}
				n.reset()
				stop = "an earlier change's outcome is unknown"
				break
			}
			for _, m := range got {
				off := m.Header.Sequence - first // wraps like the sequence numbers
				if m.Header.Type != netlink.Error || off >= uint32(end-start) || answered[off] {
					continue // stale, or not an answer to this batch
				}
				i := start + int(off)
				answered[off] = true
				pending--
				switch e, ok := answerOf(m); {
				case !ok:
					errs[i] = fmt.Errorf("%s: %w: %w", ops[i], ErrUnknownOutcome, errMalformed(m))
					stop = "an earlier change's outcome is unknown"
				case e != nil:
					what, on := describeOp(ops[i])
					errs[i] = mapErr(what, e, on)
					stop = "an earlier batch had a refusal"
				}
			}
		}
	}
	return errs
}

func (n *netlinkClient) Info() (Info, error) {
	var in Info
	err := n.do(cmdGetInfo, nil, func(b []byte) (err error) {
		in, err = decodeInfo(b)
		return err
	})
	return in, mapErr("read IPVS info", err, onConnect)
}

func (n *netlinkClient) Services() ([]Service, error) {
	var out []Service
	err := n.dump(n.dumpRequest(cmdGetSvc), func(b []byte) error {
		s, err := decodeService(b)
		out = append(out, s)
		return err
	})
	if err != nil {
		return nil, mapErr("list services", err, onConnect)
	}
	return out, nil
}

func (n *netlinkClient) Service(k ServiceKey) (Service, error) {
	var s Service
	got := false
	// The request's attribute is the service key alone, as the real
	// server dump sends it (appendDumpDests).
	err := n.do(cmdGetSvc, appendDumpDests(nil, k), func(b []byte) (err error) {
		s, err = decodeService(b)
		got = true
		return err
	})
	if err == nil && !got {
		err = fmt.Errorf("%w: no service in the answer", errDecode)
	}
	if err != nil {
		return Service{}, mapErr("read service "+k.String(), err, onDest)
	}
	return s, nil
}

func (n *netlinkClient) Destinations(k ServiceKey) ([]Destination, error) {
	v6 := k.Is6()
	ds := n.dests[:0]
	err := n.dump(appendDumpDests(n.dumpRequest(cmdGetDest), k), func(b []byte) error {
		d, err := decodeDest(b, v6)
		ds = append(ds, d)
		return err
	})
	n.dests = ds
	if err != nil {
		return nil, mapErr("list real servers of "+k.String(), err, onDest)
	}
	if len(ds) == 0 {
		return nil, nil
	}
	return slices.Clone(ds), nil
}

func (n *netlinkClient) Timeouts() (Timeouts, error) {
	var t Timeouts
	err := n.do(cmdGetConfig, nil, func(b []byte) (err error) {
		t, err = decodeTimeouts(b)
		return err
	})
	return t, mapErr("read timeouts", err, onConnect)
}

func (n *netlinkClient) SetTimeouts(t Timeouts) error {
	return mapErr("set timeouts", n.do(cmdSetConfig, encodeTimeouts(t), nil), onConnect)
}

func (n *netlinkClient) Flush() error {
	return mapErr("clear the table", n.do(cmdFlush, nil, nil), onConnect)
}

func (n *netlinkClient) Zero(k *ServiceKey) error {
	what := "zero counters"
	if k != nil {
		what += " of " + k.String()
	}
	return mapErr(what, n.do(cmdZero, encodeZero(k), nil), onDest)
}
