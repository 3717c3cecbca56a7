// Package loopback owns the addresses and routes that put a VIP on a real
// server: the /32 (or /128) on lo and the host route for it. It is the
// agent's netlink boundary: Netlink is the narrow interface the agent uses,
// Kernel implements it with github.com/vishvananda/netlink, Fake in memory.
package loopback

import (
	"context"
	"errors"
	"net/netip"
)

// Sentinel errors. Implementations wrap them, so callers test with errors.Is.
var (
	// ErrNoLink: the named interface does not exist.
	ErrNoLink = errors.New("no such interface")
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
}

// Route is a route in the main table whose output device is Dev.
type Route struct {
	Dev      string
	Dst      netip.Prefix
	Protocol int // rtm_protocol: who installed the route
}

// Event says that something changed on the host's links, addresses or
// routes. It carries no detail on purpose: events are a hint to re-list,
// never a source of truth (they are lost on buffer overruns, and address
// events do not carry labels).
type Event struct {
	Kind string // "link", "addr" or "route"
}

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
	// AddRoute adds r to the main table; ErrExist if present.
	AddRoute(r Route) error
	// DelRoute removes r from the main table; ErrNotFound if absent.
	DelRoute(r Route) error
	// Watch subscribes to link, address and route changes. The returned
	// channel is closed when ctx ends or when the subscription breaks (for
	// example on a receive buffer overrun); the caller re-lists and calls
	// Watch again.
	Watch(ctx context.Context) (<-chan Event, error)
}
