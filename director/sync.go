package director

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/lvsnode/lvsnode/controller"
	"github.com/lvsnode/lvsnode/ipvs"
)

// Connection sync (the sync: block): the daemon starts the kernel's sync
// daemons, by default both roles on every director of a pair (each
// director's master sends its connections, its backup receives the
// other's, so whichever holds the VIP the other has the table), and keeps
// them running: every resync pass lists them and starts a role that is
// not running (a repair: someone ran stop-daemon, or ipvsadm --stop-daemon)
// or runs with other settings than the file's (stopped, then started with
// the file's: after a reload that changed them). With a sync: block the
// daemon owns its namespace's sync daemons of the configured roles (the
// kernel has one per role per namespace); without one it never touches
// them. It leaves them running when it stops: the kernel goes on syncing
// while the daemon is restarted or upgraded.

// SyncConfig is the sync: block (examples/director.yaml). Values are text,
// validated as start-daemon's flags (controller.ParseDaemon).
type SyncConfig struct {
	Interface string   `yaml:"mcast_interface"` // required: enables sync
	SyncID    string   `yaml:"syncid"`
	MaxLen    string   `yaml:"sync_maxlen"`
	Group     string   `yaml:"mcast_group"`
	Port      string   `yaml:"mcast_port"`
	TTL       string   `yaml:"mcast_ttl"`
	Roles     []string `yaml:"roles"` // default: master and backup

	lines   lines
	present bool
}

var syncKeys = []string{"mcast_interface", "syncid", "sync_maxlen", "mcast_group", "mcast_port", "mcast_ttl", "roles"}

// UnmarshalYAML keeps each key's line for messages and refuses unknown keys.
func (s *SyncConfig) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: sync: want a mapping", n.Line)
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !slices.Contains(syncKeys, k.Value) {
			return fmt.Errorf("line %d: sync: unknown key %q (known: %s)", k.Line, k.Value, strings.Join(syncKeys, ", "))
		}
	}
	type plain SyncConfig
	if err := n.Decode((*plain)(s)); err != nil {
		return err
	}
	s.lines, s.present = keyLines(n), true
	return nil
}

// Enabled reports whether the block asks for sync daemons.
func (s SyncConfig) Enabled() bool { return s.present }

// daemons validates the block into the daemons to keep running.
func (s SyncConfig) daemons() ([]ipvs.Daemon, error) {
	roles := s.Roles
	if len(roles) == 0 {
		roles = []string{"master", "backup"}
	}
	var out []ipvs.Daemon
	seen := map[uint32]bool{}
	for _, r := range roles {
		st, ok := ipvs.ParseRole(r)
		if !ok {
			return nil, fmt.Errorf("roles: %q: want master or backup", r)
		}
		if seen[st] { // on the parsed role: one series per role in /metrics
			return nil, fmt.Errorf("roles: %q twice", r)
		}
		seen[st] = true
		d, err := controller.ParseDaemon(controller.DaemonFlags{Role: r, Interface: s.Interface, SyncID: s.SyncID,
			MaxLen: s.MaxLen, Group: s.Group, Port: s.Port, TTL: s.TTL})
		if err != nil {
			msg := strings.TrimPrefix(err.Error(), controller.ErrInput.Error()+": ")
			// start-daemon's flag names, as this block's keys.
			msg = strings.NewReplacer("--mcast-interface", "mcast_interface", "--sync-maxlen", "sync_maxlen",
				"--mcast-group", "mcast_group", "--mcast-port", "mcast_port", "--mcast-ttl", "mcast_ttl", "--syncid", "syncid").Replace(msg)
			return nil, errors.New(msg)
		}
		out = append(out, d)
	}
	return out, nil
}

// validateSync checks the sync: block; errors name path:line.
func (c *Config) validateSync() error {
	if !c.Sync.Enabled() {
		return nil
	}
	if _, err := c.Sync.daemons(); err != nil {
		line := c.Sync.lines[""]
		for _, k := range syncKeys {
			if strings.HasPrefix(err.Error(), k) || strings.Contains(err.Error(), " "+k+" ") {
				if l := c.Sync.lines[k]; l > 0 {
					line = l
				}
				break
			}
		}
		return fmt.Errorf("%w: %s:%d: sync.%s", ErrInvalid, c.Path, line, err)
	}
	return nil
}

// SyncStatus is the sync state in Status (nil when sync is not configured).
type SyncStatus struct {
	Roles []SyncRole `json:"roles"`
	// CheckedAt: the last pass that listed the kernel's daemons.
	CheckedAt time.Time `json:"checked_at"`
}

// SyncRole is one configured role.
type SyncRole struct {
	Role    string `json:"role"`
	Running bool   `json:"running"` // running with the configured settings at the last pass
	// Daemon is the kernel's daemon of that role as last listed (nil: none).
	Daemon *controller.JSONDaemon `json:"daemon,omitempty"`
	// Starts counts the daemon's starts of this role: 1 after the first,
	// more after repairs (it was found stopped, or with other settings).
	Starts uint64 `json:"starts"`
	Error  string `json:"error,omitempty"` // why the last pass could not start it
	// Link is the daemon's interface at the last pass (nil: it does not exist).
	Link *ipvs.Link `json:"link,omitempty"`
}

// syncState is the daemon's record of its passes, under its own lock (Status
// reads it with d.mu held).
type syncState struct {
	mu     sync.Mutex
	status *SyncStatus
	// index: the interface index each role's daemon was started on (or
	// found running on); under d.ipvsMu.
	index map[uint32]int
}

func (s *syncState) get() *SyncStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.status == nil {
		return nil
	}
	c := *s.status
	c.Roles = slices.Clone(c.Roles)
	return &c
}

// note is the status line's part for sync: each configured role that did
// not run with the file's settings at the last pass, and why ("" when all
// run, or sync is not configured).
func (s *syncState) note() string {
	st := s.get()
	if st == nil {
		return ""
	}
	var b strings.Builder
	for _, r := range st.Roles {
		if r.Running {
			if r.Link != nil && !r.Link.Up {
				fmt.Fprintf(&b, "; sync %s: its interface is down", r.Role)
			}
			continue
		}
		fmt.Fprintf(&b, "; sync %s NOT RUNNING", r.Role)
		if r.Error != "" {
			b.WriteString(": " + r.Error)
		} else if r.Link != nil && !r.Link.Up {
			b.WriteString(": its interface is down")
		}
	}
	return b.String()
}

// syncPass lists the kernel's sync daemons and starts (or restarts with
// the file's settings) every configured role that needs it. Errors are
// logged and recorded per role; the next pass tries again.
func (d *Daemon) syncPass() {
	cfg := d.config().Sync
	if !cfg.Enabled() {
		d.syncs.mu.Lock()
		d.syncs.status = nil
		d.syncs.mu.Unlock()
		return
	}
	want, err := cfg.daemons() // validated at load: cannot fail here
	if err != nil {
		d.log.Error("sync", "err", err)
		return
	}
	d.ipvsMu.Lock()
	roles, listed := d.syncRoles(want)
	d.ipvsMu.Unlock()

	d.syncs.mu.Lock()
	defer d.syncs.mu.Unlock()
	prev := map[string]uint64{}
	if d.syncs.status != nil {
		for _, r := range d.syncs.status.Roles {
			prev[r.Role] = r.Starts
		}
	}
	for i := range roles {
		roles[i].Starts += prev[roles[i].Role]
	}
	st := &SyncStatus{Roles: roles}
	if listed {
		st.CheckedAt = d.clock.Now()
	} else if d.syncs.status != nil {
		st.CheckedAt = d.syncs.status.CheckedAt
	}
	d.syncs.status = st
}

// checkSyncLink refuses a config whose sync.mcast_interface names no
// link (a typo would otherwise stop nothing yet start nothing: the kernel
// answers ENODEV). Called at start and on reload, before any change.
func (d *Daemon) checkSyncLink(cfg Config) error {
	if !cfg.Sync.Enabled() {
		return nil
	}
	if _, err := d.o.IPVS.SyncLink(cfg.Sync.Interface); err != nil {
		line := cfg.Sync.lines["mcast_interface"]
		if line == 0 {
			line = cfg.Sync.lines[""]
		}
		return fmt.Errorf("%w: %s:%d: sync.mcast_interface: %v; nothing changed", ErrInvalid, cfg.Path, line, err)
	}
	return nil
}

// syncRoles does syncPass's kernel work (d.ipvsMu held); Starts in its
// result counts this pass's starts only. A role that runs with other
// settings is replaced start-first: the new daemon is started, and the old
// one stopped only when the kernel answers EEXIST (it checks the
// interface and the group before that: a change it would refuse leaves
// the working daemon running). A daemon whose interface was re-created
// (another index than the one it was started on: its sockets are bound
// to the old one and it syncs nothing) is restarted.
func (d *Daemon) syncRoles(want []ipvs.Daemon) ([]SyncRole, bool) {
	out := make([]SyncRole, len(want))
	for i, w := range want {
		out[i].Role = ipvs.RoleName(w.State)
	}
	running, err := d.o.IPVS.Daemons()
	if err != nil {
		for i := range out {
			out[i].Error = err.Error()
		}
		d.log.Error("sync: list the sync daemons", "err", err)
		return out, false
	}
	if d.syncs.index == nil {
		d.syncs.index = map[uint32]int{}
	}
	for i, w := range want {
		role := out[i].Role
		link, lerr := d.o.IPVS.SyncLink(w.Interface)
		if lerr == nil {
			l := link
			out[i].Link = &l
		}
		var have *ipvs.Daemon
		for j := range running {
			if running[j].State == w.State {
				have = &running[j]
			}
		}
		var diff []string
		if have != nil {
			cmp := w
			if cmp.MaxLen == 0 && lerr == nil {
				// no sync_maxlen: the kernel's default for the link (a
				// removed sync_maxlen restarts the daemon to it)
				cmp.MaxLen = ipvs.SyncMaxLen(w, link.MTU)
			}
			diff = have.Differences(cmp)
			if idx, ok := d.syncs.index[w.State]; !ok || have.Interface != w.Interface {
				if lerr == nil && len(diff) == 0 {
					d.syncs.index[w.State] = link.Index // found running: adopted on the index it has now
				}
			} else if lerr == nil && idx != link.Index {
				diff = append(diff, fmt.Sprintf("mcast-interface: %s re-created (index %d, started on %d)", w.Interface, link.Index, idx))
			}
		}
		if lerr != nil {
			// No link: the kernel would refuse a start (ENODEV); a daemon
			// that runs is left as it is (it syncs nothing).
			out[i].Error = lerr.Error()
			d.log.Error("sync: the "+role+" sync daemon's interface is gone", "err", lerr)
			continue
		}
		if have == nil || len(diff) > 0 {
			if have != nil {
				d.log.Warn("sync: restarting the "+role+" sync daemon with the configured settings", "differs", strings.Join(diff, "; "))
			}
			if err := d.replaceDaemon(w, have != nil); err != nil {
				out[i].Error = err.Error()
				d.log.Error("sync", "err", err)
				continue
			}
			d.syncs.index[w.State] = link.Index
			out[i].Starts++
			d.log.Info("sync: started", "daemon", w.String())
		}
	}
	// What runs now, for the status (one more list: cheap, and it shows
	// the kernel's filled-in settings); a role runs when this list has it
	// with the configured settings (a hand stop between the first list and
	// a start shows here).
	now, err := d.o.IPVS.Daemons()
	if err != nil {
		return out, true
	}
	for i, w := range want {
		for _, r := range now {
			if r.State == w.State {
				j := controller.DaemonJSON(r)
				out[i].Daemon = &j
				out[i].Running = len(r.Differences(w)) == 0 && out[i].Link != nil
			}
		}
	}
	return out, true
}

// replaceDaemon starts w; when one of its role runs (runs), it stops it
// only after the kernel answered EEXIST, then starts w again.
func (d *Daemon) replaceDaemon(w ipvs.Daemon, runs bool) error {
	err := d.o.IPVS.StartDaemon(w)
	if err == nil || !runs || !errors.Is(err, ipvs.ErrExists) {
		return err
	}
	if err := d.o.IPVS.StopDaemon(w.State); err != nil && !errors.Is(err, ipvs.ErrNotFound) {
		return err
	}
	return d.o.IPVS.StartDaemon(w)
}
