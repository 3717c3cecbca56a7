// Package loopback owns the addresses and routes that put a VIP on a real
// server: the /32 (or /128) on lo and the host route for it. It is the
// agent's netlink boundary: Netlink is the narrow interface the agent uses,
// Kernel implements it with github.com/vishvananda/netlink, Fake in memory.
package loopback

import (
	"context"
	"errors"
	"net/netip"

	"github.com/lvsnode/lvsnode/internal/rtnl"
)

// Sentinel errors. Implementations wrap them, so callers test with errors.Is.
var (
	// ErrNoLink: the named interface does not exist.
	ErrNoLink = rtnl.ErrNoLink
	// ErrExist: AddAddr or AddRoute found the item already present.
	ErrExist = errors.New("already exists")
	// ErrNotFound: DelAddr or DelRoute found nothing to delete.
	ErrNotFound = errors.New("not found")
)

// Addr is an address on an interface.
type Addr struct {
	Dev    string
	Prefix netip.Prefix
	// Label is the IPv4 address label (at most 15 bytes, starting with Dev).
	// The kernel has no labels for IPv6; it is empty there.
	Label string
	// Protocol is the address protocol (IFA_PROTO, Linux 5.18+): who
	// added it, kept by the kernel like a route's protocol. AddAddr sets
	// it when non-zero; older kernels ignore it and Addrs reads 0.
	Protocol int
}

// Route is a route in the main table whose output device is Dev. Several
// routes may share a Dst (other metrics, other protocols): the kernel
// keeps each, and a lookup takes the lowest metric.
type Route struct {
	Dev      string
	Dst      netip.Prefix
	Protocol int // rtm_protocol: who installed the route
	// Metric is the route's priority. AddRoute with 0 gets the kernel's
	// default: 0 for IPv4, 1024 for IPv6. DelRoute with 0 matches any.
	Metric int
	// Table and Type are what Routes read (RT_TABLE_MAIN, RTN_UNICAST...);
	// AddRoute always adds a unicast route to the main table.
	Table, Type int
}

// Kernel values of Route.Table and Route.Type.
const (
	TableMain   = 254 // RT_TABLE_MAIN
	TypeUnicast = 1   // RTN_UNICAST
)

// Event says that something changed on the host's links, addresses or
// routes, and what it concerns, so that a consumer can ignore changes to
// things it does not manage. Events are a hint to re-list, never a source
// of truth: they are lost on buffer overruns, and address events carry no
// labels or protocols.
type Event struct {
	Kind string // "link", "addr" or "route"
	// Dev is the interface concerned (the link, the address's device or
	// the route's output device); "" when unknown (a multipath route, a
	// link gone before its name was learnt).
	Dev string
	// Prefix is the address or the route's destination; invalid for link
	// events and for routes without a destination (default routes).
	Prefix netip.Prefix
}

// ErrInterrupted is returned (wrapped) by Addrs and Routes when the kernel
// kept interrupting the dump because the table changed while it was read
// (NLM_F_DUMP_INTR), after retries: the result is unknown, not empty, and
// says nothing about drift. Try again later.
var ErrInterrupted = rtnl.ErrInterrupted

// Netlink is the kernel boundary of the agent.
type Netlink interface {
	// LinkUp tells whether dev is administratively up. ErrNoLink if absent.
	LinkUp(dev string) (bool, error)
	// SetLinkUp sets dev administratively up.
	SetLinkUp(dev string) error
	// Addrs lists every address on dev (both families).
	Addrs(dev string) ([]Addr, error)
	// AddAddr adds a; ErrExist if the same prefix is already on a.Dev.
	AddAddr(a Addr) error
	// DelAddr removes a; ErrNotFound if it is not there.
	DelAddr(a Addr) error
	// Routes lists the main-table routes whose output device is dev.
	Routes(dev string) ([]Route, error)
	// AddRoute adds r to the main table; ErrExist if a route to r.Dst with
	// the same metric is present (whatever its protocol), as the kernel's
	// NLM_F_EXCL does.
	AddRoute(r Route) error
	// DelRoute removes from the main table the route to r.Dst via r.Dev
	// with r.Protocol and r.Metric (each matching any when 0), the lowest
	// metric first; ErrNotFound if none matches. A route of another
	// protocol to the same Dst is never removed by a request naming one.
	DelRoute(r Route) error
	// Watch subscribes to link, address and route changes. The returned
	// channel is closed when ctx ends or when the subscription breaks (for
	// example on a receive buffer overrun); the caller re-lists and calls
	// Watch again.
	Watch(ctx context.Context) (<-chan Event, error)
}
