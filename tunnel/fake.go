package tunnel

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"

	"github.com/lvsnode/lvsnode/internal/rtnl"
)

// Fake is an in-memory Netlink for tests. It models the kernel behaviours
// the agent relies on, each proven in the lab:
//   - a fallback device exists once its module is loaded; asking for it
//     loads the module (Modules lists those available) and then fails with
//     ErrExist, as the kernel's own fallback device took the name
//     (lab/scenarios/tun-*.sh start with the modules loaded; the local
//     kernel, without them, gives ErrUnsupported);
//   - a FOU port is one per (port, family), any encapsulation;
//   - routes and rules are matched on delete as the kernel does, not on
//     their metrics.
type Fake struct {
	mu      sync.Mutex
	links   map[string]*Link
	fous    []Fou
	rules   []Rule
	routes  []Route
	Modules map[Kind]bool // modules the kernel can load
	Log     []string
	Fail    map[string]error // by operation name
	// Gets answers RouteGet by destination; absent ones give ErrNotFound.
	Gets map[netip.Addr]Route
	FOU  bool // the fou module is available
	// watchers get every rule change, as the kernel multicasts them.
	watchers []chan RuleEvent
}

var _ Netlink = (*Fake)(nil)

// NewFake returns a fake kernel with the given plain devices (up, MTU
// 1500), every tunnel module loadable and fou available.
func NewFake(devs ...string) *Fake {
	f := &Fake{links: map[string]*Link{}, Fail: map[string]error{}, Gets: map[netip.Addr]Route{}, FOU: true,
		Modules: map[Kind]bool{KindIPIP: true, KindIP6Tnl: true, KindSIT: true, KindGRE: true, KindIP6GRE: true}}
	for _, d := range devs {
		f.links[d] = &Link{Name: d, Up: true, MTU: 1500}
	}
	return f
}

func (f *Fake) fail(op string) error { return f.Fail[op] }

// AddLink is a test helper: a device appears (MTU mtu, down).
func (f *Fake) AddLink(name string, mtu int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.links[name] = &Link{Name: name, MTU: mtu}
}

func (f *Fake) Link(name string) (Link, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail("Link"); err != nil {
		return Link{}, err
	}
	l, ok := f.links[name]
	if !ok {
		return Link{}, fmt.Errorf("%s: %w", name, ErrNoLink)
	}
	return *l, nil
}

// fallbackMTU is the MTU the kernel gives each fallback device.
var fallbackMTU = map[Kind]int{KindIPIP: 1480, KindIP6Tnl: 1452, KindSIT: 1480, KindGRE: 1476, KindIP6GRE: 1448}

func (f *Fake) AddFallback(k Kind) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail("AddFallback"); err != nil {
		return err
	}
	name := FallbackName(k)
	if !f.Modules[k] {
		return fmt.Errorf("%s (kind %s): %w", name, k, ErrUnsupported)
	}
	if _, ok := f.links[name]; ok {
		return fmt.Errorf("%s: %w", name, ErrExist)
	}
	// Loading the module creates the fallback device, down; the add of
	// the same name then collides with it.
	f.links[name] = &Link{Name: name, MTU: fallbackMTU[k]}
	f.Log = append(f.Log, "module "+string(k)+" loaded: "+name)
	return fmt.Errorf("%s: %w", name, ErrExist)
}

func (f *Fake) DelLink(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.links[name]; !ok {
		return fmt.Errorf("%s: %w", name, ErrNoLink)
	}
	delete(f.links, name)
	f.Log = append(f.Log, "del link "+name)
	return nil
}

func (f *Fake) SetLinkUp(name string, up bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail("SetLinkUp"); err != nil {
		return err
	}
	l, ok := f.links[name]
	if !ok {
		return fmt.Errorf("%s: %w", name, ErrNoLink)
	}
	l.Up = up
	f.Log = append(f.Log, fmt.Sprintf("link %s up=%v", name, up))
	return nil
}

func (f *Fake) FouPorts(family int) ([]Fou, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.FOU {
		return nil, fmt.Errorf("generic netlink family fou: %w", ErrUnsupported)
	}
	var out []Fou
	for _, p := range f.fous {
		if p.Family == family {
			out = append(out, p)
		}
	}
	return out, nil
}

func (f *Fake) AddFou(p Fou) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.FOU {
		return fmt.Errorf("%s: %w", p, ErrUnsupported)
	}
	if err := f.fail("AddFou"); err != nil {
		return err
	}
	if slices.ContainsFunc(f.fous, func(q Fou) bool { return q.Port == p.Port && q.Family == p.Family }) {
		return fmt.Errorf("%s: %w", p, ErrExist)
	}
	f.fous = append(f.fous, p)
	f.Log = append(f.Log, "add "+p.String())
	return nil
}

func (f *Fake) DelFou(p Fou) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.fous, func(q Fou) bool { return q.Port == p.Port && q.Family == p.Family })
	if i < 0 {
		return fmt.Errorf("%s: %w", p, ErrNotFound)
	}
	f.fous = slices.Delete(f.fous, i, i+1)
	f.Log = append(f.Log, "del "+p.String())
	return nil
}

func (f *Fake) Rules(family int) ([]Rule, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Rule
	for _, r := range f.rules {
		if rtnl.Family(r.Src.Addr()) == family {
			out = append(out, r)
		}
	}
	return out, nil
}

func (f *Fake) AddRule(r Rule) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail("AddRule"); err != nil {
		return err
	}
	if slices.Contains(f.rules, r) {
		return fmt.Errorf("%s: %w", r, ErrExist)
	}
	f.rules = append(f.rules, r)
	f.Log = append(f.Log, "add "+r.String())
	f.notify(RuleEvent{Rule: r})
	return nil
}

func (f *Fake) DelRule(r Rule) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.Index(f.rules, r)
	if i < 0 {
		return fmt.Errorf("%s: %w", r, ErrNotFound)
	}
	f.rules = slices.Delete(f.rules, i, i+1)
	f.Log = append(f.Log, "del "+r.String())
	f.notify(RuleEvent{Rule: r, Deleted: true})
	return nil
}

func (f *Fake) Routes(table, family int) ([]Route, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail("Routes"); err != nil {
		return nil, err
	}
	var out []Route
	for _, r := range f.routes {
		if r.Table == table && r.Family == family {
			out = append(out, r)
		}
	}
	return out, nil
}

// sameSlot tells whether the kernel would refuse b next to a: IPv4 keeps
// one route per destination and metric; IPv6 too (a second gateway at the
// same metric would join a's next hops, which the agent never asks for).
func sameSlot(a, b Route) bool {
	same := a.Table == b.Table && a.Family == b.Family && a.Dst == b.Dst && a.Metric == b.Metric
	if same && a.Family == 6 && !a.Gw.IsValid() && !b.Gw.IsValid() {
		return a.Dev == b.Dev // device routes of one prefix, one per device (AddRoute appends them)
	}
	return same
}

func (f *Fake) AddRoute(r Route) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail("AddRoute"); err != nil {
		return err
	}
	if err := f.checkDev(r.Dev); err != nil {
		return err
	}
	if slices.ContainsFunc(f.routes, func(q Route) bool { return sameSlot(q, r) }) {
		return fmt.Errorf("route %s: %w", r, ErrExist)
	}
	f.routes = append(f.routes, r)
	f.Log = append(f.Log, "add route "+r.String())
	return nil
}

// checkDev refuses a route through a device that does not exist.
func (f *Fake) checkDev(dev string) error {
	if _, ok := f.links[dev]; dev != "" && !ok {
		return fmt.Errorf("%s: %w", dev, ErrNoLink)
	}
	return nil
}

// ReplaceRoute replaces the first route in r's slot, or adds r, as
// NLM_F_REPLACE|NLM_F_CREATE does.
func (f *Fake) ReplaceRoute(r Route) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail("ReplaceRoute"); err != nil {
		return err
	}
	if err := f.checkDev(r.Dev); err != nil {
		return err
	}
	f.Log = append(f.Log, "replace route "+r.String())
	if i := slices.IndexFunc(f.routes, func(q Route) bool { return sameSlot(q, r) }); i >= 0 {
		f.routes[i] = r
		return nil
	}
	f.routes = append(f.routes, r)
	return nil
}

// Route is a test helper: a route appears as another program would add it.
func (f *Fake) Route(r Route) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes = append(f.routes, r)
}

func (f *Fake) DelRoute(r Route) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.routes, func(q Route) bool {
		return q.Table == r.Table && q.Family == r.Family && q.Dst == r.Dst &&
			(r.Metric == 0 || q.Metric == r.Metric) &&
			(!r.Gw.IsValid() || q.Gw == r.Gw) && (r.Dev == "" || q.Dev == r.Dev) &&
			(r.Protocol == 0 || q.Protocol == r.Protocol)
	})
	if i < 0 {
		return fmt.Errorf("route %s: %w", r, ErrNotFound)
	}
	f.routes = slices.Delete(f.routes, i, i+1)
	f.Log = append(f.Log, "del route "+r.String())
	return nil
}

// RouteGet answers from Gets; with dev, the device must exist and a
// link-local dst is on-link through it, any other dst only when its Gets
// entry leaves by dev (the kernel then finds no route: unreachable).
func (f *Fake) RouteGet(dst netip.Addr, dev string) (Route, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if dev != "" {
		if _, ok := f.links[dev]; !ok {
			return Route{}, fmt.Errorf("%s: %w", dev, ErrNoLink)
		}
		if dst.IsLinkLocalUnicast() {
			return Route{Family: Family(dst), Dev: dev, Type: RouteTypeUnicast}, nil
		}
	}
	r, ok := f.Gets[dst]
	if ok && dev != "" && r.Dev != dev {
		ok = false
	}
	if !ok {
		return Route{}, fmt.Errorf("route get %s: %w", dst, ErrNotFound)
	}
	return r, nil
}

// AllRoutes returns every route, for assertions.
func (f *Fake) AllRoutes() []Route {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.routes)
}

// AllRules returns every rule, for assertions.
func (f *Fake) AllRules() []Rule {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.rules)
}

// WatchRules gets every later AddRule and DelRule; a full buffer drops the
// event and closes the channel, as an overrun socket breaks the kernel's
// stream.
func (f *Fake) WatchRules(ctx context.Context) (<-chan RuleEvent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail("WatchRules"); err != nil {
		return nil, err
	}
	ch := make(chan RuleEvent, 16)
	f.watchers = append(f.watchers, ch)
	context.AfterFunc(ctx, func() { f.unwatch(ch) })
	return ch, nil
}

// BreakRuleWatches closes every rule watch (a test helper: the stream broke).
// RuleWatchers counts the open rule watches.
func (f *Fake) RuleWatchers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.watchers)
}

func (f *Fake) BreakRuleWatches() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, w := range f.watchers {
		close(w)
	}
	f.watchers = nil
}

func (f *Fake) unwatch(ch chan RuleEvent) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if i := slices.Index(f.watchers, ch); i >= 0 {
		close(ch)
		f.watchers = slices.Delete(f.watchers, i, i+1)
	}
}

// notify runs with f.mu held.
func (f *Fake) notify(ev RuleEvent) {
	kept := f.watchers[:0]
	for _, w := range f.watchers {
		select {
		case w <- ev:
			kept = append(kept, w)
		default:
			close(w)
		}
	}
	f.watchers = kept
}
