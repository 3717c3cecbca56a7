package tunnel

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// Policy rules send events: the kernel multicasts RTM_NEWRULE and
// RTM_DELRULE to RTNLGRP_IPV4_RULE and RTNLGRP_IPV6_RULE (fib_rules.c,
// notify_rule_change). vishvananda/netlink v1.3 has no subscription for
// them, so this is a raw rtnetlink socket over mdlayher/netlink. FOU ports
// have no such group (the fou genetlink family has no multicast group):
// they are only re-listed.

// RuleEvent is one rule the kernel added or deleted.
type RuleEvent struct {
	Rule    Rule
	Deleted bool
}

// fib_rule_hdr is 12 bytes: family, dst_len, src_len, tos, table, res1,
// res2, action, flags (u32).
const fibRuleHdrLen = 12

// WatchRules subscribes to both families' rule events. The channel is
// closed when the stream breaks (a receive error, such as ENOBUFS after an
// overrun: events were lost) or ctx ends; the caller then resubscribes and
// re-lists.
func (k *Kernel) WatchRules(ctx context.Context) (<-chan RuleEvent, error) {
	c, err := netlink.Dial(unix.NETLINK_ROUTE, nil)
	if err != nil {
		return nil, fmt.Errorf("subscribe to rules: %w", err)
	}
	for _, g := range []uint32{unix.RTNLGRP_IPV4_RULE, unix.RTNLGRP_IPV6_RULE} {
		if err := c.JoinGroup(g); err != nil {
			c.Close()
			return nil, fmt.Errorf("subscribe to rules (group %d): %w", g, err)
		}
	}
	out := make(chan RuleEvent, 64)
	stop := context.AfterFunc(ctx, func() { c.Close() }) // unblocks Receive
	go func() {
		defer close(out)
		defer stop()
		defer c.Close()
		for {
			msgs, err := c.Receive()
			if err != nil {
				return
			}
			for _, m := range msgs {
				ev, ok := parseRuleMsg(m)
				if !ok {
					continue
				}
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

// parseRuleMsg decodes an RTM_NEWRULE or RTM_DELRULE message; ok is false
// for anything else.
func parseRuleMsg(m netlink.Message) (RuleEvent, bool) {
	var ev RuleEvent
	switch m.Header.Type {
	case unix.RTM_NEWRULE:
	case unix.RTM_DELRULE:
		ev.Deleted = true
	default:
		return ev, false
	}
	if len(m.Data) < fibRuleHdrLen {
		return ev, false
	}
	fam, srcLen := m.Data[0], int(m.Data[2])
	ev.Rule.Table = int(m.Data[4])
	ad, err := netlink.NewAttributeDecoder(m.Data[fibRuleHdrLen:])
	if err != nil {
		return ev, false
	}
	ad.ByteOrder = binary.NativeEndian
	for ad.Next() {
		switch ad.Type() {
		case unix.FRA_SRC:
			if a, ok := netip.AddrFromSlice(ad.Bytes()); ok {
				if (fam == unix.AF_INET) == a.Is4() {
					ev.Rule.Src = netip.PrefixFrom(a, srcLen)
				}
			}
		case unix.FRA_TABLE:
			ev.Rule.Table = int(ad.Uint32())
		case unix.FRA_PRIORITY:
			ev.Rule.Priority = int(ad.Uint32())
		case unix.FRA_PROTOCOL:
			ev.Rule.Protocol = int(ad.Uint8())
		}
	}
	return ev, ad.Err() == nil
}
