package ipvs

import (
	"fmt"
)

// The Fake's sync daemons, with the kernel's rules (see daemon.go; each is
// shown against Linux 6.1 by lab/scenarios/ha-daemon.sh).

// SetLink declares a network interface and its MTU to the fake kernel
// (sync daemons need their interface to exist); mtu 0 removes it. A
// daemon already running on a removed interface goes on running, as on
// the kernel.
func (f *Fake) SetLink(name string, mtu int) {
	if f.links == nil {
		f.links = map[string]int{}
	}
	if mtu == 0 {
		delete(f.links, name)
		delete(f.linkIdx, name)
		return
	}
	f.links[name] = mtu
	f.linkIndex(name)
}

// linkIndex is the index of an existing link, a new one for a link seen
// for the first time (a deleted and re-created link gets a new index, as
// on the kernel).
func (f *Fake) linkIndex(name string) int {
	if f.linkIdx == nil {
		f.linkIdx = map[string]int{}
	}
	i, ok := f.linkIdx[name]
	if !ok {
		f.nextLink++
		i = f.nextLink
		f.linkIdx[name] = i
	}
	return i
}

func (f *Fake) SyncLink(name string) (Link, error) {
	if _, ok := f.links[name]; !ok {
		return Link{}, fmt.Errorf("interface %s: %w", name, ErrNoInterface)
	}
	return Link{Index: f.linkIndex(name), Up: true, MTU: f.links[name]}, nil
}

func (f *Fake) Daemons() ([]Daemon, error) {
	out := []Daemon{}
	for _, st := range []uint32{DaemonMaster, DaemonBackup} {
		if d, ok := f.daemons[st]; ok {
			out = append(out, d)
		}
	}
	return out, nil
}

func (f *Fake) StartDaemon(d Daemon) error {
	what := startWhat(d)
	if d.State != DaemonMaster && d.State != DaemonBackup {
		return fmt.Errorf("%s: %w", what, ErrInvalidDaemon)
	}
	if d.Group.IsValid() && (!d.Group.IsMulticast() || d.Group.Is4In6()) { // the kernel: ::ffff:224.0.0.81 is IPv6, not ff00::/8
		return fmt.Errorf("%s: %w", what, ErrInvalidDaemon)
	}
	if f.mixedDests() {
		return fmt.Errorf("%s: %w", what, ErrMixedFamilySync)
	}
	mtu, ok := f.links[d.Interface]
	if !ok {
		return fmt.Errorf("%s: %w", what, ErrNoInterface)
	}
	if _, runs := f.daemons[d.State]; runs {
		return fmt.Errorf("%s: a daemon of that role already runs: %w", what, ErrExists)
	}
	if err := f.change("start-daemon", label(d.String())); err != nil {
		return err
	}
	if !d.Group.IsValid() {
		d.Group = DefaultSyncGroup
	}
	if d.Port == 0 {
		d.Port = DefaultSyncPort
	}
	if d.TTL == 0 {
		d.TTL = DefaultSyncTTL
	}
	d.MaxLen = SyncMaxLen(d, mtu)
	if f.daemons == nil {
		f.daemons = map[uint32]Daemon{}
	}
	f.daemons[d.State] = d
	return nil
}

func (f *Fake) StopDaemon(state uint32) error {
	what := "stop " + RoleName(state) + " sync daemon"
	if _, runs := f.daemons[state]; !runs {
		return fmt.Errorf("%s: no daemon of that role runs: %w", what, ErrNotFound)
	}
	if err := f.change("stop-daemon", label(RoleName(state))); err != nil {
		return err
	}
	delete(f.daemons, state)
	return nil
}

// mixedDests reports whether a service has a real server of the other
// address family (the kernel's mixed_address_family_dests > 0).
func (f *Fake) mixedDests() bool {
	for k, s := range f.svcs {
		for dk := range s.dests {
			if dk.Addr.Is6() != k.Is6() {
				return true
			}
		}
	}
	return false
}

// syncMixedCheck is the kernel's NEW_DEST/SET_DEST check: a real server of
// the other family than its service is refused while a daemon runs.
func (f *Fake) syncMixedCheck(what string, k ServiceKey, d DestKey) error {
	if d.Addr.Is6() != k.Is6() && len(f.daemons) > 0 {
		return fmt.Errorf("%s: %w", what, ErrMixedFamilySync)
	}
	return nil
}
