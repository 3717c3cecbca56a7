// Package sysctl reads and writes kernel parameters under /proc/sys.
//
// Keys are the path segments below /proc/sys (for example
// Key{"net", "ipv4", "conf", "lo", "arp_ignore"}), so that an interface name
// is one segment and never parsed out of a dotted string.
package sysctl

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"

	gosysctl "github.com/lorenzosaino/go-sysctl"
)

// DefaultRoot is where the kernel exposes its parameters.
const DefaultRoot = "/proc/sys"

// ErrNotExist is returned (wrapped) by Get and Set when the parameter does
// not exist, for example for an interface that is not present. It can be
// checked with errors.Is(err, sysctl.ErrNotExist); it matches fs.ErrNotExist.
var ErrNotExist = fs.ErrNotExist

// Key names one parameter by its path segments below /proc/sys.
type Key []string

// ConfKey is the key of a per-interface IPv4 setting:
// net.ipv4.conf.<dev>.<name>.
func ConfKey(dev, name string) Key { return Key{"net", "ipv4", "conf", dev, name} }

// String renders the key the way sysctl(8) does: dots between segments, and
// dots inside a segment written as slashes (net.ipv4.conf.eth0/100.rp_filter).
func (k Key) String() string {
	parts := make([]string, len(k))
	for i, p := range k {
		parts[i] = strings.ReplaceAll(p, ".", "/")
	}
	return strings.Join(parts, ".")
}

// Client is the kernel boundary for parameters. Values are compared and
// returned without surrounding white space.
type Client interface {
	Get(k Key) (string, error)
	Set(k Key, value string) error
}

// Proc is the real Client over a /proc/sys tree (github.com/lorenzosaino/go-sysctl).
type Proc struct {
	c *gosysctl.Client
}

var _ Client = (*Proc)(nil)

// New returns a Client for the tree at root (DefaultRoot on a live system,
// a directory of files in tests).
func New(root string) (*Proc, error) {
	c, err := gosysctl.NewClient(root)
	if err != nil {
		return nil, err
	}
	return &Proc{c: c}, nil
}

// goKey converts a Key to go-sysctl's dotted form. go-sysctl turns every dot
// into a path separator, so a segment that itself holds a dot (a VLAN device
// such as eth0.100) cannot be expressed: such keys fail with ErrDottedName
// rather than being written to the wrong file.
func goKey(k Key) (string, error) {
	for _, p := range k {
		if p == "" || strings.Contains(p, "/") {
			return "", fmt.Errorf("sysctl %s: invalid key segment %q", k, p)
		}
		if strings.Contains(p, ".") {
			return "", fmt.Errorf("sysctl %s: %w", k, ErrDottedName)
		}
	}
	return strings.Join(k, "."), nil
}

// Get returns the parameter's value with white space trimmed.
func (p *Proc) Get(k Key) (string, error) {
	gk, err := goKey(k)
	if err != nil {
		return "", err
	}
	v, err := p.c.Get(gk)
	if err != nil {
		return "", fmt.Errorf("read sysctl %s: %w", k, err)
	}
	return strings.TrimSpace(v), nil
}

// Set writes the parameter.
func (p *Proc) Set(k Key, value string) error {
	gk, err := goKey(k)
	if err != nil {
		return err
	}
	if err := p.c.Set(gk, value); err != nil {
		return fmt.Errorf("write sysctl %s=%s: %w", k, value, err)
	}
	return nil
}

// ErrDottedName is returned (wrapped) for keys whose segments contain a dot,
// which the underlying library cannot address (see goKey).
var ErrDottedName = errors.New("interface names containing '.' are not supported")

// Fake is an in-memory Client for tests. Keys absent from Values do not
// exist (ErrNotExist), as for a missing interface.
type Fake struct {
	mu     sync.Mutex
	Values map[string]string // by Key.String()
	Writes []string          // "key=value", in order
	// FailSet, when non-nil, is returned by Set for the named key.
	FailSet map[string]error
}

var _ Client = (*Fake)(nil)

// NewFake returns a Fake holding the given key=value pairs.
func NewFake(values map[string]string) *Fake {
	f := &Fake{Values: map[string]string{}, FailSet: map[string]error{}}
	for k, v := range values {
		f.Values[k] = v
	}
	return f
}

func (f *Fake) Get(k Key) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	v, ok := f.Values[k.String()]
	if !ok {
		return "", fmt.Errorf("read sysctl %s: %w", k, ErrNotExist)
	}
	return v, nil
}

func (f *Fake) Set(k Key, value string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.FailSet[k.String()]; err != nil {
		return err
	}
	if _, ok := f.Values[k.String()]; !ok {
		return fmt.Errorf("write sysctl %s: %w", k, ErrNotExist)
	}
	f.Values[k.String()] = value
	f.Writes = append(f.Writes, k.String()+"="+value)
	return nil
}

// Poke sets key as an outside actor would (no Writes entry, no failure
// injection). Safe for concurrent use with Get and Set.
func (f *Fake) Poke(key, value string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Values[key] = value
}

// Drop removes keys as a vanished interface removes its parameters: Get
// and Set then fail with ErrNotExist.
func (f *Fake) Drop(keys ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range keys {
		delete(f.Values, k)
	}
}

// Value returns the value of key ("" when absent).
func (f *Fake) Value(key string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.Values[key]
}
