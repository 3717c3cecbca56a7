package agent

import (
	"slices"

	"github.com/lvsnode/lvsnode/sysctl"
)

// The TUN mode lowers conf/all/rp_filter to 0 (see rpTable), and the kernel
// filters each interface by max(all, its own value): every NIC without a
// value of its own loses reverse-path filtering with it. keepNICsRP keeps
// the filtering of the NICs the operator named (--interface): when `all`
// was strict or loose (1 or 2) before lvsnode, each of them gets that value
// as its own unless its own already filters at least as much, so for them
// max(all, own) is what it was. It is the default, without a flag: it
// changes no effective value anywhere (the named NICs filter exactly as
// before, the tunnel device as rpTable needs), and teardown restores the
// NICs' own values with `all`. NICs not named keep no filtering while
// lvsnode runs (README, TUN section).

// rpAllKey is conf/all/rp_filter.
var rpAllKey = sysctl.ConfKey("all", "rp_filter")

const rpNICWhy = "keep this NIC's reverse-path filtering: lvsnode lowered conf/all (the kernel uses max(all, dev)), so the NIC gets all's previous value as its own"

// keepNICsRP returns p with an rp_filter row per interface in ifaces,
// placed before the row that lowers `all` (so no NIC is ever unfiltered in
// between), when p lowers `all` and `all` was 1 or 2 before lvsnode: the
// value st recorded as the original, or else the current one. p is
// returned unchanged otherwise; its rows are never shared with the result.
func (a *Agent) keepNICsRP(p Plan, st *State, ifaces []string) Plan {
	at := slices.IndexFunc(p.Sysctls, func(s SysctlItem) bool { return s.Dev == "all" && s.Name == "rp_filter" })
	if at < 0 || len(ifaces) == 0 {
		return p
	}
	prev := ""
	if rec, ok := st.Sysctls[rpAllKey.String()]; ok {
		prev = rec.Original
	} else if v, err := a.Sys.Get(rpAllKey); err == nil {
		prev = v
	}
	if prev != "1" && prev != "2" {
		return p
	}
	var also []string // own values under which the NIC already filtered as it did
	if prev == "1" {
		also = []string{"2"} // loose is max(1, 2) = 2: the NIC's own 2 already applied before
	}
	var rows []SysctlItem
	for _, dev := range ifaces {
		if slices.ContainsFunc(p.Sysctls, func(s SysctlItem) bool { return s.Dev == dev && s.Name == "rp_filter" }) {
			continue // a tunnel device named as --interface keeps rpTable's 0
		}
		rows = append(rows, SysctlItem{
			Setting: sysctl.Setting{Key: sysctl.ConfKey(dev, "rp_filter"), Value: prev, Why: rpNICWhy},
			Dev:     dev, Name: "rp_filter", Also: also,
		})
	}
	out := slices.Clone(p.Sysctls[:at])
	out = append(out, rows...)
	p.Sysctls = append(out, p.Sysctls[at:]...)
	return p
}
