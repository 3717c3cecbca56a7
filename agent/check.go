package agent

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/lvsnode/lvsnode/loopback"
	"github.com/lvsnode/lvsnode/sysctl"
)

// ErrNotVerified is returned (wrapped) by Apply when the kernel, read back
// after the changes, still differs from the plan.
var ErrNotVerified = errors.New("not verified")

// Item is one desired fact and what the kernel says about it.
type Item struct {
	Kind    string `json:"kind"` // sysctl, link, address, route
	Name    string `json:"name"`
	Desired string `json:"desired"`
	Actual  string `json:"actual"`
	OK      bool   `json:"ok"`
}

// Report is the desired-versus-actual view of a whole plan.
type Report struct {
	Items []Item `json:"items"`
}

// OK tells whether every item matches.
func (r Report) OK() bool { return len(r.Problems()) == 0 }

// Problems lists the items that do not match, one line each.
func (r Report) Problems() []string {
	var out []string
	for _, it := range r.Items {
		if !it.OK {
			out = append(out, fmt.Sprintf("%s %s: want %s, have %s", it.Kind, it.Name, it.Desired, it.Actual))
		}
	}
	return out
}

// Summary is a one-line description, for systemd's STATUS= and logs.
func (r Report) Summary() string {
	if p := r.Problems(); len(p) > 0 {
		return fmt.Sprintf("%d of %d items drifted: %s", len(p), len(r.Items), strings.Join(p, "; "))
	}
	return fmt.Sprintf("%d items verified", len(r.Items))
}

// observed is one read of everything a plan touches.
type observed struct {
	sysctls map[string]string // by key; missing key = parameter absent
	linkUp  bool
	addrs   map[netip.Prefix]loopback.Addr
	routes  map[netip.Prefix][]loopback.Route // every route via lo, by destination
	modes   modesObserved                     // TUN and NAT items (agent/modes.go)
}

// observeAll is observe plus the TUN and NAT items of p and of st.
func (a *Agent) observeAll(p Plan, st *State) (observed, error) {
	ob, err := a.observe(p)
	for _, k := range staleSysctls(p, st) {
		if err != nil {
			break
		}
		v, gerr := a.Sys.Get(sysctl.Key(st.Sysctls[k].Key))
		if gerr == nil {
			ob.sysctls[k] = v
		} else if !errors.Is(gerr, sysctl.ErrNotExist) {
			err = gerr
		}
	}
	if err == nil && (p.Tun != nil || p.NAT != nil || st.Tun != nil || st.NAT != nil) {
		err = a.observeModes(p, st, &ob)
	}
	return ob, err
}

// ownRoute is the route to pf carrying the agent's mark, if any.
func (ob observed) ownRoute(pf netip.Prefix) (loopback.Route, bool) {
	for _, r := range ob.routes[pf] {
		if r.Protocol == OwnerProto {
			return r, true
		}
	}
	return loopback.Route{}, false
}

// slot is the route that fills the place the agent's own host route takes:
// main table, unicast, via lo, the default metric (0 for IPv4, so the one
// a lookup picks). Normally the agent's (protocol 76); one someone else put
// there first (the seeds' `route add -host`) serves as well and keeps the
// kernel from adding the agent's (EEXIST), so it is used but never owned.
// A same-prefix route with another metric, table or type does not count.
func (ob observed) slot(want loopback.Route) (loopback.Route, bool) {
	metric := 0
	if want.Dst.Addr().Is6() {
		metric = 1024
	}
	for _, r := range ob.routes[want.Dst] {
		if r.Metric == metric && r.Table == loopback.TableMain && r.Type == loopback.TypeUnicast {
			return r, true
		}
	}
	return loopback.Route{}, false
}

// routeActual says what holds a route's slot, for reports.
func (ob observed) routeActual(want loopback.Route) string {
	if r, ok := ob.slot(want); ok {
		if r.Protocol == OwnerProto {
			return "present"
		}
		return fmt.Sprintf("present (proto %d, not lvsnode's)", r.Protocol)
	}
	var others []string
	for _, r := range ob.routes[want.Dst] {
		others = append(others, fmt.Sprintf("proto %d metric %d table %d type %d", r.Protocol, r.Metric, r.Table, r.Type))
	}
	if len(others) > 0 {
		return "absent (only " + strings.Join(others, ", ") + ")"
	}
	return "absent"
}

func (a *Agent) observe(p Plan) (observed, error) {
	ob := observed{sysctls: map[string]string{}, addrs: map[netip.Prefix]loopback.Addr{}, routes: map[netip.Prefix][]loopback.Route{}}
	for _, s := range p.Sysctls {
		v, err := a.Sys.Get(s.Key)
		if errors.Is(err, sysctl.ErrNotExist) {
			continue
		}
		if err != nil {
			return ob, err
		}
		ob.sysctls[s.Key.String()] = v
	}
	up, err := a.NL.LinkUp(p.Link)
	if err != nil {
		return ob, err
	}
	ob.linkUp = up
	return ob, a.observeLo(&ob)
}

// observeLo reads the addresses and routes on lo into ob.
func (a *Agent) observeLo(ob *observed) error {
	addrs, err := a.NL.Addrs(VIPDevice)
	if err != nil {
		return err
	}
	for _, ad := range addrs {
		ob.addrs[ad.Prefix] = ad
	}
	routes, err := a.NL.Routes(VIPDevice)
	if err != nil {
		return err
	}
	for _, r := range routes {
		ob.routes[r.Dst] = append(ob.routes[r.Dst], r)
	}
	return nil
}

// effective is the value the kernel acts on for a per-device IPv4 setting:
// the larger of conf/all and conf/<dev> (IN_DEV_MAXCONF, and for the 0/1
// accept_redirects of a host, all OR dev). IPv6 reads the device's own.
func (ob observed) effective(s SysctlItem) (string, bool) {
	dev, ok := ob.sysctls[s.Key.String()]
	if !ok {
		return "", false
	}
	if s.Dev == "all" || (len(s.Key) > 1 && s.Key[1] != "ipv4") {
		return dev, true
	}
	all, ok := ob.sysctls[sysctl.ConfKey("all", s.Name).String()]
	if !ok {
		return dev, true
	}
	d, err1 := strconv.Atoi(dev)
	l, err2 := strconv.Atoi(all)
	if err1 != nil || err2 != nil {
		return dev, true
	}
	return strconv.Itoa(max(d, l)), true
}

// report compares a plan (and the state's stale items) with an observation.
func report(p Plan, st *State, ob observed) Report {
	var r Report
	for _, s := range p.Sysctls {
		it := Item{Kind: "sysctl", Name: s.Key.String(), Desired: s.Value}
		file, ok := ob.sysctls[s.Key.String()]
		eff, _ := ob.effective(s)
		switch {
		case !ok:
			it.Actual = "absent (no such interface)"
		case eff != file:
			it.Actual = fmt.Sprintf("%s (effective %s)", file, eff)
		default:
			it.Actual = file
		}
		it.OK = ok && s.Serves(file) && s.Serves(eff)
		r.Items = append(r.Items, it)
	}
	r.Items = append(r.Items, Item{Kind: "link", Name: p.Link, Desired: "up", Actual: upDown(ob.linkUp), OK: ob.linkUp})
	for _, ad := range p.Addrs {
		_, ok := ob.addrs[ad.Prefix]
		r.Items = append(r.Items, Item{Kind: "address", Name: ad.Prefix.String() + " dev " + ad.Dev, Desired: "present", Actual: presence(ok), OK: ok})
	}
	for _, rt := range p.Routes {
		_, ok := ob.slot(rt)
		r.Items = append(r.Items, Item{Kind: "route", Name: rt.Dst.String() + " dev " + rt.Dev, Desired: "present (proto 76, table main, unicast)", Actual: ob.routeActual(rt), OK: ok})
	}
	r.Items = append(r.Items, modeItems(p, st, ob)...)
	for _, k := range staleSysctls(p, st) {
		rec := st.Sysctls[k]
		cur, ok := ob.sysctls[k]
		it := Item{Kind: "sysctl", Name: k, Desired: rec.Original + " (as before lvsnode; no longer needed)", Actual: cur, OK: !ok || cur != rec.Set}
		if !ok {
			it.Actual = "absent (no such interface)"
		} else if cur != rec.Set {
			it.Actual = cur + " (changed by someone else since: left alone)"
		}
		r.Items = append(r.Items, it)
	}
	// What the agent added earlier and the plan no longer wants.
	for _, pf := range p.staleAddrs(st.Addrs) {
		_, ok := ob.addrs[pf]
		r.Items = append(r.Items, Item{Kind: "address", Name: pf.String() + " dev " + VIPDevice, Desired: "absent", Actual: presence(ok), OK: !ok})
	}
	for _, pf := range p.staleRoutes(st.Routes) {
		_, ok := ob.ownRoute(pf)
		r.Items = append(r.Items, Item{Kind: "route", Name: pf.String() + " dev " + VIPDevice + " proto 76", Desired: "absent", Actual: presence(ok), OK: !ok})
	}
	return r
}

// staleAddrs returns the prefixes in owned (addresses the agent added)
// that p no longer wants.
func (p Plan) staleAddrs(owned []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, pf := range owned {
		if !slices.ContainsFunc(p.Addrs, func(a loopback.Addr) bool { return a.Prefix == pf }) {
			out = append(out, pf)
		}
	}
	return out
}

// staleRoutes returns the prefixes in owned (routes the agent added) that
// p no longer wants: those of dropped VIPs, and IPv6 ones an older lvsnode
// added.
func (p Plan) staleRoutes(owned []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, pf := range owned {
		if !slices.ContainsFunc(p.Routes, func(r loopback.Route) bool { return r.Dst == pf }) {
			out = append(out, pf)
		}
	}
	return out
}

func upDown(up bool) string {
	if up {
		return "up"
	}
	return "down"
}

func presence(ok bool) string {
	if ok {
		return "present"
	}
	return "absent"
}
