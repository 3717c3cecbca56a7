package controller

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/lvsnode/lvsnode/ipvs"
	"github.com/lvsnode/lvsnode/sysctl"
)

// DrainOptions tune DrainNode and DrainEverywhere.
type DrainOptions struct {
	// Timeout bounds the wait; 0 waits as long as it takes.
	Timeout time.Duration
	// Interval between two reads of the counters (default 1s).
	Interval time.Duration
	// Keep leaves the drained real server in place at weight 0 instead of
	// removing it.
	Keep bool
	// Force removes the real server when the timeout expires with
	// connections or templates left; without it the timeout is an error
	// and the real server stays at weight 0.
	Force bool
}

// ErrDrainTimeout is returned when connections outlive DrainOptions.Timeout.
var ErrDrainTimeout = fmt.Errorf("drain timed out")

// quiescentKey decides what happens to persistent clients of a real server
// at weight 0: with 1 the kernel expires a template that points at one when
// its client comes back, so the client is scheduled elsewhere; with 0 (the
// kernel's default) the template keeps sending it to the draining server
// until it expires, persistence timeout after the client's last connection.
var quiescentKey = sysctl.Key{"net", "ipv4", "vs", "expire_quiescent_template"}

// drainTarget is one real server of one service being drained.
type drainTarget struct {
	svc        ipvs.ServiceKey
	dest       ipvs.DestKey
	persistent bool
	timeout    uint32 // persistence timeout, seconds
	last       [3]uint32
	gone       bool
}

func (t *drainTarget) name() string { return fmt.Sprintf("%s of %s", t.dest, t.svc) }

// DrainNode takes a real server out of one service gracefully: weight 0
// (no new connections), then it polls ActiveConn, InActConn and, for
// persistent services, PersistConn (the templates that send returning
// clients back to it) until all are 0 or the timeout expires, printing
// progress, and finally removes it.
func (c *Controller) DrainNode(s Spec, o DrainOptions) error {
	if !s.HasReal {
		return inputErr("drain-node needs a real server (-r RIP[:PORT])")
	}
	return c.drain(func() ([]*drainTarget, []ipvs.Destination, error) {
		svc, err := c.findService(s.Service)
		if err != nil {
			return nil, nil, err
		}
		var have *ipvs.Destination
		if svc != nil {
			if have, err = c.findDest(s.Service, s.Real); err != nil {
				return nil, nil, err
			}
		}
		if have == nil {
			return nil, nil, notFound(fmt.Sprintf("drain real server %s of %s", s.Real, s.Service))
		}
		return []*drainTarget{newTarget(*svc, *have)}, []ipvs.Destination{*have}, nil
	}, o)
}

// DrainEverywhere drains the real server rip (an address, with a port or,
// when port is nil, any port) from every service and fwmark service it is
// in, all at once: weight 0 everywhere first, then one wait for all of
// them, then removal. It fails with ErrNotFound when no service has it.
func (c *Controller) DrainEverywhere(rip netip.Addr, port *uint16, o DrainOptions) error {
	return c.drain(func() ([]*drainTarget, []ipvs.Destination, error) {
		t, err := ReadTable(c.IPVS)
		if err != nil {
			return nil, nil, err
		}
		var targets []*drainTarget
		var dests []ipvs.Destination
		for _, e := range t.Services {
			for _, d := range e.Dests {
				if d.Addr == rip && (port == nil || d.Port == *port) {
					targets = append(targets, newTarget(e.Service, d))
					dests = append(dests, d)
				}
			}
		}
		if len(targets) == 0 {
			what := rip.String()
			if port != nil {
				what = ipvs.DestKey{Addr: rip, Port: *port}.String()
			}
			return nil, nil, notFound("drain real server " + what + " from every service")
		}
		c.say("draining %s from %d services", rip, len(targets))
		return targets, dests, nil
	}, o)
}

func newTarget(s ipvs.Service, d ipvs.Destination) *drainTarget {
	return &drainTarget{svc: s.ServiceKey, dest: d.DestKey, persistent: s.Flags&ipvs.FlagPersistent != 0, timeout: s.Timeout,
		last: [3]uint32{^uint32(0), ^uint32(0), ^uint32(0)}}
}

// drain finds its targets and sets each to weight 0, waits until none
// has connections or templates left, and removes them (see DrainNode).
// It holds the table lock (Controller.Lock) only while it changes the
// table: around finding the targets and setting their weight 0, and
// around the removal, for which it reads each real server again: one
// removed meanwhile is skipped, one whose weight someone set back above 0
// (add-node, edit-node) is left in place, and the drain fails saying so.
// The wait in between, minutes or forever, never blocks other commands.
func (c *Controller) drain(find func() ([]*drainTarget, []ipvs.Destination, error), o DrainOptions) error {
	sleep, now := c.Sleep, c.Now
	if sleep == nil {
		sleep = time.Sleep
	}
	if now == nil {
		now = time.Now
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	targets, err := c.locked(func() ([]*drainTarget, error) {
		targets, have, err := find()
		if err != nil {
			return nil, err
		}
		c.warnQuiescent(targets)
		for i, t := range targets {
			if have[i].Weight == 0 {
				c.say("draining %s: weight already 0", t.name())
				continue
			}
			d := have[i]
			d.Forward = methodOf(d)
			d.Weight = 0
			if err := c.setDest(t.svc, d); err != nil {
				return nil, err
			}
			c.say("draining %s: weight %d -> 0, no new connections", t.name(), have[i].Weight)
		}
		return targets, nil
	})
	if err != nil {
		return err
	}
	start := now()
	for {
		left, err := c.pollTargets(targets, now().Sub(start))
		if err != nil {
			return err
		}
		if len(left) == 0 {
			break
		}
		if o.Timeout > 0 && now().Sub(start) >= o.Timeout {
			if !o.Force {
				return fmt.Errorf("%w after %s: %s; left in place at weight 0 (rerun to keep waiting, or add --force to remove anyway)",
					ErrDrainTimeout, o.Timeout, strings.Join(left, "; "))
			}
			c.say("timeout after %s with %s: removing anyway (--force)", o.Timeout, strings.Join(left, "; "))
			break
		}
		wait := o.Interval
		if o.Timeout > 0 {
			wait = min(wait, o.Timeout-now().Sub(start)) // never sleep past the timeout
		}
		sleep(wait)
	}
	_, err = c.locked(func() ([]*drainTarget, error) { return nil, c.finishDrain(targets, o.Keep) })
	return err
}

// ErrDrainUndone: while a drain waited, another command set the drained
// real server's weight above 0 again; the drain leaves it in place.
var ErrDrainUndone = errors.New("weight set above 0 by another command during the drain")

// finishDrain removes the drained targets (or keeps them, --keep), after
// reading each again under the lock.
func (c *Controller) finishDrain(targets []*drainTarget, keep bool) error {
	var undone []string
	for _, t := range targets {
		if t.gone {
			continue
		}
		d, err := c.findDest(t.svc, t.dest)
		switch {
		case err != nil:
			return err
		case d == nil:
			c.say("real server %s is gone (removed by someone else)", t.name())
		case d.Weight != 0:
			c.say("not removing %s: its weight is %d again (set by another command while the drain waited)", t.name(), d.Weight)
			undone = append(undone, fmt.Sprintf("%s (weight %d)", t.name(), d.Weight))
		case keep:
			c.say("drained %s; kept at weight 0 (--keep)", t.name())
		default:
			if err := c.removeDest(t.svc, t.dest); err != nil {
				return err
			}
			c.say("drained and removed real server %s", t.name())
		}
	}
	if len(undone) > 0 {
		return fmt.Errorf("%w: left in place: %s", ErrDrainUndone, strings.Join(undone, "; "))
	}
	return nil
}

// locked runs fn under Controller.Lock, when there is one.
func (c *Controller) locked(fn func() ([]*drainTarget, error)) ([]*drainTarget, error) {
	if c.Lock != nil {
		unlock, err := c.Lock()
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	return fn()
}

// pollTargets reads each target's counters, prints those that changed,
// and returns what is still left ("10.0.0.11:80 of TCP ...: 1 active, ...").
func (c *Controller) pollTargets(targets []*drainTarget, elapsed time.Duration) ([]string, error) {
	var left []string
	for _, t := range targets {
		if t.gone {
			continue
		}
		d, err := c.findDest(t.svc, t.dest)
		if err != nil {
			return nil, err
		}
		if d == nil {
			c.say("real server %s is gone (removed by someone else)", t.name())
			t.gone = true
			continue
		}
		cur := [3]uint32{d.ActiveConns, d.InactiveConns, d.PersistentConns}
		state := fmt.Sprintf("%d active, %d inactive connections", cur[0], cur[1])
		if t.persistent || cur[2] > 0 {
			state += fmt.Sprintf(", %d persistence templates", cur[2])
		}
		if cur != t.last {
			c.say("  %s: %s (%s)", t.name(), state, elapsed.Round(time.Second))
			t.last = cur
		}
		if cur != [3]uint32{} {
			left = append(left, t.name()+" still has "+state)
		}
	}
	return left, nil
}

// warnQuiescent tells the operator when expire_quiescent_template=0 will
// keep returning persistent clients on the draining server. Unreadable
// (no sysctl client, IPVS sysctls absent): nothing to say.
func (c *Controller) warnQuiescent(targets []*drainTarget) {
	var longest uint32
	persistent := false
	for _, t := range targets {
		if t.persistent {
			persistent = true
			longest = max(longest, t.timeout)
		}
	}
	if !persistent || c.Sysctl == nil {
		return
	}
	v, err := c.Sysctl.Get(quiescentKey)
	if err != nil || strings.TrimSpace(v) != "0" {
		return
	}
	c.say("warning: %s=0: persistent clients that come back keep being sent to the draining server until their template expires "+
		"(%ds after their last connection), so the drain waits for them too; set it to 1 to move them at once", quiescentKey, longest)
}
