package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"syscall"
)

// ErrHeld is returned (wrapped) by CheckHolder when a running `agent run`
// keeps this host's VIPs and a one-shot command would change them: the
// daemon would revert the change within milliseconds, after the command
// had reported success. Nothing has been changed when it is returned.
var ErrHeld = errors.New("a running lvsnode agent daemon holds this host")

// Holder describes the daemon holding a state file.
type Holder struct {
	PID        int          `json:"pid"`
	Config     string       `json:"config,omitempty"` // its --config file, if any
	Mode       Mode         `json:"mode"`
	VIPs       []netip.Addr `json:"vips"`
	Interfaces []string     `json:"interfaces,omitempty"`
	// What else shapes the host: a one-shot apply must ask for all of it
	// to be the daemon's own (idempotent) configuration.
	TunType    TunType  `json:"tun_type,omitempty"`
	TunPort    int      `json:"tun_port,omitempty"`
	Gateways   []string `json:"gateways,omitempty"`
	SysctlFile string   `json:"sysctl_file,omitempty"`
}

// HolderOf is the Holder for a daemon of this process running o.
func HolderOf(o Options, config string) Holder {
	h := Holder{PID: os.Getpid(), Config: config}
	h.keep(o)
	return h
}

// keep records in h what o asks of the host.
func (h *Holder) keep(o Options) {
	h.Mode, h.VIPs, h.Interfaces = o.Mode, o.VIPs, o.Interfaces
	h.TunType, h.TunPort, h.SysctlFile = o.TunType, o.TunPort, o.SysctlFile
	h.Gateways = nil
	for _, g := range o.Gateways {
		h.Gateways = append(h.Gateways, g.String())
	}
}

// differs names the first setting (its flag) in which o asks the host for
// something else than the daemon keeps, or "" when o is the daemon's own.
func (h Holder) differs(o Options) string {
	var w Holder
	w.keep(o)
	switch {
	case h.Mode != w.Mode:
		return "--mode"
	case !sameAddrs(h.VIPs, w.VIPs):
		return "--vip"
	case !sameStrings(h.Interfaces, w.Interfaces):
		return "--interface"
	case h.TunType != w.TunType:
		return "--tun-type"
	case h.TunPort != w.TunPort:
		return "--tun-port"
	case !sameStrings(h.Gateways, w.Gateways):
		return "--gateway"
	case h.SysctlFile != w.SysctlFile:
		return "--sysctl-file"
	}
	return ""
}

// Hold is a daemon's claim on a state file: an exclusive flock on
// "<state>.daemon" for the daemon's lifetime, the file holding the Holder
// as JSON. The kernel drops the lock when the process dies (kill -9
// included), so a stale file never blocks anyone.
type Hold struct {
	f *os.File
}

// holdPath is the claim file beside the state file.
func holdPath(stateFile string) string { return stateFile + ".daemon" }

// TakeHold claims stateFile for the daemon h describes. It fails, wrapping
// ErrHeld, when another daemon holds it.
func TakeHold(stateFile string, h Holder) (*Hold, error) {
	if err := os.MkdirAll(filepath.Dir(stateFile), 0o755); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	f, err := os.OpenFile(holdPath(stateFile), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("claim %s: %w", holdPath(stateFile), err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		other := readHolder(f)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrHeld, other.describe(stateFile))
		}
		return nil, fmt.Errorf("claim %s: %w", holdPath(stateFile), err)
	}
	hd := &Hold{f: f}
	return hd, hd.Update(h)
}

// Update rewrites the claim after a reload changed what the daemon keeps.
func (hd *Hold) Update(h Holder) error {
	data, err := json.Marshal(h)
	if err != nil {
		return err
	}
	if err := hd.f.Truncate(0); err != nil {
		return err
	}
	_, err = hd.f.WriteAt(append(data, '\n'), 0)
	return err
}

// Release gives the claim up (the file stays; its lock is what counts).
func (hd *Hold) Release() { hd.f.Close() }

// CheckHolder tells whether a one-shot command may change the host kept
// by stateFile: yes when no daemon holds it, or when o (the command's
// options) asks for exactly what the daemon keeps (an idempotent apply):
// the same mode, VIPs, interfaces, tunnel type and port, gateways and
// sysctl file. A
// nil o is a teardown, which is never compatible with a running daemon.
// The refusal wraps ErrHeld and names the daemon.
func CheckHolder(stateFile string, o *Options) error {
	f, err := os.Open(holdPath(stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check for a running daemon: %w", err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err == nil {
		return nil // no daemon: the claim is a dead one's
	} else if !errors.Is(err, syscall.EWOULDBLOCK) {
		return fmt.Errorf("check for a running daemon: %w", err)
	}
	h := readHolder(f)
	diff := ""
	if o != nil {
		if diff = h.differs(*o); diff == "" && h.PID != 0 {
			return nil
		}
	}
	what := "teardown"
	if o != nil {
		what = fmt.Sprintf("a different configuration (%s differs from the daemon's; VIPs %v)", diff, o.VIPs)
	}
	return fmt.Errorf("%w: %s; it would undo %s at once. Change its config and send SIGHUP (systemctl reload lvsnode-agent), or stop it first", ErrHeld, h.describe(stateFile), what)
}

func readHolder(f *os.File) Holder {
	var h Holder
	data := make([]byte, 64<<10)
	n, _ := f.ReadAt(data, 0)
	_ = json.Unmarshal(data[:n], &h)
	return h
}

func (h Holder) describe(stateFile string) string {
	cfg := "no config file"
	if h.Config != "" {
		cfg = "config " + h.Config
	}
	return fmt.Sprintf("`lvsnode agent run` (pid %d, %s, VIPs %v) keeps %s", h.PID, cfg, h.VIPs, stateFile)
}

func sameAddrs(a, b []netip.Addr) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.SortFunc(a, netip.Addr.Compare)
	slices.SortFunc(b, netip.Addr.Compare)
	return slices.Equal(a, b)
}

func sameStrings(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
