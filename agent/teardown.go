package agent

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/lvsnode/lvsnode/loopback"
	"github.com/lvsnode/lvsnode/sysctl"
	"github.com/lvsnode/lvsnode/tunnel"
)

// Teardown undoes what the agent did: for vips (all of its VIPs when vips is
// empty) it removes the routes and then the addresses it added, never one it
// did not add. Once none of its VIPs remain, it restores every sysctl it
// changed to the value recorded before its first change, removes its
// sysctl.d drop-in and deletes the state file. A sysctl that someone else
// has changed since is left as it is, and said so in the notes.
//
// What it added is what the state file records plus what carries
// lvsnode's marks on lo (adopt), so a lost state file still tears down
// the addresses and routes; the sysctls' original values are lost with
// the file, and they are then left as they are, said so in the notes.
// With neither a state file nor a marked item, Teardown does nothing and
// returns no error: the agent has nothing on this host.
func (a *Agent) Teardown(vips []netip.Addr) (done, notes []string, err error) {
	unlock, err := lockState(a.StateFile)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	release, err := a.claimNS()
	if err != nil {
		return nil, nil, err
	}
	defer release()
	st, err := LoadState(a.StateFile)
	noState := errors.Is(err, ErrNoState)
	if noState {
		st, err = &State{Version: stateVersion, Sysctls: map[string]SysctlRecord{}, fresh: true}, nil
	}
	if err != nil {
		return nil, nil, err
	}
	ob := observed{addrs: map[netip.Prefix]loopback.Addr{}, routes: map[netip.Prefix][]loopback.Route{}}
	if err := a.observeLo(&ob); err != nil {
		return nil, nil, err
	}
	recorded := slices.Clone(st.Addrs)
	if adopted := adopt(st, ob); len(adopted) > 0 && noState {
		notes = append(notes, fmt.Sprintf("no state file at %s: tearing down the %d item(s) carrying lvsnode's marks", a.StateFile, len(adopted)))
	}
	if noState && len(st.Addrs) == 0 && len(st.Routes) == 0 {
		// The modes' rules and routes carry lvsnode's mark: those go even without a record.
		if a.Tun != nil && len(vips) == 0 {
			done, err = a.teardownModes(st, nil, true)
			if len(done) > 0 || err != nil {
				return done, a.tunLeftovers(done), err
			}
		}
		return nil, []string{"nothing to tear down: no state file at " + a.StateFile + " and nothing with lvsnode's marks on " + VIPDevice}, nil
	}
	targets := map[netip.Prefix]bool{}
	for _, v := range vips {
		pf := netip.PrefixFrom(v, v.BitLen())
		if !st.ownsAddr(pf) && !st.ownsRoute(pf) {
			notes = append(notes, fmt.Sprintf("VIP %s was not added by lvsnode: left alone", v))
		}
		targets[pf] = true
	}
	chosen := func(pf netip.Prefix) bool { return len(vips) == 0 || targets[pf] }

	for _, pf := range slices.Clone(st.Routes) {
		if !chosen(pf) {
			continue
		}
		// Only the route with lvsnode's protocol: the kernel deletes no
		// same-prefix route of another protocol for this request.
		err := a.NL.DelRoute(loopback.Route{Dev: VIPDevice, Dst: pf, Protocol: OwnerProto})
		switch {
		case err == nil:
			done = append(done, "removed route "+pf.String()+" dev "+VIPDevice)
		case !errors.Is(err, loopback.ErrNotFound):
			return done, notes, err
		}
		st.dropRoute(pf)
	}
	for _, pf := range slices.Clone(st.Addrs) {
		if !chosen(pf) {
			continue
		}
		if ad, ok := ob.addrs[pf]; ok && removable(ad, slices.Contains(recorded, pf)) {
			err := a.NL.DelAddr(ad) // with its label: the kernel matches it
			switch {
			case err == nil:
				done = append(done, "removed address "+pf.String()+" dev "+VIPDevice)
			case !errors.Is(err, loopback.ErrNotFound):
				return done, notes, err
			}
		}
		st.dropAddr(pf)
	}
	if a.Tun != nil && len(vips) > 0 {
		ch, err := a.teardownModes(st, func(r tunnel.Rule) bool { return targets[r.Src] }, false)
		done = append(done, ch...)
		if err != nil {
			return done, notes, err
		}
	}
	st.Desired.VIPs = slices.DeleteFunc(st.Desired.VIPs, func(v netip.Addr) bool {
		return chosen(netip.PrefixFrom(v, v.BitLen()))
	})
	// The ARP settings stay while any VIP of the plan is left, owned or not:
	// a VIP bound by hand before lvsnode still needs them.
	if len(st.Desired.VIPs) > 0 || len(st.Addrs) > 0 || len(st.Routes) > 0 {
		notes = append(notes, fmt.Sprintf("VIP(s) %v remain: ARP sysctls kept", st.Desired.VIPs))
		if noState {
			return done, notes, nil // the marks still say what is left
		}
		return done, notes, st.Save(a.StateFile)
	}
	if noState || st.OriginalsUnknown {
		notes = append(notes, "the ARP sysctls' values from before lvsnode are unknown (the state file was lost): "+
			"those lvsnode set before then are left as they are (arp_ignore=1, arp_announce=2 are harmless without VIPs); set them by hand if the site wants others")
	}

	// No VIP left: the TUN and NAT items go first (a device lvsnode
	// created takes its sysctls with it), then the sysctls.
	if a.Tun != nil {
		ch, err := a.teardownModes(st, nil, true)
		done = append(done, ch...)
		if err != nil {
			return done, notes, err
		}
		if noState {
			notes = append(notes, a.tunLeftovers(ch)...)
		}
	}
	keys := make([]string, 0, len(st.Sysctls))
	for k := range st.Sysctls {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		rec := st.Sysctls[k]
		key := sysctl.Key(rec.Key)
		cur, err := a.Sys.Get(key)
		switch {
		case errors.Is(err, sysctl.ErrNotExist):
			notes = append(notes, fmt.Sprintf("%s: gone (interface removed)", k))
			continue
		case err != nil:
			return done, notes, err
		case cur != rec.Set:
			notes = append(notes, fmt.Sprintf("%s is %s, not the %s lvsnode set: changed by someone else since, left alone", k, cur, rec.Set))
			continue
		}
		if err := a.Sys.Set(key, rec.Original); err != nil {
			return done, notes, err
		}
		done = append(done, fmt.Sprintf("restored %s=%s", k, rec.Original))
	}
	if st.SysctlFile != "" && sysctl.CheckDropInPath(st.SysctlFile) == nil {
		if err := os.Remove(st.SysctlFile); err == nil {
			done = append(done, "removed "+st.SysctlFile)
		} else if !errors.Is(err, os.ErrNotExist) {
			return done, notes, err
		}
	}
	if err := os.Remove(a.StateFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return done, notes, err
	}
	return done, notes, nil
}

// tunLeftovers is the note of a teardown without a state file that removed
// lvsnode's MSS rules (TUN was in use): what the mode may have opened
// carries no mark, so it is named and left as it is.
func (a *Agent) tunLeftovers(done []string) []string {
	if !slices.ContainsFunc(done, func(s string) bool { return strings.HasPrefix(s, "removed rule") }) {
		return nil
	}
	var left []string
	for _, k := range []tunnel.Kind{tunnel.KindIPIP, tunnel.KindIP6Tnl, tunnel.KindSIT, tunnel.KindGRE, tunnel.KindIP6GRE} {
		if l, err := a.Tun.Link(tunnel.FallbackName(k)); err == nil && l.Up {
			left = append(left, l.Name+" up")
		}
	}
	for _, fam := range []int{4, 6} {
		ports, _ := a.Tun.FouPorts(fam)
		for _, f := range ports {
			if f.GUE {
				left = append(left, f.String())
			}
		}
	}
	note := "no state file: lvsnode's MSS rules show its TUN mode was in use; what it opened carries no mark and is left as it is"
	if len(left) > 0 {
		note += " (" + strings.Join(left, ", ") + ")"
	}
	return []string{note + "; the rp_filter and ARP values from before lvsnode are unknown too: lower, close or set them by hand if lvsnode opened them"}
}
