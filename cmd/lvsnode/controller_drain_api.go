package main

import (
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/lvsnode/lvsnode/controller"
	"github.com/lvsnode/lvsnode/director"
)

// ctlDrainForever is the daemon's drain timeout for `--timeout 0`: a
// century, which no connection outlives.
const ctlDrainForever = director.Duration(100 * 365 * 24 * time.Hour)

// ctlDrainWaitMargin is how long past the drain's timeout the CLI keeps
// polling: the daemon ends the drain at its timeout (removing or parking
// the real server), so a wait that outlives it by this much means the
// daemon is not reporting, and the CLI stops rather than hang.
const ctlDrainWaitMargin = 30 * time.Second

// ctlDrainNodeAPI asks the daemon to drain (it returns once draining has
// started), then, unless --no-wait, polls GET /v1/status until every real
// server it named is drained, parked or gone.
func ctlDrainNodeAPI(c *cli.Context, api *director.APIClient) error {
	ref, err := ctlDrainRef(c)
	if err != nil {
		return err
	}
	timeout := c.Duration("timeout")
	o := director.DrainOptions{Timeout: director.Duration(timeout), Remove: !c.Bool("keep")}
	if timeout == 0 { // --timeout 0 means "wait forever", as without a daemon, not the daemon's default
		o.Timeout = ctlDrainForever
	}
	if err := api.Drain(c.Context, ref, o); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "draining %s (through the director at %s)\n", ref, api.Addr())
	if c.Bool("no-wait") {
		return nil
	}
	return ctlWaitDrained(c, api, ref, timeout)
}

// ctlDrainRef is the real server a drain-node or undrain-node command
// line names: one service's (-t/-u/--sctp-service/-f and -r), or every
// service's (--all-services -r RIP[:PORT], the API's "*").
func ctlDrainRef(c *cli.Context) (director.NodeRef, error) {
	if c.Bool("all-services") {
		f := ctlFlagsOf(c)
		if f.TCP != "" || f.UDP != "" || f.SCTP != "" || f.FWMark != "" || c.NArg() > 0 {
			return director.NodeRef{}, cli.Exit("--all-services takes only a real server (-r RIP[:PORT]), no service", 2)
		}
		rip, port, err := controller.ParseRealAddr(f.Real)
		if err != nil {
			return director.NodeRef{}, ctlExitErr(err)
		}
		ref := director.NodeRef{Service: "*", Address: rip.String()}
		if port != nil {
			ref.Port = *port
		}
		return ref, nil
	}
	s, err := ctlAPISpec(c)
	if err != nil {
		return director.NodeRef{}, err
	}
	return ctlNodeRef(s), nil
}

// ctlDrainMatch tells whether a real server of the status is one the drain
// named.
func ctlDrainMatch(ref director.NodeRef, n director.NodeStatus, svc string) bool {
	a, err1 := netip.ParseAddr(ref.Address)
	b, err2 := netip.ParseAddr(n.Address)
	if err1 != nil || err2 != nil || a.Unmap() != b.Unmap() {
		return false
	}
	if ref.Port != 0 && n.Port != 0 && ref.Port != n.Port {
		return false
	}
	norm := func(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }
	return ref.Service == "*" || norm(ref.Service) == norm(svc)
}

func ctlWaitDrained(c *cli.Context, api *director.APIClient, ref director.NodeRef, timeout time.Duration) error {
	interval := c.Duration("interval")
	if interval <= 0 {
		interval = time.Second
	}
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout + ctlDrainWaitMargin)
	}
	last := ""
	for {
		st, err := api.Status(c.Context)
		if err != nil {
			return err
		}
		pending, parked := 0, 0
		var active, inact, persist uint32
		for _, s := range st.Services {
			for _, n := range s.Nodes {
				if !ctlDrainMatch(ref, n, s.Service) {
					continue
				}
				switch n.Drain {
				case director.DrainParked, director.DrainDrained:
					if n.Drain == director.DrainParked {
						parked++
					}
				default: // draining, or not yet picked up
					pending++
					active, inact, persist = active+n.ActiveConn, inact+n.InactConn, persist+n.PersistConn
				}
			}
		}
		if pending == 0 {
			if parked > 0 {
				fmt.Fprintf(c.App.Writer, "drained %s: parked at weight 0\n", ref)
			} else {
				fmt.Fprintf(c.App.Writer, "drained %s\n", ref)
			}
			return nil
		}
		line := fmt.Sprintf("waiting for %s: ActiveConn %d, InActConn %d, PersistConn %d", ref, active, inact, persist)
		if line != last {
			fmt.Fprintln(c.App.Writer, line)
			last = line
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return fmt.Errorf("drain of %s: the director still reports it draining %s after its timeout (see lvsnode controller status)", ref, ctlDrainWaitMargin)
		}
		select {
		case <-c.Context.Done():
			return c.Context.Err()
		case <-time.After(interval):
		}
	}
}
