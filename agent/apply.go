package agent

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/lvsnode/lvsnode/loopback"
	"github.com/lvsnode/lvsnode/sysctl"
	"github.com/lvsnode/lvsnode/tunnel"
)

// Agent applies, checks and tears down plans through the kernel boundaries.
type Agent struct {
	NL        loopback.Netlink
	Tun       tunnel.Netlink // TUN and NAT modes; nil is fine for DR
	Sys       sysctl.Client
	StateFile string
	// NSClaim is the network namespace's claim file (NSClaimPath; "" =
	// none): Apply and Teardown refuse, with ErrNSOwned, while another
	// existing state file owns the namespace.
	NSClaim string
}

// Check reads the kernel and compares it with p. It changes nothing. Items
// the agent added earlier that p no longer wants are reported as drift too.
func (a *Agent) Check(p Plan) (Report, error) {
	st, err := loadOrNew(a.StateFile)
	if err != nil {
		return Report{}, err
	}
	p = a.natRedirects(a.keepNICsRP(p, st, st.Desired.Interfaces))
	ob, err := a.observeAll(p, st)
	if err != nil {
		return Report{}, err
	}
	adopt(st, ob) // in memory only: marked items count as the agent's
	return report(p, st, ob), nil
}

// Preflight checks what Apply would otherwise only degrade: every device
// of p's sysctls exists. `agent apply` calls it first, so a mistyped
// --interface changes nothing; the daemon does not (a NIC that vanishes
// or appears late degrades its own rows only). The error wraps
// sysctl.ErrNotExist. The tunnel devices' rows are skipped: Apply creates
// those devices first (loading their module), and says so if it cannot.
func (a *Agent) Preflight(p Plan) error {
	for _, s := range p.Sysctls {
		if p.wantsDevice(s.Dev) {
			continue
		}
		if _, err := a.Sys.Get(s.Key); errors.Is(err, sysctl.ErrNotExist) {
			return fmt.Errorf("sysctl %s: %w (is interface %q present?)", s.Key, sysctl.ErrNotExist, s.Dev)
		} else if err != nil {
			return err
		}
	}
	return nil
}

// Apply makes the kernel match p and returns the verified report with the
// list of changes it made (empty when nothing had drifted).
//
// Order: record intent in the state file; write the ARP sysctls (all, then
// each device) and the sysctl.d drop-in if configured; bring lo up; remove
// VIPs the agent added earlier that p no longer wants; add the missing
// VIPs, then their routes; then read everything back. The state file is
// locked throughout, so a daemon and a CLI run never interleave. Addresses and routes
// already present are left as they are, whoever added them; only the
// agent's own stale ones are removed. A report that still differs after the
// changes is returned with an error wrapping ErrNotVerified; so is a
// sysctl whose interface is absent, which is skipped while the rest of
// the plan is applied (see Preflight).
func (a *Agent) Apply(p Plan, o Options) (Report, []string, error) {
	unlock, err := lockState(a.StateFile)
	if err != nil {
		return Report{}, nil, err
	}
	defer unlock()
	release, err := a.claimNS()
	if err != nil {
		return Report{}, nil, err
	}
	defer release()
	st, err := loadOrNew(a.StateFile)
	if err != nil {
		return Report{}, nil, err
	}
	p = a.natRedirects(a.keepNICsRP(p, st, o.Interfaces))
	created, err := a.prepareTun(p, st)
	if created {
		if serr := st.Save(a.StateFile); err == nil {
			err = serr
		}
	}
	if err != nil {
		return Report{}, nil, err
	}
	ob, err := a.observeAll(p, st)
	if err != nil {
		return Report{}, nil, err
	}
	if err := checkModes(p, ob); err != nil {
		return Report{}, nil, err
	}
	if o.SysctlFile != "" {
		if err := sysctl.CheckDropInPath(o.SysctlFile); err != nil {
			return Report{}, nil, err
		}
		removeStaleTemps(o.SysctlFile) // written under the same lock
	}
	adopted := adopt(st, ob)
	in, err := record(st, p, o, ob)
	if err != nil {
		return Report{}, nil, err
	}
	in.changed = in.changed || len(adopted) > 0
	if in.changed {
		if err := st.Save(a.StateFile); err != nil {
			return Report{}, nil, err
		}
	}
	changes, err := a.carryOut(st, p, o, ob, in)
	if err == nil {
		var mch []string
		mch, err = a.applyModes(st, p, ob)
		changes = append(changes, mch...)
	}
	changes = append(adopted, changes...)
	if len(changes) > 0 || in.changed {
		if serr := st.Save(a.StateFile); err == nil {
			err = serr
		}
	}
	if err != nil {
		return Report{}, changes, err
	}
	after, err := a.observeAll(p, st)
	if err != nil {
		return Report{}, changes, err
	}
	r := report(p, st, after)
	if !r.OK() {
		return r, changes, fmt.Errorf("%w: %s", ErrNotVerified, strings.Join(r.Problems(), "; "))
	}
	return r, changes, nil
}

// intent is what one Apply changes, computed from one observation.
type intent struct {
	writes    []SysctlItem
	addAddrs  []loopback.Addr
	addRoutes []loopback.Route
	oldDropIn string   // lvsnode's previous drop-in, no longer configured
	restores  []string // recorded sysctls p no longer plans (st.Sysctls keys)
	changed   bool     // st was changed and must be saved
}

// record computes the intent and notes in st what the agent is about to
// own and the sysctls' original values, before the kernel is touched.
func record(st *State, p Plan, o Options, ob observed) (intent, error) {
	var in intent
	desired := StateDesired{Mode: o.Mode, VIPs: o.VIPs, Interfaces: o.Interfaces, TunType: o.TunType, TunPort: o.TunPort}
	for _, g := range o.Gateways {
		desired.Gateways = append(desired.Gateways, g.String())
	}
	if !equalDesired(st.Desired, desired) {
		st.Desired, in.changed = desired, true
	}
	for _, s := range p.Sysctls {
		cur, ok := ob.sysctls[s.Key.String()]
		if !ok {
			// Its interface is absent: that row reads back as drift
			// (not verified), and everything else, the VIPs first of
			// all, goes ahead.
			continue
		}
		if s.Serves(cur) {
			continue // as needed, or stricter: kept
		}
		in.writes = append(in.writes, s)
		if rec, seen := st.Sysctls[s.Key.String()]; !seen || rec.Set != s.Value {
			orig := cur
			if seen {
				orig = rec.Original // keep the value from before the agent's first change
			}
			st.Sysctls[s.Key.String()] = SysctlRecord{Key: s.Key, Original: orig, Set: s.Value}
			in.changed = true
		}
	}
	for _, ad := range p.Addrs {
		if _, ok := ob.addrs[ad.Prefix]; !ok {
			in.addAddrs = append(in.addAddrs, ad)
			if !st.ownsAddr(ad.Prefix) {
				st.Addrs, in.changed = append(st.Addrs, ad.Prefix), true
			}
		}
	}
	for _, rt := range p.Routes {
		if _, ok := ob.slot(rt); !ok {
			in.addRoutes = append(in.addRoutes, rt)
			if !st.ownsRoute(rt.Dst) {
				st.Routes, in.changed = append(st.Routes, rt.Dst), true
			}
		}
	}
	if in.restores = staleSysctls(p, st); len(in.restores) > 0 {
		in.changed = true // their records go
	}
	if st.SysctlFile != o.SysctlFile {
		in.oldDropIn = st.SysctlFile
		st.SysctlFile, in.changed = o.SysctlFile, true
	}
	return in, nil
}

// carryOut makes the changes of in, in the order that avoids ARP flux, and
// drops from st the stale items it removes. It returns what it did.
func (a *Agent) carryOut(st *State, p Plan, o Options, ob observed, in intent) ([]string, error) {
	var changes []string
	// ARP sysctls before any VIP exists.
	for _, s := range in.writes {
		if err := a.Sys.Set(s.Key, s.Value); errors.Is(err, sysctl.ErrNotExist) {
			continue // its interface vanished since observe: degraded row
		} else if err != nil {
			return changes, err
		}
		changes = append(changes, fmt.Sprintf("set %s=%s (was %s)", s.Key, s.Value, ob.sysctls[s.Key.String()]))
	}
	// Persist them across reboots and udev replays, if asked, before any
	// VIP exists too: a bad path fails here, with no VIP bound.
	if o.SysctlFile != "" {
		changed, err := writeIfDifferent(o.SysctlFile, sysctl.RenderDropIn(p.settingsKeeping(ob)))
		if err != nil {
			return changes, fmt.Errorf("write %s: %w", o.SysctlFile, err)
		}
		if changed {
			changes = append(changes, "wrote "+o.SysctlFile)
		}
	}
	if in.oldDropIn != "" && sysctl.CheckDropInPath(in.oldDropIn) == nil {
		if err := os.Remove(in.oldDropIn); err == nil {
			changes = append(changes, "removed the previous "+in.oldDropIn)
		}
	}
	if !ob.linkUp {
		if err := a.NL.SetLinkUp(p.Link); err != nil {
			return changes, err
		}
		changes = append(changes, "set link "+p.Link+" up")
	}
	// The agent's own VIPs that are no longer wanted: routes, then addresses.
	for _, pf := range p.staleRoutes(st.Routes) {
		// Only the route with the agent's mark: a same-prefix route of
		// someone else's (another protocol or metric) stays, and never
		// hides the agent's own from this removal.
		if rt, ok := ob.ownRoute(pf); ok {
			if err := a.NL.DelRoute(rt); err != nil && !errors.Is(err, loopback.ErrNotFound) {
				return changes, err
			}
			changes = append(changes, "removed route "+pf.String()+" dev "+VIPDevice)
		}
		st.dropRoute(pf)
	}
	for _, pf := range p.staleAddrs(st.Addrs) {
		if ad, ok := ob.addrs[pf]; ok && removable(ad, true) {
			if err := a.NL.DelAddr(ad); err != nil && !errors.Is(err, loopback.ErrNotFound) {
				return changes, err
			}
			changes = append(changes, "removed address "+pf.String()+" dev "+VIPDevice)
		}
		st.dropAddr(pf)
	}
	// Missing VIPs, then their host routes.
	for _, ad := range in.addAddrs {
		if err := a.NL.AddAddr(ad); err != nil && !errors.Is(err, loopback.ErrExist) {
			return changes, err
		}
		changes = append(changes, "added address "+ad.Prefix.String()+" dev "+ad.Dev)
	}
	for _, rt := range in.addRoutes {
		if err := a.NL.AddRoute(rt); err != nil && !errors.Is(err, loopback.ErrExist) {
			return changes, err
		}
		changes = append(changes, "added route "+rt.Dst.String()+" dev "+rt.Dev)
	}
	// Last, once the VIPs p no longer wants are gone: the sysctls an
	// earlier plan needed and p does not (a mode change: TUN's rp_filter,
	// DR's ARP settings under NAT) go back as teardown would put them.
	for _, k := range in.restores {
		rec := st.Sysctls[k]
		if cur, ok := ob.sysctls[k]; ok && cur == rec.Set {
			if err := a.Sys.Set(sysctl.Key(rec.Key), rec.Original); err != nil && !errors.Is(err, sysctl.ErrNotExist) {
				return changes, err
			}
			changes = append(changes, fmt.Sprintf("restored %s=%s (no longer needed)", k, rec.Original))
		} // else gone, or changed by someone else since: left alone
		delete(st.Sysctls, k)
	}
	return changes, nil
}

// staleSysctls are the keys of the sysctls st records lvsnode changed that
// p no longer plans, sorted.
func staleSysctls(p Plan, st *State) []string {
	var out []string
	for k := range st.Sysctls {
		if !slices.ContainsFunc(p.Sysctls, func(s SysctlItem) bool { return s.Key.String() == k }) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func equalDesired(a, b StateDesired) bool {
	return a.Mode == b.Mode && slices.Equal(a.VIPs, b.VIPs) && slices.Equal(a.Interfaces, b.Interfaces) &&
		a.TunType == b.TunType && a.TunPort == b.TunPort && slices.Equal(a.Gateways, b.Gateways)
}

func writeIfDifferent(path string, data []byte) (bool, error) {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return false, nil
	}
	return true, sysctl.WriteFileAtomic(path, data, 0o644)
}
