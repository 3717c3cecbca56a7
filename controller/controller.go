package controller

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/lvsnode/lvsnode/ipvs"
	"github.com/lvsnode/lvsnode/sysctl"
)

// Controller runs the director commands against one IPVS client. Messages
// for the user go to Out, one line per change.
type Controller struct {
	IPVS   ipvs.Client
	Sysctl sysctl.Client // nil skips the NAT forwarding check (tests)
	Out    io.Writer
	// EnableForwarding lets NAT commands set ip_forward=1 themselves.
	EnableForwarding bool

	Sleep func(time.Duration) // default time.Sleep
	Now   func() time.Time    // default time.Now
}

func (c *Controller) say(format string, a ...any) {
	if c.Out != nil {
		fmt.Fprintf(c.Out, format+"\n", a...)
	}
}

// findService returns the kernel's service for k, or nil.
func (c *Controller) findService(k ipvs.ServiceKey) (*ipvs.Service, error) {
	svcs, err := c.IPVS.Services()
	if err != nil {
		return nil, err
	}
	for i := range svcs {
		if svcs[i].ServiceKey == k {
			return &svcs[i], nil
		}
	}
	return nil, nil
}

// findDest returns the kernel's real server d of service k, or nil.
func (c *Controller) findDest(k ipvs.ServiceKey, d ipvs.DestKey) (*ipvs.Destination, error) {
	ds, err := c.IPVS.Destinations(k)
	if err != nil {
		return nil, err
	}
	for i := range ds {
		if ds[i].DestKey == d {
			return &ds[i], nil
		}
	}
	return nil, nil
}

func notFound(what string) error { return fmt.Errorf("%s: %w", what, ipvs.ErrNotFound) }

// checkNAT makes sure IP forwarding is on for a NAT real server, setting it
// with EnableForwarding; a dry run only says what it would set.
func (c *Controller) checkNAT(d ipvs.Destination, dryRun bool) error {
	if d.Forward != ipvs.Masq {
		return nil
	}
	note, err := ensureForwarding(c.Sysctl, d.Addr.Is6(), c.EnableForwarding, dryRun)
	if note != "" {
		c.say("%s", note)
	}
	return err
}

// AddService creates the service, or edits it when it exists with other
// settings; an identical service is left alone (exit 0, "unchanged").
func (c *Controller) AddService(s Spec) error {
	if s.HasReal {
		return inputErr("add-service takes no real server (-r): use add-node")
	}
	cur, err := c.findService(s.Service)
	if err != nil {
		return err
	}
	if cur == nil {
		want, err := s.ServiceValue(nil)
		if err != nil {
			return err
		}
		if err := ipvs.Do(c.IPVS, ipvs.CreateServiceOp(want)); err != nil {
			return err
		}
		c.say("added service %s (scheduler %s)", want.ServiceKey, want.Scheduler)
		return nil
	}
	return c.editService(s, cur)
}

// EditService changes the options given and keeps the others.
func (c *Controller) EditService(s Spec) error {
	if s.HasReal {
		return inputErr("edit-service takes no real server (-r): use edit-node")
	}
	cur, err := c.findService(s.Service)
	if err != nil {
		return err
	}
	if cur == nil {
		return notFound("edit service " + s.Service.String())
	}
	return c.editService(s, cur)
}

func (c *Controller) editService(s Spec, cur *ipvs.Service) error {
	want, err := s.ServiceValue(cur)
	if err != nil {
		return err
	}
	if sameService(*cur, want) {
		c.say("unchanged: service %s", want.ServiceKey)
		return nil
	}
	if err := ipvs.Do(c.IPVS, ipvs.UpdateServiceOp(want)); err != nil {
		return err
	}
	c.say("edited service %s (%s)", want.ServiceKey, serviceDelta(*cur, want))
	return nil
}

// RemoveService deletes a service and its real servers.
func (c *Controller) RemoveService(s Spec) error {
	if err := ipvs.Do(c.IPVS, ipvs.RemoveServiceOp(s.Service)); err != nil {
		return err
	}
	c.say("removed service %s", s.Service)
	return nil
}

// AddNode makes sure the real server is in the service with the given
// settings, creating the service first if needed (scheduler wlc unless -s).
// Running it twice changes nothing the second time; different settings
// (e.g. another weight) edit the real server in place.
func (c *Controller) AddNode(s Spec) error {
	if !s.HasReal {
		return inputErr("add-node needs a real server (-r RIP[:PORT])")
	}
	want, err := s.DestValue(nil)
	if err != nil {
		return err
	}
	if err := c.checkNAT(want, false); err != nil {
		return err
	}
	cur, err := c.findService(s.Service)
	if err != nil {
		return err
	}
	if cur == nil {
		svc, err := s.ServiceValue(nil)
		if err != nil {
			return err
		}
		if err := ipvs.Do(c.IPVS, ipvs.CreateServiceOp(svc)); err != nil {
			return err
		}
		c.say("added service %s (scheduler %s)", svc.ServiceKey, svc.Scheduler)
	} else if s.Scheduler != "" || s.Persistent != nil || s.Netmask != nil || s.OnePacket || s.SchedFlags != 0 {
		if err := c.editService(s, cur); err != nil {
			return err
		}
	}
	have, err := c.findDest(s.Service, want.DestKey)
	if err != nil {
		return err
	}
	switch {
	case have == nil:
		if err := ipvs.Do(c.IPVS, ipvs.CreateDestOp(s.Service, want)); err != nil {
			return err
		}
		c.say("added real server %s to %s (%s, weight %d)", want.DestKey, s.Service, want.Forward, want.Weight)
	case sameDest(*have, want):
		c.say("unchanged: real server %s of %s", want.DestKey, s.Service)
	default:
		if err := ipvs.Do(c.IPVS, ipvs.UpdateDestOp(s.Service, want)); err != nil {
			return err
		}
		c.say("edited real server %s of %s (%s)", want.DestKey, s.Service, destDelta(*have, want))
	}
	return nil
}

// EditNode changes the options given on an existing real server and keeps
// the others.
func (c *Controller) EditNode(s Spec) error {
	if !s.HasReal {
		return inputErr("edit-node needs a real server (-r RIP[:PORT])")
	}
	have, err := c.findDest(s.Service, s.Real)
	if err != nil {
		return err
	}
	if have == nil {
		return notFound(fmt.Sprintf("edit real server %s of %s", s.Real, s.Service))
	}
	want, err := s.DestValue(have)
	if err != nil {
		return err
	}
	if err := c.checkNAT(want, false); err != nil {
		return err
	}
	if sameDest(*have, want) {
		c.say("unchanged: real server %s of %s", want.DestKey, s.Service)
		return nil
	}
	if err := ipvs.Do(c.IPVS, ipvs.UpdateDestOp(s.Service, want)); err != nil {
		return err
	}
	c.say("edited real server %s of %s (%s)", want.DestKey, s.Service, destDelta(*have, want))
	return nil
}

// RemoveNode deletes a real server at once, cutting its connections'
// scheduling (see DrainNode for the graceful way).
func (c *Controller) RemoveNode(s Spec) error {
	if !s.HasReal {
		return inputErr("remove-node needs a real server (-r RIP[:PORT])")
	}
	if err := ipvs.Do(c.IPVS, ipvs.RemoveDestOp(s.Service, s.Real)); err != nil {
		return err
	}
	c.say("removed real server %s from %s", s.Real, s.Service)
	return nil
}

// Clear removes every service (ipvsadm -C).
func (c *Controller) Clear() error {
	if err := c.IPVS.Flush(); err != nil {
		return err
	}
	c.say("cleared the IPVS table")
	return nil
}

// Zero resets counters of one service (key != nil) or all.
func (c *Controller) Zero(key *ipvs.ServiceKey) error {
	if err := c.IPVS.Zero(key); err != nil {
		return err
	}
	if key != nil {
		c.say("zeroed counters of %s", *key)
	} else {
		c.say("zeroed all counters")
	}
	return nil
}

// ShowTimeouts prints ipvsadm -L --timeout's line.
func (c *Controller) ShowTimeouts() error {
	t, err := c.IPVS.Timeouts()
	if err != nil {
		return err
	}
	c.say("Timeout (tcp tcpfin udp): %d %d %d", t.TCP, t.TCPFin, t.UDP)
	return nil
}

// SetTimeouts sets the connection timeouts; zero keeps a value (as
// ipvsadm --set documents). Current values are read first so the kernel
// is never sent a zero.
func (c *Controller) SetTimeouts(t ipvs.Timeouts) error {
	cur, err := c.IPVS.Timeouts()
	if err != nil {
		return err
	}
	if t.TCP == 0 {
		t.TCP = cur.TCP
	}
	if t.TCPFin == 0 {
		t.TCPFin = cur.TCPFin
	}
	if t.UDP == 0 {
		t.UDP = cur.UDP
	}
	if t == cur {
		c.say("unchanged: Timeout (tcp tcpfin udp): %d %d %d", t.TCP, t.TCPFin, t.UDP)
		return nil
	}
	if err := c.IPVS.SetTimeouts(t); err != nil {
		return err
	}
	c.say("Timeout (tcp tcpfin udp): %d %d %d", t.TCP, t.TCPFin, t.UDP)
	return nil
}

// Read dumps the kernel table, or one service of it (key != nil).
func (c *Controller) Read(key *ipvs.ServiceKey) (Table, error) {
	if key == nil {
		return ReadTable(c.IPVS)
	}
	s, err := c.findService(*key)
	if err != nil {
		return Table{}, err
	}
	if s == nil {
		return Table{}, notFound("list " + key.String())
	}
	ds, err := c.IPVS.Destinations(*key)
	if err != nil {
		return Table{}, err
	}
	return Table{Services: []Entry{{Service: *s, Dests: ds}}}, nil
}

// RestoreOptions tune Restore.
type RestoreOptions struct {
	PlanOptions
	DryRun bool // print the plan, change nothing
}

// Restore makes the kernel table equal to the ipvsadm -S format input read
// from r. The whole input is parsed and validated first: a bad line fails
// with its line number and nothing is changed. See RestoreTable.
func (c *Controller) Restore(r io.Reader, o RestoreOptions) (applied int, err error) {
	want, err := ParseRules(r)
	if err != nil {
		return 0, err
	}
	return c.RestoreTable(want, o)
}

// RestoreTable makes the kernel table equal to want (a validated table,
// from ParseRules): the kernel is dumped once, diffed, and only the
// differences are applied, so restoring the same table twice makes no
// change the second time.
func (c *Controller) RestoreTable(want Table, o RestoreOptions) (applied int, err error) {
	if want.ClearLine > 0 && o.KeepExtra {
		return 0, inputErr("line %d: -C clears the table, which --keep-extra forbids: drop one of them", want.ClearLine)
	}
	for _, e := range want.Services {
		for _, d := range e.Dests {
			if err := c.checkNAT(d, o.DryRun); err != nil {
				return 0, err
			}
		}
	}
	cur, err := ReadTable(c.IPVS)
	if err != nil {
		return 0, err
	}
	plan := Plan(cur, want, o.PlanOptions)
	ns, nd := want.Size()
	if o.DryRun {
		for _, ch := range plan {
			c.say("would %s", ch)
		}
		c.say("restore (dry run): %d changes for %d services, %d real servers", len(plan), ns, nd)
		return 0, nil
	}
	r, err := Apply(c.IPVS, plan)
	if err != nil {
		c.reportCutShort(r, want, o.PlanOptions)
		return r.Applied(), err
	}
	c.say("restore: %d changes applied (%d services, %d real servers in the input)", len(plan), ns, nd)
	return len(plan), nil
}

// IsInput reports whether err is the user's input (exit status 2).
func IsInput(err error) bool { return errors.Is(err, ErrInput) }
