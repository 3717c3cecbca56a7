package director

import (
	"encoding/json"
	"net/netip"
)

// mergeConfig merges the config file's services into the saved desired
// state, three ways: what the file changed since it was last merged
// (saved.Config) wins, what it did not change keeps the saved value (so
// real servers added, edited or removed through the API survive a reload
// and a restart). A first start takes the file as it is.
func mergeConfig(saved Desired, file []ServiceSpec) Desired {
	out := saved
	out.Config = clone(file)
	if saved.Services == nil && saved.Config == nil {
		out.Services = clone(file)
		return out
	}
	prev, next := indexServices(saved.Config), indexServices(file)
	cur := clone(saved.Services)
	pos := map[string]int{}
	for i, s := range cur {
		pos[serviceID(s)] = i
	}
	var drop []string
	for _, f := range file { // in file order: new services append in that order
		id := serviceID(f)
		p, inPrev := prev[id]
		i, inCur := pos[id]
		switch {
		case !inPrev || !inCur:
			if inCur {
				cur[i] = f
			} else {
				pos[id] = len(cur)
				cur = append(cur, f)
			}
		default:
			cur[i] = mergeService(p, f, cur[i])
		}
	}
	for id := range prev {
		if _, still := next[id]; !still {
			drop = append(drop, id)
		}
	}
	out.Services = cur[:0:0]
	for _, s := range cur {
		keep := true
		for _, id := range drop {
			if serviceID(s) == id {
				keep = false
			}
		}
		if keep {
			out.Services = append(out.Services, s)
		}
	}
	return out
}

// mergeService applies to cur what the file changed from prev to next.
func mergeService(prev, next, cur ServiceSpec) ServiceSpec {
	out := cur
	pSet, nSet := prev, next
	pSet.Nodes, nSet.Nodes = nil, nil
	if !same(pSet, nSet) {
		nodes := out.Nodes
		out = next
		out.Nodes = nodes
	} else {
		out.lines = next.lines
	}
	port := servicePort(next.Service)
	pn, nn := indexNodes(prev.Nodes, port), indexNodes(next.Nodes, port)
	var kept []NodeSpec
	seen := map[string]bool{}
	for _, c := range cur.Nodes {
		id := nodeKey(c, port)
		seen[id] = true
		p, inP := pn[id]
		n, inN := nn[id]
		switch {
		case inP && !inN: // removed from the file
		case inN && (!inP || !same(p, n)): // added or changed in the file
			kept = append(kept, n)
		default:
			kept = append(kept, c)
		}
	}
	for _, n := range next.Nodes {
		id := nodeKey(n, port)
		if _, inP := pn[id]; !seen[id] && (!inP || !same(pn[id], n)) {
			kept = append(kept, n)
		}
	}
	out.Nodes = kept
	return out
}

func same(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func serviceID(s ServiceSpec) string {
	if k, err := ParseService(s.Service); err == nil {
		return ServiceName(k)
	}
	return s.Service
}

func servicePort(s string) uint16 {
	k, _ := ParseService(s)
	return k.Port
}

func nodeKey(n NodeSpec, svcPort uint16) string {
	a, err := netip.ParseAddr(n.Address)
	if err != nil {
		return n.Address
	}
	p := n.Port
	if p == 0 {
		p = svcPort
	}
	return netip.AddrPortFrom(a.Unmap(), p).String()
}

func indexServices(s []ServiceSpec) map[string]ServiceSpec {
	m := make(map[string]ServiceSpec, len(s))
	for _, x := range s {
		m[serviceID(x)] = x
	}
	return m
}

func indexNodes(ns []NodeSpec, port uint16) map[string]NodeSpec {
	m := make(map[string]NodeSpec, len(ns))
	for _, n := range ns {
		m[nodeKey(n, port)] = n
	}
	return m
}
