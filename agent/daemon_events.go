package agent

import (
	"context"
	"net/netip"

	"github.com/lvsnode/lvsnode/tunnel"
)

// The daemon's event streams: subscribing, filtering and coalescing.

// subscription is the daemon's event streams: links, addresses and routes
// (loopback.Netlink.Watch) and policy rules (tunnel.Netlink.WatchRules,
// when the agent has a tunnel boundary). Either breaking ends both.
type subscription struct {
	events <-chan struct{} // filtered and coalesced (see subscribe)
	rules  <-chan tunnel.RuleEvent
	cancel context.CancelFunc
}

func (s subscription) close() {
	if s.cancel != nil {
		s.cancel()
	}
}

// subscribe opens the netlink watches, the rule watch only for a TUN plan.
// On failure it returns no channels (a nil channel blocks forever); the
// caller tries again later and the periodic re-list keeps repairing in the
// meantime.
//
// The events pass through a filter (see interest) and are coalesced: the
// returned channel holds at most one pending "something of ours changed",
// so a burst of events while a reconcile runs costs one more reconcile,
// and churn that is not the plan's business costs none. It is closed when
// the subscription breaks.
func (d *Daemon) subscribe(ctx context.Context) subscription {
	ctx, cancel := context.WithCancel(ctx)
	ch, err := d.Agent.NL.Watch(ctx)
	if err != nil {
		cancel()
		d.Log.Warn("netlink subscription failed; relying on periodic re-list until it works", "err", err)
		return subscription{}
	}
	kicks := make(chan struct{}, 1)
	go func() {
		defer close(kicks)
		for ev := range ch {
			if !d.AllEvents && !d.interest.Load().concerns(ev) {
				continue
			}
			select {
			case kicks <- struct{}{}:
			default: // one is already pending: it re-lists for both
			}
		}
	}()
	sub := subscription{events: kicks, cancel: cancel}
	if d.Agent.Tun != nil && d.plan.Tun != nil { // the MSS rules are TUN's alone
		if sub.rules, err = d.Agent.Tun.WatchRules(ctx); err != nil {
			cancel()
			d.Log.Warn("rule subscription failed; relying on periodic re-list until it works", "err", err)
			return subscription{}
		}
	}
	return sub
}

// concerns tells whether a rule event is about the plan: a rule with
// lvsnode's protocol or table, or one from a VIP (someone else's rule for
// a VIP can shadow lvsnode's). Other rules' churn costs no apply.
func (d *Daemon) concerns(ev tunnel.RuleEvent) bool {
	r := ev.Rule
	if r.Protocol == OwnerProto || r.Table == MSSTable {
		return true
	}
	for _, v := range d.opts.VIPs {
		if r.Src == netip.PrefixFrom(v, v.BitLen()) {
			return true
		}
	}
	return false
}

// drainRules takes the rule events already queued (a burst is one apply)
// and tells whether any concerns the plan. A closed channel is left for
// the next select to see.
func (d *Daemon) drainRules(rules <-chan tunnel.RuleEvent) bool {
	relevant := false
	for {
		select {
		case ev, ok := <-rules:
			if !ok {
				return relevant
			}
			relevant = relevant || d.concerns(ev)
		default:
			return relevant
		}
	}
}
