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
	// EnableForwarding lets NAT commands set ip_forward=1 themselves (for
	// IPv6, see forwardingWrites).
	EnableForwarding bool
	// Interfaces lists the host's interfaces (default: net.Interfaces).
	Interfaces func() ([]string, error)

	// Lock, when set, takes the table lock and returns its release. Only
	// drain-node uses it, around each of its changes, so that its wait
	// does not block other commands; the quick commands run under a lock
	// their caller took for the whole command.
	Lock func() (unlock func(), err error)

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
// with EnableForwarding; a dry run only says what it would set. It reports
// whether something was, or would be, written.
func (c *Controller) checkNAT(d ipvs.Destination, dryRun bool) (bool, error) {
	if d.Forward != ipvs.Masq {
		return false, nil
	}
	ifaces := c.Interfaces
	if ifaces == nil {
		ifaces = interfaceNames
	}
	notes, changed, err := ensureForwarding(c.Sysctl, d.Addr.Is6(), c.EnableForwarding, dryRun, ifaces)
	for _, n := range notes {
		c.say("%s", n)
	}
	return changed, err
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
		if err := c.change(Change{Op: CreateService, Service: want}); err != nil {
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
	if err := c.change(Change{Op: UpdateService, Service: want}); err != nil {
		return err
	}
	c.say("edited service %s (%s)", want.ServiceKey, serviceDelta(*cur, want))
	return nil
}

// RemoveService deletes a service and its real servers.
func (c *Controller) RemoveService(s Spec) error {
	if err := c.change(Change{Op: RemoveService, Service: ipvs.Service{ServiceKey: s.Service}}); err != nil {
		return err
	}
	c.say("removed service %s", s.Service)
	return nil
}

// AddNode makes sure the real server is in the service with the given
// settings, creating the service first if needed (scheduler wlc unless -s).
// Running it twice changes nothing the second time. Like EditNode, it
// changes only what the command line names: on an existing real server,
// -w alone changes the weight and keeps the method, tunnel type, port,
// checksum mode and thresholds; a new one takes ipvsadm's defaults for
// what is left out (direct routing, weight 1).
func (c *Controller) AddNode(s Spec) error {
	if !s.HasReal {
		return inputErr("add-node needs a real server (-r RIP[:PORT])")
	}
	cur, err := c.findService(s.Service)
	if err != nil {
		return err
	}
	var have *ipvs.Destination
	if cur != nil {
		if have, err = c.findDest(s.Service, s.Real); err != nil {
			return err
		}
	}
	// Every value is computed and checked before the first change.
	want, err := s.DestValue(have)
	if err != nil {
		return err
	}
	if _, err := c.checkNAT(want, false); err != nil {
		return err
	}
	if have == nil {
		if err := c.checkMixedSync(s.Service, want.DestKey); err != nil { // daemon.go
			return err
		}
	}
	if cur == nil {
		svc, err := s.ServiceValue(nil)
		if err != nil {
			return err
		}
		if err := c.change(Change{Op: CreateService, Service: svc}); err != nil {
			return err
		}
		c.say("added service %s (scheduler %s)", svc.ServiceKey, svc.Scheduler)
	} else if s.hasServiceOpts() {
		if err := c.editService(s, cur); err != nil {
			return err
		}
	}
	switch {
	case have == nil:
		if err := c.change(Change{Op: CreateDest, Service: ipvs.Service{ServiceKey: s.Service}, Dest: want}); err != nil {
			return err
		}
		c.say("added real server %s to %s (%s, weight %d)", want.DestKey, s.Service, want.Forward, want.Weight)
	case sameDest(*have, want):
		c.say("unchanged: real server %s of %s", want.DestKey, s.Service)
	default:
		if err := c.setDest(s.Service, want); err != nil {
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
	if _, err := c.checkNAT(want, false); err != nil {
		return err
	}
	if sameDest(*have, want) {
		c.say("unchanged: real server %s of %s", want.DestKey, s.Service)
		return nil
	}
	if err := c.setDest(s.Service, want); err != nil {
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
	if err := c.removeDest(s.Service, s.Real); err != nil {
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

// ErrChangesPending is what a dry run returns when the kernel does not
// match the input yet (the CLI exits 1, as diff does when files differ).
var ErrChangesPending = errors.New("changes pending")

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
// change the second time. A dry run prints the plan and returns
// ErrChangesPending when it is not empty (or a sysctl would be written).
func (c *Controller) RestoreTable(want Table, o RestoreOptions) (applied int, err error) {
	if want.ClearLine > 0 && o.KeepExtra {
		return 0, inputErr("line %d: -C clears the table, which --keep-extra forbids: drop one of them", want.ClearLine)
	}
	pending := false
	checked := map[bool]bool{} // per family
	for _, e := range want.Services {
		for _, d := range e.Dests {
			if d.Forward != ipvs.Masq || checked[d.Addr.Is6()] {
				continue
			}
			checked[d.Addr.Is6()] = true
			changed, err := c.checkNAT(d, o.DryRun)
			if err != nil {
				return 0, err
			}
			pending = pending || changed
		}
	}
	for _, n := range want.Notes {
		c.say("note: %s", n)
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
		if len(plan) > 0 || pending {
			return 0, ErrChangesPending
		}
		return 0, nil
	}
	for replans := 0; ; replans++ {
		r, err := Apply(c.IPVS, plan)
		applied += r.Applied()
		if err == nil {
			break
		}
		if replans == restoreReplans || !r.staleRead() {
			c.reportCutShort(r, want, o.PlanOptions)
			return applied, err
		}
		// The read missed a change another program made (ReadTable):
		// what was planned from it is moot, not refused.
		c.say("the table changed after it was read (%v): reading it again and planning the rest", err)
		if cur, err = readTableFor(c.IPVS, want); err != nil {
			return applied, err
		}
		plan = Plan(cur, want, o.PlanOptions)
	}
	c.say("restore: %d changes applied (%d services, %d real servers in the input)", applied, ns, nd)
	return applied, nil
}

// restoreReplans bounds how often a restore reads the table again and
// plans anew after the kernel said its read was stale (Report.staleRead).
const restoreReplans = 3

// IsInput reports whether err is the user's input (exit status 2).
func IsInput(err error) bool { return errors.Is(err, ErrInput) }
