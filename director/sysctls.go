package director

import (
	"fmt"

	"github.com/lvsnode/lvsnode/sysctl"
)

// ipvsSysctls are the director's IPVS sysctls the daemon checks and sets
// (unless sysctls.manage is false), each with its reason.
var ipvsSysctls = []struct {
	key    sysctl.Key
	value  string
	reason string
}{
	{sysctl.Key{"net", "ipv4", "vs", "expire_nodest_conn"}, "1",
		"a real server removed after a drain or a failure must not keep receiving the packets of its old connections: with 0 IPVS silently drops them until they time out; 1 expires the entry at the next packet so the client reconnects to a live real server"},
	{sysctl.Key{"net", "ipv4", "vs", "expire_quiescent_template"}, "1",
		"a persistent service keeps sending a client to its real server through the persistence template even at weight 0: a drained or failed real server would keep getting new connections for the persistence timeout; 1 expires the template when its real server is quiescent"},
}

// ensureSysctls sets the IPVS sysctls that differ, saying why.
func (d *Daemon) ensureSysctls() error {
	if d.o.Sysctl == nil || !d.cfg.ManageSysctls() {
		return nil
	}
	for _, s := range ipvsSysctls {
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
