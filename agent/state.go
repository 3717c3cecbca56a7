package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/lvsnode/lvsnode/sysctl"
)

// State is what the agent has done to this host, kept so that teardown
// undoes exactly that and nothing else. It is written before each change is
// made, so a crash in between leaves a record of at most a little more than
// was done (teardown tolerates items already gone), never less.
type State struct {
	Version int `json:"version"`
	// fresh: there was no state file (loadOrNew made this one), so what
	// carries lvsnode's marks is re-adopted (see adopt).
	fresh bool
	// Desired is the last applied configuration, so that `status` and
	// `teardown` work without repeating the flags.
	Desired StateDesired `json:"desired"`
	// Sysctls maps each parameter the agent changed to the value it had
	// before the agent first changed it, and the value the agent set.
	Sysctls map[string]SysctlRecord `json:"sysctls,omitempty"`
	// Addrs and Routes are the VIP prefixes the agent itself added on lo.
	Addrs  []netip.Prefix `json:"addresses,omitempty"`
	Routes []netip.Prefix `json:"routes,omitempty"`
	// SysctlFile is the drop-in the agent wrote, if any.
	SysctlFile string `json:"sysctl_file,omitempty"`
	// Tun and NAT are what the TUN and NAT modes changed beyond what
	// carries lvsnode's marks (rules and routes of protocol 76 are found
	// by their mark).
	Tun *TunState `json:"tun,omitempty"`
	NAT *NATState `json:"nat,omitempty"`
	// OriginalsUnknown says the state was rebuilt from lvsnode's marks
	// after the file was lost: the sysctls' values from before lvsnode are
	// gone with it, so teardown cannot restore them.
	OriginalsUnknown bool `json:"originals_unknown,omitempty"`
}

// StateDesired is the part of Options the state remembers.
type StateDesired struct {
	Mode       Mode         `json:"mode"`
	VIPs       []netip.Addr `json:"vips"`
	Interfaces []string     `json:"interfaces,omitempty"`
	TunType    TunType      `json:"tun_type,omitempty"`
	TunPort    int          `json:"tun_port,omitempty"`
	Gateways   []string     `json:"gateways,omitempty"`
}

// SysctlRecord is one changed parameter.
type SysctlRecord struct {
	Key      []string `json:"key"`
	Original string   `json:"original"`
	Set      string   `json:"set"`
}

const stateVersion = 1

// ErrNoState is returned (wrapped) by LoadState when there is no state file:
// the agent has changed nothing on this host.
var ErrNoState = errors.New("no state file: lvsnode has not applied anything here")

// LoadState reads the state file at path.
// A path that is not a regular file (a FIFO, a device, a directory) is
// refused at once rather than read: reading a FIFO would block forever.
// So is a symbolic link: the state is saved by renaming a new file over
// the path, which would replace the link with a regular file and leave
// its target stale.
func LoadState(path string) (*State, error) {
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		target, _ := filepath.EvalSymlinks(path)
		return nil, fmt.Errorf("state file %s is a symbolic link (to %q): lvsnode replaces its state file atomically, which would replace the link; give the real path (--state-file %s)", path, target, target)
	}
	data, err := readRegular(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", path, ErrNoState)
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("state file %s is corrupt (%v): move it aside and re-run apply", path, err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("state file %s has version %d, this lvsnode knows %d", path, s.Version, stateVersion)
	}
	if s.Sysctls == nil {
		s.Sysctls = map[string]SysctlRecord{}
	}
	return &s, nil
}

// loadOrNew is LoadState that starts an empty state when there is none.
func loadOrNew(path string) (*State, error) {
	s, err := LoadState(path)
	if errors.Is(err, ErrNoState) {
		return &State{Version: stateVersion, Sysctls: map[string]SysctlRecord{}, fresh: true}, nil
	}
	return s, err
}

// Save writes the state atomically (readers see the old or the new file).
func (s *State) Save(path string) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := sysctl.WriteFileAtomic(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write state %s: %w", path, err)
	}
	return nil
}

func (s *State) ownsAddr(p netip.Prefix) bool  { return slices.Contains(s.Addrs, p) }
func (s *State) ownsRoute(p netip.Prefix) bool { return slices.Contains(s.Routes, p) }

func (s *State) dropAddr(p netip.Prefix) {
	s.Addrs = slices.DeleteFunc(s.Addrs, func(q netip.Prefix) bool { return q == p })
}

func (s *State) dropRoute(p netip.Prefix) {
	s.Routes = slices.DeleteFunc(s.Routes, func(q netip.Prefix) bool { return q == p })
}

// readRegular reads path if it is a regular file (or a symlink to one). It
// opens without blocking and checks the opened file, so a FIFO swapped in
// between a check and the read cannot hang the caller.
func readRegular(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (%v): refusing it; point --state-file at a regular file", path, fi.Mode().Type())
	}
	return io.ReadAll(f)
}

// removeStaleTemps deletes the temporary files a writer killed between
// creating and renaming them left beside path (".<name>.<digits>", as
// sysctl.WriteFileAtomic names them). Only call it with the state lock
// held: every writer of path holds it, so any such file is an orphan.
func removeStaleTemps(path string) {
	dir, base := filepath.Split(path)
	matches, _ := filepath.Glob(filepath.Join(dir, "."+globEscape(base)+".*"))
	for _, m := range matches {
		suffix := strings.TrimPrefix(filepath.Base(m), "."+base+".")
		if suffix != "" && strings.Trim(suffix, "0123456789") == "" {
			_ = os.Remove(m)
		}
	}
}

func globEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "*", `\*`, "?", `\?`, "[", `\[`)
	return r.Replace(s)
}

// lockState takes an exclusive flock on a lock file beside the state file
// (the state file itself is replaced by rename, so it cannot carry the
// lock). The returned function releases it.
func lockState(path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	f, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock state: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock state: %w", err)
	}
	removeStaleTemps(path)
	return func() { f.Close() }, nil // closing releases the lock
}
