package controller

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/lvsnode/lvsnode/ipvs"
)

// Connection-sync daemons (ipvsadm --start-daemon, --stop-daemon, -L
// --daemon) and the connection table (ipvsadm -Lnc).

// DaemonFlags are start-daemon's options as typed (ipvsadm's names).
type DaemonFlags struct {
	Role, Interface, SyncID, MaxLen, Group, Port, TTL string
}

// ErrDaemonDiffers: the role already runs with other settings; nothing
// was changed.
var ErrDaemonDiffers = errors.New("runs with other settings")

// ParseDaemon validates start-daemon's options with ipvsadm's ranges
// (syncid 0-255, sync-maxlen 1-65507, port 1-65535, ttl 1-255, a multicast
// group). Errors wrap ErrInput and name the flag.
func ParseDaemon(f DaemonFlags) (ipvs.Daemon, error) {
	var d ipvs.Daemon
	st, ok := ipvs.ParseRole(f.Role)
	if !ok {
		return d, fmt.Errorf("%w: role %q: want master or backup", ErrInput, f.Role)
	}
	d.State = st
	if f.Interface == "" {
		return d, fmt.Errorf("%w: --mcast-interface is required", ErrInput)
	}
	if len(f.Interface) > 15 || strings.ContainsAny(f.Interface, "/ \t") {
		return d, fmt.Errorf("%w: --mcast-interface %q: not an interface name", ErrInput, f.Interface)
	}
	d.Interface = f.Interface
	num := func(name, s string, lo, hi uint64) (uint64, error) {
		if s == "" {
			return 0, nil
		}
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil || n < lo || n > hi {
			return 0, fmt.Errorf("%w: --%s %q: want %d-%d", ErrInput, name, s, lo, hi)
		}
		return n, nil
	}
	id, err := num("syncid", f.SyncID, 0, 255)
	if err != nil {
		return d, err
	}
	ml, err := num("sync-maxlen", f.MaxLen, 1, 65535-28)
	if err != nil {
		return d, err
	}
	port, err := num("mcast-port", f.Port, 1, 65535)
	if err != nil {
		return d, err
	}
	ttl, err := num("mcast-ttl", f.TTL, 1, 255)
	if err != nil {
		return d, err
	}
	d.SyncID, d.MaxLen, d.Port, d.TTL = uint32(id), uint16(ml), uint16(port), uint8(ttl)
	if f.Group != "" {
		g, err := netip.ParseAddr(f.Group)
		// ::ffff:224.0.0.81 is multicast to Go (it unmaps) but an IPv6
		// address to the kernel, which refuses it (EINVAL): refused here.
		if err != nil || !g.IsMulticast() || g.Is4In6() || g.Zone() != "" {
			return d, fmt.Errorf("%w: --mcast-group %q: not a multicast address (224.0.0.0/4 or ff00::/8)", ErrInput, f.Group)
		}
		d.Group = g
	}
	return d, nil
}

// EnsureDaemon starts d unless its role already runs: with the same
// settings that is a no-op (reported true, nil); with others it fails
// with ErrDaemonDiffers saying what differs, and changes nothing.
func EnsureDaemon(cl ipvs.SyncDaemons, d ipvs.Daemon) (started bool, err error) {
	ds, err := cl.Daemons()
	if err != nil {
		return false, err
	}
	for _, r := range ds {
		if r.State != d.State {
			continue
		}
		if diff := r.Differences(d); len(diff) > 0 {
			return false, fmt.Errorf("%s sync daemon %w: %s (stop it first: lvsnode controller stop-daemon %s)",
				ipvs.RoleName(d.State), ErrDaemonDiffers, strings.Join(diff, "; "), ipvs.RoleName(d.State))
		}
		return false, nil
	}
	return true, cl.StartDaemon(d)
}

// StartDaemon is start-daemon: EnsureDaemon, saying what it did.
func (c *Controller) StartDaemon(d ipvs.Daemon) error {
	started, err := EnsureDaemon(c.IPVS, d)
	if err != nil {
		return err
	}
	if !started {
		c.say("unchanged: %s", c.daemonLine(d.State, d))
		return nil
	}
	c.say("started: %s", c.daemonLine(d.State, d))
	return nil
}

// daemonLine is the kernel's line for the role (with its filled-in
// settings), or d's own when it cannot be read.
func (c *Controller) daemonLine(st uint32, d ipvs.Daemon) string {
	if ds, err := c.IPVS.Daemons(); err == nil {
		for _, r := range ds {
			if r.State == st {
				return r.String()
			}
		}
	}
	return d.String()
}

// StopDaemon is stop-daemon; a role that does not run is a no-op.
func (c *Controller) StopDaemon(state uint32) error {
	err := c.IPVS.StopDaemon(state)
	if errors.Is(err, ipvs.ErrNotFound) {
		c.say("unchanged: no %s sync daemon runs", ipvs.RoleName(state))
		return nil
	}
	if err != nil {
		return err
	}
	c.say("stopped: %s sync daemon", ipvs.RoleName(state))
	return nil
}

// JSONDaemon is one daemon in list --daemon --json (and the director's
// status): option names as start-daemon's flags.
type JSONDaemon struct {
	Role      string `json:"role"`
	Interface string `json:"mcast_interface"`
	SyncID    uint32 `json:"syncid"`
	MaxLen    uint16 `json:"sync_maxlen"`
	Group     string `json:"mcast_group"`
	Port      uint16 `json:"mcast_port"`
	TTL       uint8  `json:"mcast_ttl"`
}

// DaemonJSON converts a daemon for JSON output.
func DaemonJSON(d ipvs.Daemon) JSONDaemon {
	g := ""
	if d.Group.IsValid() {
		g = d.Group.String()
	}
	return JSONDaemon{Role: ipvs.RoleName(d.State), Interface: d.Interface, SyncID: d.SyncID, MaxLen: d.MaxLen, Group: g, Port: d.Port, TTL: d.TTL}
}

// ListDaemons prints ipvsadm -L --daemon's lines (master first), or with
// asJSON {"daemons": [...]}.
func ListDaemons(w io.Writer, ds []ipvs.Daemon, asJSON bool) error {
	if asJSON {
		out := struct {
			Daemons []JSONDaemon `json:"daemons"`
		}{Daemons: []JSONDaemon{}}
		for _, d := range ds {
			out.Daemons = append(out.Daemons, DaemonJSON(d))
		}
		return writeJSON(w, out)
	}
	for _, d := range ds {
		if _, err := fmt.Fprintln(w, d.String()); err != nil {
			return err
		}
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// ListConnections prints the table as ipvsadm -Lnc does, or with asJSON
// {"connections": [...]} (expires in seconds).
func ListConnections(w io.Writer, cs []ipvs.Connection, asJSON bool) error {
	if asJSON {
		type jc struct {
			Protocol string `json:"protocol"`
			Expires  uint32 `json:"expires"`
			State    string `json:"state"`
			Source   string `json:"source"`
			Virtual  string `json:"virtual"`
			Dest     string `json:"destination"`
			PEName   string `json:"pe_name,omitempty"`
			PEData   string `json:"pe_data,omitempty"`
		}
		out := struct {
			Connections []jc `json:"connections"`
		}{Connections: []jc{}}
		for _, c := range cs {
			out.Connections = append(out.Connections, jc{c.Protocol, c.Expires, c.State, c.Client.String(), c.Virtual.String(), c.Dest.String(), c.PEName, c.PEData})
		}
		return writeJSON(w, out)
	}
	var b strings.Builder
	b.WriteString("IPVS connection entries\n")
	fmt.Fprintf(&b, "pro expire %-11s %-18s %-18s %s\n", "state", "source", "virtual", "destination")
	for _, c := range cs {
		exp := fmt.Sprintf("%02d:%02d", c.Expires/60, c.Expires%60)
		fmt.Fprintf(&b, "%-3s %-6s %-11s %-18s %-18s %s\n", c.Protocol, exp, c.State, c.Client, c.Virtual, c.Dest)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// checkMixedSync refuses a new real server of the other address family
// than its service while a sync daemon runs, naming the daemon: the
// kernel answers EINVAL (ipvs.ErrMixedFamilySync), and add-node would
// have created the service before it asked.
func (c *Controller) checkMixedSync(svc ipvs.ServiceKey, d ipvs.DestKey) error {
	if d.Addr.Is6() == svc.Is6() {
		return nil
	}
	ds, err := c.IPVS.Daemons()
	if err != nil {
		return err
	}
	if len(ds) == 0 {
		return nil
	}
	var names []string
	for _, r := range ds {
		names = append(names, r.String())
	}
	return fmt.Errorf("add real server %s to %s: %w: running: %s (stop it first: lvsnode controller stop-daemon %s)",
		d, svc, ipvs.ErrMixedFamilySync, strings.Join(names, "; "), ipvs.RoleName(ds[0].State))
}
