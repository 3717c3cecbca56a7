package loopback

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// Fake is an in-memory Netlink for tests. Interfaces must be created with
// AddLink before use. Every successful change is appended to Log and fires
// an Event to watchers, as the kernel would.
type Fake struct {
	mu       sync.Mutex
	up       map[string]bool
	addrs    []Addr
	routes   []Route
	watchers []chan Event
	Log      []string
	// Fail, when set, is returned by the named operation ("AddAddr", ...).
	Fail map[string]error
	// interrupts is how many of the next Addrs calls fail with
	// ErrInterrupted, as a dump under heavy churn does.
	interrupts int
}

// InterruptDumps makes the next n Addrs calls fail with ErrInterrupted, as
// the kernel's dumps do (after the real client's retries) while thousands
// of addresses churn.
func (f *Fake) InterruptDumps(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.interrupts = n
}

var _ Netlink = (*Fake)(nil)

// NewFake returns a Fake with the given interfaces, all up.
func NewFake(devs ...string) *Fake {
	f := &Fake{up: map[string]bool{}, Fail: map[string]error{}}
	for _, d := range devs {
		f.up[d] = true
	}
	return f
}

func (f *Fake) check(op, dev string) error {
	if err := f.Fail[op]; err != nil {
		return err
	}
	if _, ok := f.up[dev]; !ok {
		return fmt.Errorf("%s: %w", dev, ErrNoLink)
	}
	return nil
}

func (f *Fake) changed(ev Event, msg string) {
	f.Log = append(f.Log, msg)
	for _, w := range f.watchers {
		select {
		case w <- ev:
		default:
		}
	}
}

func (f *Fake) LinkUp(dev string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check("LinkUp", dev); err != nil {
		return false, err
	}
	return f.up[dev], nil
}

func (f *Fake) SetLinkUp(dev string) error { return f.setLink(dev, true) }

// SetLinkDown is a test helper: it downs dev as an outside actor would.
func (f *Fake) SetLinkDown(dev string) error { return f.setLink(dev, false) }

func (f *Fake) setLink(dev string, up bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check("SetLinkUp", dev); err != nil {
		return err
	}
	f.up[dev] = up
	f.changed(Event{Kind: "link", Dev: dev}, fmt.Sprintf("link %s up=%v", dev, up))
	return nil
}

func (f *Fake) Addrs(dev string) ([]Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check("Addrs", dev); err != nil {
		return nil, err
	}
	if f.interrupts > 0 {
		f.interrupts--
		return nil, fmt.Errorf("list addresses on %s: %w", dev, ErrInterrupted)
	}
	var out []Addr
	for _, a := range f.addrs {
		if a.Dev == dev {
			out = append(out, a)
		}
	}
	return out, nil
}

func (f *Fake) AddAddr(a Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check("AddAddr", a.Dev); err != nil {
		return err
	}
	if slices.ContainsFunc(f.addrs, func(b Addr) bool { return b.Dev == a.Dev && b.Prefix == a.Prefix }) {
		return fmt.Errorf("address %s: %w", a.Prefix, ErrExist)
	}
	if a.Prefix.Addr().Is6() {
		a.Label = "" // as the kernel: no IPv6 labels
	}
	f.addrs = append(f.addrs, a)
	f.changed(Event{Kind: "addr", Dev: a.Dev, Prefix: a.Prefix}, fmt.Sprintf("add addr %s dev %s label %s proto %d", a.Prefix, a.Dev, a.Label, a.Protocol))
	return nil
}

func (f *Fake) DelAddr(a Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check("DelAddr", a.Dev); err != nil {
		return err
	}
	// As the kernel: a label in the request must match the address's.
	i := slices.IndexFunc(f.addrs, func(b Addr) bool {
		return b.Dev == a.Dev && b.Prefix == a.Prefix && (a.Label == "" || a.Label == b.Label)
	})
	if i < 0 {
		return fmt.Errorf("address %s: %w", a.Prefix, ErrNotFound)
	}
	f.addrs = slices.Delete(f.addrs, i, i+1)
	f.changed(Event{Kind: "addr", Dev: a.Dev, Prefix: a.Prefix}, "del addr "+a.Prefix.String()+" dev "+a.Dev)
	return nil
}

func (f *Fake) Routes(dev string) ([]Route, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check("Routes", dev); err != nil {
		return nil, err
	}
	var out []Route
	for _, r := range f.routes {
		if r.Dev == dev {
			out = append(out, r)
		}
	}
	return out, nil
}

func (f *Fake) AddRoute(r Route) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check("AddRoute", r.Dev); err != nil {
		return err
	}
	if r.Metric == 0 && r.Dst.Addr().Is6() {
		r.Metric = 1024 // the kernel's IP6_RT_PRIO_USER
	}
	r.Table, r.Type = TableMain, TypeUnicast
	// As the kernel with NLM_F_EXCL: one route per destination and metric,
	// whoever added it; another metric is another route.
	if slices.ContainsFunc(f.routes, func(b Route) bool { return b.Dst == r.Dst && b.Metric == r.Metric }) {
		return fmt.Errorf("route %s metric %d: %w", r.Dst, r.Metric, ErrExist)
	}
	f.routes = append(f.routes, r)
	slices.SortStableFunc(f.routes, func(a, b Route) int { return a.Metric - b.Metric })
	f.changed(Event{Kind: "route", Dev: r.Dev, Prefix: r.Dst}, fmt.Sprintf("add route %s dev %s proto %d metric %d", r.Dst, r.Dev, r.Protocol, r.Metric))
	return nil
}

func (f *Fake) DelRoute(r Route) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.check("DelRoute", r.Dev); err != nil {
		return err
	}
	// As the kernel: protocol and metric match when given; lowest metric first.
	i := slices.IndexFunc(f.routes, func(b Route) bool {
		return b.Dev == r.Dev && b.Dst == r.Dst &&
			(r.Protocol == 0 || r.Protocol == b.Protocol) && (r.Metric == 0 || r.Metric == b.Metric)
	})
	if i < 0 {
		return fmt.Errorf("route %s: %w", r.Dst, ErrNotFound)
	}
	f.routes = slices.Delete(f.routes, i, i+1)
	f.changed(Event{Kind: "route", Dev: r.Dev, Prefix: r.Dst}, "del route "+r.Dst.String()+" dev "+r.Dev)
	return nil
}

// Watch returns a channel of events that closes with ctx, or at once when
// BreakWatchers is called (as a netlink overrun would).
func (f *Fake) Watch(ctx context.Context) (<-chan Event, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.Fail["Watch"]; err != nil {
		return nil, err
	}
	ch := make(chan Event, 256)
	f.watchers = append(f.watchers, ch)
	go func() {
		<-ctx.Done()
		f.mu.Lock()
		defer f.mu.Unlock()
		if i := slices.Index(f.watchers, ch); i >= 0 {
			f.watchers = slices.Delete(f.watchers, i, i+1)
			close(ch)
		}
	}()
	return ch, nil
}

// BreakWatchers closes every open Watch channel, as an overrun would.
func (f *Fake) BreakWatchers() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, w := range f.watchers {
		close(w)
	}
	f.watchers = nil
}

// Watchers reports how many subscriptions are open.
func (f *Fake) Watchers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.watchers)
}

// SetFail makes operation op fail with err (nil clears it), safely while the
// fake is in use.
func (f *Fake) SetFail(op string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err == nil {
		delete(f.Fail, op)
		return
	}
	f.Fail[op] = err
}
