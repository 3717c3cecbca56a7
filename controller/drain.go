package controller

import (
	"fmt"
	"time"

	"github.com/lvsnode/lvsnode/ipvs"
)

// DrainOptions tune DrainNode.
type DrainOptions struct {
	// Timeout bounds the wait; 0 waits as long as it takes.
	Timeout time.Duration
	// Interval between two reads of the counters (default 1s).
	Interval time.Duration
	// Keep leaves the drained real server in place at weight 0 instead of
	// removing it.
	Keep bool
	// Force removes the real server when the timeout expires with
	// connections left; without it the timeout is an error and the real
	// server stays at weight 0.
	Force bool
}

// ErrDrainTimeout is returned when connections outlive DrainOptions.Timeout.
var ErrDrainTimeout = fmt.Errorf("drain timed out")

// DrainNode takes a real server out of service gracefully: weight 0 (no
// new connections), then it polls ActiveConn+InActConn until both are 0 or
// the timeout expires, printing progress, and finally removes it.
func (c *Controller) DrainNode(s Spec, o DrainOptions) error {
	if !s.HasReal {
		return inputErr("drain-node needs a real server (-r RIP[:PORT])")
	}
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
	have, err := c.findDest(s.Service, s.Real)
	if err != nil {
		return err
	}
	if have == nil {
		return notFound(fmt.Sprintf("drain real server %s of %s", s.Real, s.Service))
	}
	if have.Weight != 0 {
		d := *have
		if d.Forward == ipvs.Local {
			d.Forward = ipvs.Route
		}
		d.Weight = 0
		if err := ipvs.Do(c.IPVS, ipvs.UpdateDestOp(s.Service, d)); err != nil {
			return err
		}
		c.say("draining %s of %s: weight %d -> 0, no new connections", s.Real, s.Service, have.Weight)
	} else {
		c.say("draining %s of %s: weight already 0", s.Real, s.Service)
	}
	start := now()
	last := [2]uint32{^uint32(0), ^uint32(0)}
	for {
		d, err := c.findDest(s.Service, s.Real)
		if err != nil {
			return err
		}
		if d == nil {
			c.say("real server %s of %s is gone (removed by someone else)", s.Real, s.Service)
			return nil
		}
		cur := [2]uint32{d.ActiveConns, d.InactiveConns}
		if cur != last {
			tmpl := ""
			if d.PersistentConns > 0 {
				// Templates send returning clients back here until they
				// expire (net.ipv4.vs.expire_quiescent_template=1 ends
				// them once the weight is 0).
				tmpl = fmt.Sprintf(", %d persistence templates", d.PersistentConns)
			}
			c.say("  %s: %d active, %d inactive connections%s (%s)", s.Real, cur[0], cur[1], tmpl, now().Sub(start).Round(time.Second))
			last = cur
		}
		if cur[0] == 0 && cur[1] == 0 {
			break
		}
		if o.Timeout > 0 && now().Sub(start) >= o.Timeout {
			if !o.Force {
				return fmt.Errorf("%w after %s: %s of %s still has %d active, %d inactive connections; left in place at weight 0 (rerun to keep waiting, or add --force to remove it anyway)",
					ErrDrainTimeout, o.Timeout, s.Real, s.Service, cur[0], cur[1])
			}
			c.say("timeout after %s with %d active, %d inactive connections: removing anyway (--force)", o.Timeout, cur[0], cur[1])
			break
		}
		wait := o.Interval
		if o.Timeout > 0 {
			wait = min(wait, o.Timeout-now().Sub(start)) // never sleep past the timeout
		}
		sleep(wait)
	}
	if o.Keep {
		c.say("drained %s of %s; kept at weight 0 (--keep)", s.Real, s.Service)
		return nil
	}
	if err := ipvs.Do(c.IPVS, ipvs.RemoveDestOp(s.Service, s.Real)); err != nil {
		return err
	}
	c.say("drained and removed real server %s from %s", s.Real, s.Service)
	return nil
}
