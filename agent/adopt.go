package agent

import (
	"net/netip"
	"slices"
)

// adopt records in st the addresses and routes on lo that carry lvsnode's
// marks (marked; route protocol 76) but that st does not list: the state
// file was lost, replaced or restored from an old backup. From then on they
// are the agent's again: verified, removed when no longer planned, torn
// down. It returns one line per adopted item.
//
// Only without a state file (st.fresh): a state file that exists is the
// record, and a marked item it does not list may be another state file's
// (two agents in one namespace are refused, see claimNS, but a claim in
// another mount namespace's /run cannot be seen); taking it would delete
// it as stale.
//
// The sysctls' values from before lvsnode cannot be recovered that way:
// when st has no record of any, it is marked OriginalsUnknown and teardown
// leaves them as they are (see Teardown).
func adopt(st *State, ob observed) []string {
	var lines []string
	if !st.fresh {
		return nil
	}
	for _, pf := range sortedPrefixes(ob.addrs) {
		if marked(ob.addrs[pf]) && !st.ownsAddr(pf) {
			st.Addrs = append(st.Addrs, pf)
			lines = append(lines, "re-adopted address "+pf.String()+" dev "+VIPDevice+" (lvsnode's mark, no state record)")
		}
	}
	for _, pf := range sortedPrefixes(ob.routes) {
		if _, ok := ob.ownRoute(pf); ok && !st.ownsRoute(pf) {
			st.Routes = append(st.Routes, pf)
			lines = append(lines, "re-adopted route "+pf.String()+" dev "+VIPDevice+" (lvsnode's mark, no state record)")
		}
	}
	if len(lines) > 0 && len(st.Sysctls) == 0 {
		st.OriginalsUnknown = true
	}
	return lines
}

func sortedPrefixes[V any](m map[netip.Prefix]V) []netip.Prefix {
	out := make([]netip.Prefix, 0, len(m))
	for pf := range m {
		out = append(out, pf)
	}
	slices.SortFunc(out, func(a, b netip.Prefix) int {
		if c := a.Addr().Compare(b.Addr()); c != 0 {
			return c
		}
		return a.Bits() - b.Bits()
	})
	return out
}
