package loopback

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/lvsnode/lvsnode/internal/rtnl"
)

// Kernel implements Netlink on the calling process's network namespace.
type Kernel struct {
	h *netlink.Handle
}

var _ Netlink = (*Kernel)(nil)

// NewKernel opens a netlink handle in the current network namespace.
func NewKernel() (*Kernel, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open netlink: %w", err)
	}
	return &Kernel{h: h}, nil
}

// Close releases the netlink socket.
func (k *Kernel) Close() error { k.h.Close(); return nil }

func (k *Kernel) LinkUp(dev string) (bool, error) {
	l, err := rtnl.Link(k.h, dev)
	if err != nil {
		return false, err
	}
	return l.Attrs().Flags&net.FlagUp != 0, nil
}

func (k *Kernel) SetLinkUp(dev string) error {
	l, err := rtnl.Link(k.h, dev)
	if err != nil {
		return err
	}
	if err := k.h.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up: %w", dev, err)
	}
	return nil
}

func (k *Kernel) Addrs(dev string) ([]Addr, error) {
	l, err := rtnl.Link(k.h, dev)
	if err != nil {
		return nil, err
	}
	out, err := rtnl.RetryDump(func() ([]Addr, error) { return listAddrs(l.Attrs().Index, dev) })
	if err != nil {
		return nil, fmt.Errorf("list addresses on %s: %w", dev, err)
	}
	return out, nil
}

func (k *Kernel) nlAddr(a Addr) (netlink.Link, *netlink.Addr, error) {
	l, err := rtnl.Link(k.h, a.Dev)
	if err != nil {
		return nil, nil, err
	}
	na := &netlink.Addr{IPNet: rtnl.IPNet(a.Prefix)}
	if a.Prefix.Addr().Is4() {
		na.Label = a.Label
	}
	return l, na, nil
}

func (k *Kernel) AddAddr(a Addr) error {
	l, err := rtnl.Link(k.h, a.Dev)
	if err != nil {
		return err
	}
	if !a.Prefix.Addr().Is4() {
		a.Label = ""
	}
	if err := addAddr(l.Attrs().Index, a); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("address %s on %s: %w", a.Prefix, a.Dev, ErrExist)
		}
		return fmt.Errorf("add address %s to %s: %w", a.Prefix, a.Dev, err)
	}
	return nil
}

func (k *Kernel) DelAddr(a Addr) error {
	l, na, err := k.nlAddr(a)
	if err != nil {
		return err
	}
	if err := k.h.AddrDel(l, na); err != nil {
		if errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("address %s on %s: %w", a.Prefix, a.Dev, ErrNotFound)
		}
		return fmt.Errorf("delete address %s from %s: %w", a.Prefix, a.Dev, err)
	}
	return nil
}

func (k *Kernel) Routes(dev string) ([]Route, error) {
	l, err := rtnl.Link(k.h, dev)
	if err != nil {
		return nil, err
	}
	filter := &netlink.Route{LinkIndex: l.Attrs().Index, Table: unix.RT_TABLE_MAIN}
	nr, err := rtnl.RetryDump(func() ([]netlink.Route, error) {
		return k.h.RouteListFiltered(netlink.FAMILY_ALL, filter, netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return nil, fmt.Errorf("list routes via %s: %w", dev, err)
	}
	out := make([]Route, 0, len(nr))
	for _, r := range nr {
		p, ok := rtnl.Prefix(r.Dst)
		if !ok {
			continue // default route or other shapes the agent never owns
		}
		out = append(out, Route{Dev: dev, Dst: p, Protocol: int(r.Protocol), Metric: r.Priority, Table: r.Table, Type: r.Type})
	}
	return out, nil
}

func (k *Kernel) nlRoute(r Route) (*netlink.Route, error) {
	l, err := rtnl.Link(k.h, r.Dev)
	if err != nil {
		return nil, err
	}
	nr := &netlink.Route{
		LinkIndex: l.Attrs().Index,
		Dst:       rtnl.IPNet(r.Dst),
		Table:     unix.RT_TABLE_MAIN,
		Protocol:  netlink.RouteProtocol(r.Protocol),
		Priority:  r.Metric,
	}
	if r.Dst.Addr().Is4() {
		// As `route add -host VIP dev lo` does: a directly reachable host.
		nr.Scope = netlink.SCOPE_LINK
	}
	return nr, nil
}

func (k *Kernel) AddRoute(r Route) error {
	nr, err := k.nlRoute(r)
	if err != nil {
		return err
	}
	if err := k.h.RouteAdd(nr); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("route %s dev %s: %w", r.Dst, r.Dev, ErrExist)
		}
		return fmt.Errorf("add route %s dev %s: %w", r.Dst, r.Dev, err)
	}
	return nil
}

func (k *Kernel) DelRoute(r Route) error {
	nr, err := k.nlRoute(r)
	if err != nil {
		return err
	}
	if err := k.h.RouteDel(nr); err != nil {
		if errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("route %s dev %s: %w", r.Dst, r.Dev, ErrNotFound)
		}
		return fmt.Errorf("delete route %s dev %s: %w", r.Dst, r.Dev, err)
	}
	return nil
}

// Watch merges link, address and route subscriptions into one channel that
// is closed as soon as any of them breaks, so the caller resubscribes to all
// three together and re-lists: a lost event can never go unnoticed.
// watchBuffer is the receive buffer forced (SO_RCVBUFFORCE, which
// CAP_NET_ADMIN allows past net.core.rmem_max) on each subscription. With
// the default (rmem_default, ~208 KB) 2,000 addresses churning on lo
// overran the address stream 11 times in 30 s, each overrun costing a
// resubscription and a full re-list, and repairs took up to 5 s; with 8 MB
// none overran (BenchmarkRepairUnderChurn). The kernel charges only what
// is queued, so an idle daemon pays nothing for it.
const watchBuffer = 8 << 20

func (k *Kernel) Watch(ctx context.Context) (<-chan Event, error) {
	ctx, cancel := context.WithCancel(ctx)
	done := ctx.Done()
	links := make(chan netlink.LinkUpdate, 64)
	addrs := make(chan netlink.AddrUpdate, 64)
	routes := make(chan netlink.RouteUpdate, 64)
	var once sync.Once
	broken := func(error) { once.Do(cancel) }
	if err := netlink.LinkSubscribeWithOptions(links, done, netlink.LinkSubscribeOptions{ErrorCallback: broken, ReceiveBufferSize: watchBuffer, ReceiveBufferForceSize: true}); err != nil {
		cancel()
		return nil, fmt.Errorf("subscribe to links: %w", err)
	}
	if err := netlink.AddrSubscribeWithOptions(addrs, done, netlink.AddrSubscribeOptions{ErrorCallback: broken, ReceiveBufferSize: watchBuffer, ReceiveBufferForceSize: true}); err != nil {
		cancel()
		drain(links, nil, nil)
		return nil, fmt.Errorf("subscribe to addresses: %w", err)
	}
	if err := netlink.RouteSubscribeWithOptions(routes, done, netlink.RouteSubscribeOptions{ErrorCallback: broken, ReceiveBufferSize: watchBuffer, ReceiveBufferForceSize: true}); err != nil {
		cancel()
		drain(links, addrs, nil)
		return nil, fmt.Errorf("subscribe to routes: %w", err)
	}
	// Every event is passed on, with what it concerns, and none dropped:
	// the consumer filters (most churn on a busy host is not its
	// business) and coalesces. It must keep reading; while it does not,
	// the library's buffers and then the socket's fill, and an overrun
	// closes the channel as any overrun does.
	out := make(chan Event, 256)
	go func() {
		defer close(out)
		defer drain(links, addrs, routes)
		defer cancel()
		names := map[int]string{} // ifindex -> name, learnt from link events
		name := func(idx int) string {
			if idx == 0 {
				return ""
			}
			if n, ok := names[idx]; ok {
				return n
			}
			if l, err := k.h.LinkByIndex(idx); err == nil {
				names[idx] = l.Attrs().Name
				return names[idx]
			}
			return ""
		}
		for {
			var ev Event
			select {
			case <-ctx.Done():
				return
			case u, ok := <-links:
				if !ok {
					return
				}
				ev = Event{Kind: "link", Dev: u.Attrs().Name}
				if u.Header.Type == unix.RTM_DELLINK {
					delete(names, int(u.Attrs().Index))
				} else {
					names[u.Attrs().Index] = u.Attrs().Name
				}
			case u, ok := <-addrs:
				if !ok {
					return
				}
				ev = Event{Kind: "addr", Dev: name(u.LinkIndex)}
				ev.Prefix, _ = rtnl.Prefix(&u.LinkAddress)
			case u, ok := <-routes:
				if !ok {
					return
				}
				ev = Event{Kind: "route", Dev: name(u.LinkIndex)}
				ev.Prefix, _ = rtnl.Prefix(u.Dst)
			}
			select {
			case out <- ev:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

// drain empties the channels the library was given until it closes them,
// so none of its receive goroutines stays blocked on a send after the
// watch has ended. A nil channel was never subscribed and is skipped.
func drain(links chan netlink.LinkUpdate, addrs chan netlink.AddrUpdate, routes chan netlink.RouteUpdate) {
	if links != nil {
		go func() {
			for range links {
			}
		}()
	}
	if addrs != nil {
		go func() {
			for range addrs {
			}
		}()
	}
	if routes != nil {
		go func() {
			for range routes {
			}
		}()
	}
}
