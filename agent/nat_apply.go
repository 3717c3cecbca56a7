package agent

import (
	"errors"
	"slices"

	"github.com/lvsnode/lvsnode/tunnel"
)

// The NAT mode's report rows and changes: lvsnode's default route per
// gateway, and the default routes it replaced, remembered and put back.

func natItems(p Plan, n natObserved) []Item {
	var out []Item
	wanted := map[string]bool{}
	if p.NAT != nil {
		for _, g := range p.NAT.Gateways {
			f := Family(g.Addr)
			dev, err := n.gatewayDev(g)
			if err != nil {
				out = append(out, Item{Kind: "route", Name: "default via " + g.String(), Desired: "present", Actual: errors.Unwrap(err).Error()})
				continue
			}
			want := natRoute(g, dev)
			wanted[want.Key()] = true
			_, ok := findRoute(owned(n.defaults[f]), want)
			act := presence(ok)
			conf := natConflicts(n.defaults[f], f)
			if ok && len(conf) > 0 {
				act = "present, but " + conf[0].Key() + " (not lvsnode's) takes precedence"
			}
			out = append(out, Item{Kind: "route", Name: want.Key(), Desired: "present, the preferred default", Actual: act, OK: ok && len(conf) == 0})
		}
	}
	for _, fam := range []int{4, 6} {
		for _, r := range owned(n.defaults[fam]) {
			if !wanted[r.Key()] {
				out = append(out, Item{Kind: "route", Name: r.Key(), Desired: "absent", Actual: "present"})
			}
		}
	}
	return out
}

// applyNAT puts lvsnode's default route in place for each gateway. The
// default routes that would collide with or take precedence over it are
// remembered (saved) first; then lvsnode's route replaces the one in its
// slot in one step (the kernel refuses a second route there, and a delete
// then add would leave the host without a default route meanwhile, or for
// good when the add fails), and only then are the remaining ones removed.
// Lastly it puts back what it replaced in the families p no longer routes
// through a gateway, and removes lvsnode's default routes p does not want.
func (a *Agent) applyNAT(st *State, p Plan, n natObserved) ([]string, error) {
	var ch []string
	wanted := map[string]bool{}
	gwFams := map[int]bool{}
	if p.NAT != nil {
		for _, g := range p.NAT.Gateways {
			f := Family(g.Addr)
			gwFams[f] = true
			dev, err := n.gatewayDev(g)
			if err != nil {
				return ch, err
			}
			want := natRoute(g, dev)
			wanted[want.Key()] = true
			conf := natConflicts(n.defaults[f], f)
			remembered, err := a.rememberDefaults(st, conf)
			if err != nil {
				return ch, err
			}
			if _, ok := findRoute(owned(n.defaults[f]), want); !ok {
				if err := a.Tun.ReplaceRoute(want); err != nil {
					return ch, a.forgetDefaults(st, remembered, err)
				}
				ch = append(ch, "added route "+want.Key())
			}
			for _, r := range conf {
				// ErrNotFound: the one lvsnode's route replaced.
				if err := a.Tun.DelRoute(r); err != nil && !errors.Is(err, tunnel.ErrNotFound) {
					return ch, err
				}
				ch = append(ch, "removed route "+r.Key()+" (remembered, restored by teardown)")
			}
		}
	}
	if st.NAT != nil {
		rch, err := a.restoreDefaults(st, gwFams)
		ch = append(ch, rch...)
		if err != nil {
			return ch, err
		}
		if p.NAT == nil && len(st.NAT.Replaced) == 0 {
			st.NAT = nil
		}
	}
	for _, fam := range []int{4, 6} {
		for _, r := range owned(n.defaults[fam]) {
			if wanted[r.Key()] {
				continue
			}
			err := a.Tun.DelRoute(r)
			switch {
			case err == nil:
				ch = append(ch, "removed route "+r.Key())
			case errors.Is(err, tunnel.ErrNotFound): // replaced in its slot above
			default:
				return ch, err
			}
		}
	}
	return ch, nil
}

// rememberDefaults records rs in st (saved) before they are replaced, and
// returns those it added.
func (a *Agent) rememberDefaults(st *State, rs []tunnel.Route) ([]tunnel.Route, error) {
	var added []tunnel.Route
	for _, r := range rs {
		if st.NAT == nil {
			st.NAT = &NATState{}
		}
		if _, seen := findRoute(st.NAT.Replaced, r); !seen {
			st.NAT.Replaced = append(st.NAT.Replaced, r)
			added = append(added, r)
		}
	}
	if len(added) == 0 {
		return nil, nil
	}
	return added, st.Save(a.StateFile)
}

// forgetDefaults undoes rememberDefaults after the kernel refused
// lvsnode's route (nothing was replaced) and returns cause.
func (a *Agent) forgetDefaults(st *State, rs []tunnel.Route, cause error) error {
	if len(rs) == 0 {
		return cause
	}
	st.NAT.Replaced = slices.DeleteFunc(st.NAT.Replaced, func(q tunnel.Route) bool {
		_, ok := findRoute(rs, q)
		return ok
	})
	if err := st.Save(a.StateFile); err != nil {
		return errors.Join(cause, err)
	}
	return cause
}

// restoreDefaults puts back the default routes lvsnode replaced in the
// families not in keep, each in its slot in one step (replacing
// lvsnode's), and forgets them.
func (a *Agent) restoreDefaults(st *State, keep map[int]bool) ([]string, error) {
	var ch []string
	for _, r := range slices.Clone(st.NAT.Replaced) {
		if keep[r.Family] {
			continue
		}
		err := a.Tun.ReplaceRoute(r)
		switch {
		case err == nil:
			ch = append(ch, "restored route "+r.Key())
		case errors.Is(err, tunnel.ErrNoLink):
			ch = append(ch, "not restored (its device is gone): route "+r.Key())
		default:
			return ch, err
		}
		st.NAT.Replaced = slices.DeleteFunc(st.NAT.Replaced, func(q tunnel.Route) bool { return q.Key() == r.Key() })
	}
	return ch, nil
}
