package agent

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/lvsnode/lvsnode/tunnel"
)

// modeItems are the report rows of the TUN and NAT modes: what p wants,
// and what lvsnode made earlier that p no longer wants.
func modeItems(p Plan, st *State, ob observed) []Item {
	m := ob.modes
	var out []Item
	if p.Tun != nil {
		for _, d := range p.Tun.Devices {
			l, ok := m.links[d.Name]
			act := "absent (module " + moduleOf(d.Kind) + " not loaded)"
			if ok {
				act = upDown(l.Up)
			}
			out = append(out, Item{Kind: "link", Name: d.Name, Desired: "up", Actual: act, OK: ok && l.Up})
		}
		for _, f := range p.Tun.Fous {
			act := "absent"
			switch q, ok := findFou(m.fous[f.Family], f.Port); {
			case m.fouErr != nil:
				act = m.fouErr.Error()
			case ok && q.GUE:
				act = "present"
			case ok:
				act = "taken by a non-GUE FOU port"
			}
			out = append(out, Item{Kind: "fou", Name: f.String(), Desired: "present", Actual: act, OK: act == "present"})
		}
		for _, r := range p.Tun.Rules {
			ok := slices.Contains(m.rules, r)
			act := presence(ok)
			if q, shadowed := shadowingRule(m.rules, r); ok && shadowed {
				act, ok = "present, but "+q.String()+" (not lvsnode's) takes precedence: VIP replies miss the advmss", false
			}
			out = append(out, Item{Kind: "rule", Name: r.String(), Desired: "present, the first from the VIP", Actual: act, OK: ok})
		}
		for _, want := range m.mirror {
			have, ok := findRoute(m.mss, want)
			act := "absent"
			if ok {
				act = "advmss " + strconv.Itoa(have.AdvMSS)
			}
			out = append(out, Item{Kind: "route", Name: want.Key(), Desired: "advmss " + strconv.Itoa(want.AdvMSS),
				Actual: act, OK: ok && have.AdvMSS == want.AdvMSS && have.Protocol == OwnerProto})
		}
	}
	for _, r := range staleRules(p, m) {
		out = append(out, Item{Kind: "rule", Name: r.String(), Desired: "absent", Actual: "present"})
	}
	for _, r := range staleMSSRoutes(m) {
		out = append(out, Item{Kind: "route", Name: r.Key(), Desired: "absent", Actual: "present"})
	}
	if st.Tun != nil {
		for _, f := range st.Tun.Fous {
			if p.Tun == nil || !slices.Contains(p.Tun.Fous, f) {
				_, ok := findFou(m.fous[f.Family], f.Port)
				out = append(out, Item{Kind: "fou", Name: f.String(), Desired: "absent", Actual: presence(ok), OK: !ok})
			}
		}
		for _, n := range st.Tun.Raised {
			if !p.wantsDevice(n) {
				l, ok := m.links[n]
				out = append(out, Item{Kind: "link", Name: n, Desired: "down (as before lvsnode)", Actual: upDown(ok && l.Up), OK: !ok || !l.Up})
			}
		}
	}
	return append(out, natItems(p, m.nat)...)
}

func findFou(fs []tunnel.Fou, port int) (tunnel.Fou, bool) {
	for _, f := range fs {
		if f.Port == port {
			return f, true
		}
	}
	return tunnel.Fou{}, false
}

func (p Plan) wantsDevice(name string) bool {
	return p.Tun != nil && slices.ContainsFunc(p.Tun.Devices, func(d TunDevice) bool { return d.Name == name })
}

// shadowingRule is a rule of someone else's that the kernel consults before
// lvsnode's MSS rule r for every packet from r's VIP (`ip rule add from
// VIP lookup main pref 100`): a source selector covering the VIP, a lower
// preference, another table. lvsnode leaves it alone and reports it.
func shadowingRule(rules []tunnel.Rule, r tunnel.Rule) (tunnel.Rule, bool) {
	for _, q := range rules {
		if !ownedRule(q) && q.Table != MSSTable && q.Priority < r.Priority &&
			q.Src.IsValid() && q.Src.Bits() > 0 && q.Src.Contains(r.Src.Addr()) {
			return q, true
		}
	}
	return tunnel.Rule{}, false
}

// staleRules are lvsnode's MSS rules (found by their mark) p does not want.
func staleRules(p Plan, m modesObserved) []tunnel.Rule {
	var out []tunnel.Rule
	for _, r := range m.rules {
		if ownedRule(r) && !p.wantedRule(r) {
			out = append(out, r)
		}
	}
	return out
}

// staleMSSRoutes are lvsnode's routes in MSSTable that the mirror of main
// no longer has (or has with another advmss).
func staleMSSRoutes(m modesObserved) []tunnel.Route {
	var out []tunnel.Route
	for _, r := range m.mss {
		if r.Protocol != OwnerProto {
			continue
		}
		if want, ok := findRoute(m.mirror, r); !ok || want.AdvMSS != r.AdvMSS {
			out = append(out, r)
		}
	}
	return out
}

// applyModes carries out the TUN and NAT rows, after the sysctls and the
// VIPs: the MSS rules and routes first, then the FOU ports, then the
// devices up (the door opens last, when replies already get the right
// MSS), then the NAT default routes; then it removes what lvsnode made
// earlier and p no longer wants. What carries no mark is recorded in st
// (saved) before it is changed.
func (a *Agent) applyModes(st *State, p Plan, ob observed) ([]string, error) {
	m := ob.modes
	var ch []string
	save := func() error { return st.Save(a.StateFile) }
	// Stale MSS routes first: a route whose advmss changed is replaced.
	for _, r := range staleMSSRoutes(m) {
		if err := a.Tun.DelRoute(r); err != nil && !errors.Is(err, tunnel.ErrNotFound) {
			return ch, err
		}
		ch = append(ch, "removed route "+r.String())
	}
	if p.Tun != nil {
		for _, want := range m.mirror {
			if have, ok := findRoute(m.mss, want); ok && have.AdvMSS == want.AdvMSS && have.Protocol == OwnerProto {
				continue
			}
			if err := a.Tun.AddRoute(want); err != nil && !errors.Is(err, tunnel.ErrExist) {
				return ch, err
			}
			ch = append(ch, "added route "+want.String())
		}
		for _, r := range p.Tun.Rules {
			if slices.Contains(m.rules, r) {
				continue
			}
			if err := a.Tun.AddRule(r); err != nil && !errors.Is(err, tunnel.ErrExist) {
				return ch, err
			}
			ch = append(ch, "added "+r.String())
		}
		for _, f := range p.Tun.Fous {
			if m.fouErr != nil {
				return ch, fmt.Errorf("%s: %w: load module fou (fou6 for IPv6) at boot", f, m.fouErr)
			}
			if q, ok := findFou(m.fous[f.Family], f.Port); ok {
				if !q.GUE {
					return ch, fmt.Errorf("%s: the port is open as a non-GUE FOU port, not lvsnode's: left alone; free it or choose another --tun-port", f)
				}
				if tunWasInUse(st, m) && (st.Tun == nil || !slices.Contains(st.Tun.Fous, f)) {
					st.Tun = cmp.Or(st.Tun, &TunState{})
					st.Tun.Fous = append(st.Tun.Fous, f)
					ch = append(ch, "re-adopted "+f.String()+" (lvsnode's MSS rules show TUN was in use; no state record)")
				}
				continue
			}
			if st.Tun == nil {
				st.Tun = &TunState{}
			}
			if !slices.Contains(st.Tun.Fous, f) {
				st.Tun.Fous = append(st.Tun.Fous, f)
				if err := save(); err != nil {
					return ch, err
				}
			}
			if err := a.Tun.AddFou(f); err != nil && !errors.Is(err, tunnel.ErrExist) {
				return ch, err
			}
			ch = append(ch, "added "+f.String())
		}
		for _, d := range p.Tun.Devices {
			if l, ok := m.links[d.Name]; ok && l.Up {
				if tunWasInUse(st, m) && (st.Tun == nil || !slices.Contains(st.Tun.Raised, d.Name)) {
					st.Tun = cmp.Or(st.Tun, &TunState{})
					st.Tun.Raised = append(st.Tun.Raised, d.Name)
					ch = append(ch, "re-adopted link "+d.Name+" up (lvsnode's MSS rules show TUN was in use; no state record)")
				}
				continue
			}
			if st.Tun == nil {
				st.Tun = &TunState{}
			}
			if !slices.Contains(st.Tun.Raised, d.Name) && !slices.Contains(st.Tun.Created, d.Name) {
				st.Tun.Raised = append(st.Tun.Raised, d.Name)
				if err := save(); err != nil {
					return ch, err
				}
			}
			if err := a.Tun.SetLinkUp(d.Name, true); err != nil {
				return ch, err
			}
			ch = append(ch, "set link "+d.Name+" up")
		}
	}
	nch, err := a.applyNAT(st, p, m.nat)
	ch = append(ch, nch...)
	if err != nil {
		return ch, err
	}
	// What an earlier plan made and this one does not want.
	for _, r := range staleRules(p, m) {
		if err := a.Tun.DelRule(r); err != nil && !errors.Is(err, tunnel.ErrNotFound) {
			return ch, err
		}
		ch = append(ch, "removed "+r.String())
	}
	if st.Tun != nil {
		sch, err := a.dropTun(st, p, m)
		ch = append(ch, sch...)
		if err != nil {
			return ch, err
		}
	}
	return ch, nil
}

// tunWasInUse tells, for a state file that was lost (st.fresh), whether
// lvsnode's MSS rules show that its TUN mode was in use: then the planned
// tunnel devices that are up and FOU ports that are open are most likely
// what it opened, and are recorded as such, so teardown closes them.
func tunWasInUse(st *State, m modesObserved) bool {
	return st.fresh && slices.ContainsFunc(m.rules, ownedRule)
}

// dropTun removes the FOU ports and lowers the devices lvsnode opened and
// raised that p no longer wants, and forgets them.
func (a *Agent) dropTun(st *State, p Plan, m modesObserved) ([]string, error) {
	var ch []string
	for _, f := range slices.Clone(st.Tun.Fous) {
		if p.Tun != nil && slices.Contains(p.Tun.Fous, f) {
			continue
		}
		if q, ok := findFou(m.fous[f.Family], f.Port); ok && q.GUE {
			if err := a.Tun.DelFou(f); err != nil && !errors.Is(err, tunnel.ErrNotFound) {
				return ch, err
			}
			ch = append(ch, "removed "+f.String())
		}
		st.Tun.Fous = slices.DeleteFunc(st.Tun.Fous, func(q tunnel.Fou) bool { return q == f })
	}
	for _, n := range slices.Clone(st.Tun.Raised) {
		if p.wantsDevice(n) {
			continue
		}
		if l, ok := m.links[n]; ok && l.Up {
			if err := a.Tun.SetLinkUp(n, false); err != nil && !errors.Is(err, tunnel.ErrNoLink) {
				return ch, err
			}
			ch = append(ch, "set link "+n+" down (as before lvsnode)")
		}
		st.Tun.Raised = slices.DeleteFunc(st.Tun.Raised, func(q string) bool { return q == n })
	}
	for _, n := range slices.Clone(st.Tun.Created) {
		if p.wantsDevice(n) {
			continue
		}
		if err := a.Tun.DelLink(n); err != nil && !errors.Is(err, tunnel.ErrNoLink) {
			return ch, err
		}
		ch = append(ch, "deleted link "+n+" (lvsnode created it)")
		st.Tun.Created = slices.DeleteFunc(st.Tun.Created, func(q string) bool { return q == n })
	}
	if len(st.Tun.Fous)+len(st.Tun.Raised)+len(st.Tun.Created) == 0 && p.Tun == nil {
		st.Tun = nil
	}
	return ch, nil
}

// teardownModes removes what the TUN and NAT modes added: the MSS rules of
// the chosen VIPs (all lvsnode's, found by their mark, when all is set),
// and when all is set also lvsnode's MSS routes, FOU ports, raised or
// created devices and default routes, putting back the default routes it
// replaced. It works from the marks alone where there are marks, so it
// also cleans up after a lost state file.
func (a *Agent) teardownModes(st *State, chosen func(src tunnel.Rule) bool, all bool) ([]string, error) {
	var done []string
	for _, fam := range []int{4, 6} {
		rules, err := a.Tun.Rules(fam)
		if err != nil {
			return done, err
		}
		for _, r := range rules {
			if !ownedRule(r) || !(all || chosen(r)) {
				continue
			}
			if err := a.Tun.DelRule(r); err != nil && !errors.Is(err, tunnel.ErrNotFound) {
				return done, err
			}
			done = append(done, "removed "+r.String())
		}
	}
	if !all {
		return done, nil
	}
	var m modesObserved
	for _, fam := range []int{4, 6} {
		routes, err := a.Tun.Routes(MSSTable, fam)
		if err != nil {
			return done, err
		}
		m.mss = append(m.mss, routes...)
	}
	for _, r := range staleMSSRoutes(m) { // the mirror is empty: all of lvsnode's
		if err := a.Tun.DelRoute(r); err != nil && !errors.Is(err, tunnel.ErrNotFound) {
			return done, err
		}
		done = append(done, "removed route "+r.String())
	}
	if st.Tun != nil {
		m.links = map[string]tunnel.Link{}
		m.fous = map[int][]tunnel.Fou{}
		for _, n := range st.Tun.Raised {
			if l, err := a.Tun.Link(n); err == nil {
				m.links[n] = l
			}
		}
		for _, f := range st.Tun.Fous {
			if ports, err := a.Tun.FouPorts(f.Family); err == nil {
				m.fous[f.Family] = ports
			}
		}
		ch, err := a.dropTun(st, Plan{}, m)
		done = append(done, ch...)
		if err != nil {
			return done, err
		}
	}
	var n natObserved
	if err := a.observeNAT(Plan{}, &State{NAT: &NATState{}}, &n); err != nil {
		return done, err
	}
	ch, err := a.applyNAT(st, Plan{}, n)
	return append(done, ch...), err
}
