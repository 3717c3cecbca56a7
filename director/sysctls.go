package director

import (
	"fmt"

	"github.com/lvsnode/lvsnode/sysctl"
)

// directorSysctl is one sysctl the daemon checks and sets (unless
// sysctls.manage is false), with its reason.
type directorSysctl struct {
	key    sysctl.Key
	value  string
	reason string
}

// ipvsSysctls are set at every start and reload.
var ipvsSysctls = []directorSysctl{
	{sysctl.Key{"net", "ipv4", "vs", "expire_nodest_conn"}, "1",
		"a real server removed after a drain or a failure must not keep receiving the packets of its old connections: with 0 IPVS silently drops them until they time out; 1 expires the entry at the next packet so the client reconnects to a live real server"},
	{sysctl.Key{"net", "ipv4", "vs", "expire_quiescent_template"}, "1",
		"a persistent service keeps sending a client to its real server through the persistence template even at weight 0: a drained or failed real server would keep getting new connections for the persistence timeout; 1 expires the template when its real server is quiescent"},
}

// acceptLocal is set while an IPv4 data-path check is configured. It is
// the "all" key because the kernel ORs all with the interface's
// (IN_DEV_ACCEPT_LOCAL) and the interface the answers come in on is the
// route's choice, not the config's. IPv6 has no such check on input: IPv6
// data-path probes need nothing (lab/scenarios/pair-basic.sh).
var acceptLocal = directorSysctl{sysctl.Key{"net", "ipv4", "conf", "all", "accept_local"}, "1",
	"a data-path probe dials the VIP from the director and the real server answers from the VIP, which is also a local address of the director: with 0 the kernel drops that answer as a martian (source is local) and every data-path check fails; 1 accepts it"}

// ensureSysctls sets the sysctls that differ, saying why: the IPVS ones,
// accept_local when m has an IPv4 data-path check, and sloppy_tcp/sctp
// under active_active. It never resets a
// value (one the site set stays).
func (d *Daemon) ensureSysctls(m *model) error {
	if d.o.Sysctl == nil || !d.cfg.ManageSysctls() {
		return nil
	}
	want := ipvsSysctls
	if m != nil && m.dataPath4() {
		want = append(append([]directorSysctl(nil), want...), acceptLocal)
	}
	if d.cfg.ActiveActive {
		want = append(append([]directorSysctl(nil), want...), activeActiveSysctls...)
	}
	for _, s := range want {
		v, err := d.o.Sysctl.Get(s.key)
		if err != nil {
			return fmt.Errorf("read %s: %w (set sysctls.manage: false to leave it to the site)", s.key, err)
		}
		if v == s.value {
			continue
		}
		if err := d.o.Sysctl.Set(s.key, s.value); err != nil {
			return fmt.Errorf("set %s=%s: %w", s.key, s.value, err)
		}
		d.log.Info("sysctl set", "key", s.key.String(), "from", v, "to", s.value, "why", s.reason)
	}
	return nil
}

// dataPath4 reports whether a real server has an IPv4 data-path check.
func (m *model) dataPath4() bool {
	for _, n := range m.nodes {
		if n.path != "" && n.check.Target.Is4() {
			return true
		}
	}
	return false
}
