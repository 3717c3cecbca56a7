package tunnel

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/lvsnode/lvsnode/internal/rtnl"
)

// Kernel implements Netlink on the calling process's network namespace.
type Kernel struct {
	h *netlink.Handle
}

var _ Netlink = (*Kernel)(nil)

// NewKernel opens an rtnetlink handle (and, on first use, generic netlink
// for FOU) in the current network namespace.
func NewKernel() (*Kernel, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE, unix.NETLINK_GENERIC)
	if err != nil {
		return nil, fmt.Errorf("open netlink: %w", err)
	}
	return &Kernel{h: h}, nil
}

// Close releases the netlink sockets.
func (k *Kernel) Close() error { k.h.Close(); return nil }

func (k *Kernel) Link(name string) (Link, error) {
	l, err := rtnl.Link(k.h, name)
	if err != nil {
		return Link{}, err
	}
	a := l.Attrs()
	return Link{Name: name, Up: a.Flags&net.FlagUp != 0, MTU: a.MTU}, nil
}

func (k *Kernel) AddFallback(kind Kind) error {
	name := FallbackName(kind)
	attrs := netlink.LinkAttrs{Name: name}
	var l netlink.Link
	switch kind {
	case KindIPIP:
		l = &netlink.Iptun{LinkAttrs: attrs}
	case KindIP6Tnl:
		l = &netlink.Ip6tnl{LinkAttrs: attrs}
	case KindSIT:
		l = &netlink.Sittun{LinkAttrs: attrs}
	case KindGRE:
		l = &netlink.Gretun{LinkAttrs: attrs, Local: net.IPv4zero, Remote: net.IPv4zero}
	case KindIP6GRE:
		l = &netlink.Gretun{LinkAttrs: attrs, Local: net.IPv6zero, Remote: net.IPv6zero}
	default:
		return fmt.Errorf("tunnel kind %q: %w", kind, ErrUnsupported)
	}
	err := k.h.LinkAdd(l)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EEXIST):
		return fmt.Errorf("%s: %w", name, ErrExist)
	case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.ENOENT), errors.Is(err, unix.EAFNOSUPPORT):
		return fmt.Errorf("%s (kind %s): %w", name, kind, ErrUnsupported)
	}
	return fmt.Errorf("add %s (kind %s): %w", name, kind, err)
}

func (k *Kernel) DelLink(name string) error {
	l, err := rtnl.Link(k.h, name)
	if err != nil {
		return err
	}
	if err := k.h.LinkDel(l); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

func (k *Kernel) SetLinkUp(name string, up bool) error {
	l, err := rtnl.Link(k.h, name)
	if err != nil {
		return err
	}
	if up {
		err = k.h.LinkSetUp(l)
	} else {
		err = k.h.LinkSetDown(l)
	}
	if err != nil {
		return fmt.Errorf("set %s up=%v: %w", name, up, err)
	}
	return nil
}

// fouErr maps the FOU family's errors to the sentinels (a kernel without
// fou is caught before, by the family lookup).
func fouErr(op string, f Fou, err error) error {
	switch {
	case errors.Is(err, ErrUnsupported):
		return err
	case errors.Is(err, unix.EEXIST), errors.Is(err, unix.EADDRINUSE):
		return fmt.Errorf("%s: %w", f, ErrExist)
	case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ESRCH):
		return fmt.Errorf("%s: %w", f, ErrNotFound)
	case errors.Is(err, unix.EOPNOTSUPP), errors.Is(err, unix.EAFNOSUPPORT):
		return fmt.Errorf("%s: %w", f, ErrUnsupported)
	}
	return fmt.Errorf("%s %s: %w", op, f, err)
}

func (k *Kernel) Rules(family int) ([]Rule, error) {
	nr, err := rtnl.RetryDump(func() ([]netlink.Rule, error) { return k.h.RuleList(rtnl.AF(family)) })
	if err != nil {
		return nil, fmt.Errorf("list rules: %w", err)
	}
	out := make([]Rule, 0, len(nr))
	for _, r := range nr {
		src, _ := rtnl.Prefix(r.Src)
		out = append(out, Rule{Src: src, Table: r.Table, Priority: r.Priority, Protocol: int(r.Protocol)})
	}
	return out, nil
}

func nlRule(r Rule) *netlink.Rule {
	nr := netlink.NewRule()
	nr.Family = rtnl.AF(rtnl.Family(r.Src.Addr()))
	nr.Src = rtnl.IPNet(r.Src)
	nr.Table = r.Table
	nr.Priority = r.Priority
	nr.Protocol = uint8(r.Protocol)
	return nr
}

func (k *Kernel) AddRule(r Rule) error {
	if err := k.h.RuleAdd(nlRule(r)); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("%s: %w", r, ErrExist)
		}
		return fmt.Errorf("add %s: %w", r, err)
	}
	return nil
}

func (k *Kernel) DelRule(r Rule) error {
	if err := k.h.RuleDel(nlRule(r)); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("%s: %w", r, ErrNotFound)
		}
		return fmt.Errorf("delete %s: %w", r, err)
	}
	return nil
}

func (k *Kernel) Routes(table, family int) ([]Route, error) {
	filter := &netlink.Route{Table: table}
	nr, err := rtnl.RetryDump(func() ([]netlink.Route, error) {
		return k.h.RouteListFiltered(rtnl.AF(family), filter, netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return nil, fmt.Errorf("list routes of table %d: %w", table, err)
	}
	names := map[int]string{}
	out := make([]Route, 0, len(nr))
	for _, r := range nr {
		out = append(out, k.fromNL(r, family, names))
	}
	return out, nil
}

func (k *Kernel) devName(idx int, cache map[int]string) string {
	if idx == 0 {
		return ""
	}
	if n, ok := cache[idx]; ok {
		return n
	}
	n := fmt.Sprintf("if%d", idx)
	if l, err := k.h.LinkByIndex(idx); err == nil {
		n = l.Attrs().Name
	}
	cache[idx] = n
	return n
}

func (k *Kernel) fromNL(r netlink.Route, family int, names map[int]string) Route {
	dst, ok := rtnl.Prefix(r.Dst)
	if !ok { // the library reports a default route as a nil Dst
		dst = netip.PrefixFrom(netip.IPv4Unspecified(), 0)
		if family == 6 {
			dst = netip.PrefixFrom(netip.IPv6Unspecified(), 0)
		}
	}
	out := Route{
		Table: r.Table, Family: family, Dst: dst, Dev: k.devName(r.LinkIndex, names),
		Protocol: int(r.Protocol), Metric: r.Priority, Scope: int(r.Scope), Type: r.Type,
		OnLink: r.Flags&int(netlink.FLAG_ONLINK) != 0, AdvMSS: r.AdvMSS, MTU: r.MTU,
	}
	out.Gw = rtnl.Addr(r.Gw)
	switch {
	case r.Via != nil:
		out.Foreign = "via " + r.Via.String()
	case r.Encap != nil:
		out.Foreign = "encap " + r.Encap.String()
	}
	for _, h := range r.MultiPath {
		out.NextHops = append(out.NextHops, Hop{Gw: rtnl.Addr(h.Gw), Dev: k.devName(h.LinkIndex, names), Weight: h.Hops + 1})
		switch {
		case h.Via != nil:
			out.Foreign = "nexthop via " + h.Via.String()
		case h.Encap != nil:
			out.Foreign = "nexthop encap " + h.Encap.String()
		}
	}
	return out
}

func (k *Kernel) toNL(r Route) (*netlink.Route, error) {
	if r.Foreign != "" {
		return nil, fmt.Errorf("route %s: cannot be rebuilt (%s)", r, r.Foreign)
	}
	nr := &netlink.Route{
		Table: r.Table, Dst: rtnl.IPNet(r.Dst), Protocol: netlink.RouteProtocol(r.Protocol),
		Priority: r.Metric, Scope: netlink.Scope(r.Scope), Type: r.Type, AdvMSS: r.AdvMSS, MTU: r.MTU,
		Family: rtnl.AF(r.Family),
	}
	if r.Gw.IsValid() {
		nr.Gw = net.IP(r.Gw.AsSlice())
	}
	if r.Dev != "" {
		l, err := rtnl.Link(k.h, r.Dev)
		if err != nil {
			return nil, err
		}
		nr.LinkIndex = l.Attrs().Index
	}
	if r.OnLink {
		nr.Flags |= int(netlink.FLAG_ONLINK)
	}
	for _, h := range r.NextHops {
		nh := &netlink.NexthopInfo{Hops: max(h.Weight, 1) - 1}
		if h.Gw.IsValid() {
			nh.Gw = net.IP(h.Gw.AsSlice())
		}
		if h.Dev != "" {
			l, err := rtnl.Link(k.h, h.Dev)
			if err != nil {
				return nil, err
			}
			nh.LinkIndex = l.Attrs().Index
		}
		nr.MultiPath = append(nr.MultiPath, nh)
	}
	return nr, nil
}

func (k *Kernel) AddRoute(r Route) error {
	nr, err := k.toNL(r)
	if err != nil {
		return err
	}
	add := k.h.RouteAdd
	if r.Family == 6 && !r.Gw.IsValid() && len(r.NextHops) == 0 {
		// IPv6 refuses a second device route of the same prefix and metric
		// under NLM_F_EXCL (fe80::/64 exists once per device); appending
		// adds it beside the others, and a route without a gateway never
		// joins a multipath one.
		add = k.h.RouteAppend
	}
	if err := add(nr); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("route %s: %w", r, ErrExist)
		}
		return fmt.Errorf("add route %s: %w", r, err)
	}
	return nil
}

func (k *Kernel) ReplaceRoute(r Route) error {
	nr, err := k.toNL(r)
	if err != nil {
		return err
	}
	if err := k.h.RouteReplace(nr); err != nil {
		return fmt.Errorf("replace route %s: %w", r, err)
	}
	return nil
}

func (k *Kernel) DelRoute(r Route) error {
	nr, err := k.toNL(r)
	if err != nil {
		return err
	}
	nr.AdvMSS, nr.MTU = 0, 0 // metrics are not part of a delete's match
	if err := k.h.RouteDel(nr); err != nil {
		if errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("route %s: %w", r, ErrNotFound)
		}
		return fmt.Errorf("delete route %s: %w", r, err)
	}
	return nil
}

func (k *Kernel) RouteGet(dst netip.Addr, dev string) (Route, error) {
	opts := &netlink.RouteGetOptions{}
	if dev != "" {
		l, err := rtnl.Link(k.h, dev)
		if err != nil {
			return Route{}, err
		}
		opts.OifIndex = l.Attrs().Index
	}
	rs, err := k.h.RouteGetWithOptions(net.IP(dst.AsSlice()), opts)
	if err != nil {
		return Route{}, fmt.Errorf("route get %s: %w", dst, err)
	}
	if len(rs) == 0 {
		return Route{}, fmt.Errorf("route get %s: no route: %w", dst, ErrNotFound)
	}
	r := k.fromNL(rs[0], Family(dst), map[int]string{})
	r.Dst = netip.PrefixFrom(dst, dst.BitLen())
	return r, nil
}
