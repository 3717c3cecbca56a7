package agent

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// ErrNSOwned is returned (wrapped) when another state file owns lvsnode's
// items in this network namespace. The marks (address label, route and
// rule protocol 76) say "lvsnode's", not whose: two agents with different
// state files would each take the other's items for its own stale ones
// and delete them, over and over. Nothing has been changed when it is
// returned.
var ErrNSOwned = errors.New("another lvsnode state file owns this network namespace")

// DefaultNSClaimDir holds one claim file per network namespace.
const DefaultNSClaimDir = "/run/lvsnode"

// NSClaimPath is the claim file of the caller's network namespace in dir:
// agent.netns-<inode of /proc/self/ns/net>.owner. It holds the absolute
// path of the state file that owns the namespace.
func NSClaimPath(dir string) (string, error) {
	fi, err := os.Stat("/proc/self/ns/net")
	if err != nil {
		return "", fmt.Errorf("network namespace: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", errors.New("network namespace: no inode")
	}
	return filepath.Join(dir, fmt.Sprintf("agent.netns-%d.owner", st.Ino)), nil
}

// claimNS makes a.StateFile the owner of the namespace's claim file
// a.NSClaim ("" = no claim) and holds its lock until the returned func is
// called, so two agents never check and claim at once. The owner is
// another state file only while that file exists (teardown deletes it,
// which frees the namespace); otherwise the claim is taken over. The
// refusal wraps ErrNSOwned and names the other state file.
func (a *Agent) claimNS() (func(), error) {
	if a.NSClaim == "" {
		return func() {}, nil
	}
	ours, err := filepath.Abs(a.StateFile)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(a.NSClaim), 0o755); err != nil {
		return nil, fmt.Errorf("claim directory: %w", err)
	}
	f, err := os.OpenFile(a.NSClaim, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("claim %s: %w", a.NSClaim, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("claim %s: %w", a.NSClaim, err)
	}
	data := make([]byte, 4096)
	n, _ := f.ReadAt(data, 0)
	owner := strings.TrimSpace(string(data[:n]))
	if owner != "" && owner != ours {
		if _, err := os.Lstat(owner); !errors.Is(err, fs.ErrNotExist) {
			f.Close()
			return nil, fmt.Errorf("%w: state file %s keeps lvsnode's items here (claim %s): use --state-file %s, or tear that one down first", ErrNSOwned, owner, a.NSClaim, owner)
		}
	}
	if owner != ours {
		if err := f.Truncate(0); err == nil {
			_, err = f.WriteAt([]byte(ours+"\n"), 0)
		}
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("claim %s: %w", a.NSClaim, err)
		}
	}
	return func() { f.Close() }, nil
}

// CheckNS tells, changing nothing on the host, whether this agent's state
// file may own the network namespace (see claimNS); `agent run` asks it
// before it starts. The error wraps ErrNSOwned.
func (a *Agent) CheckNS() error {
	release, err := a.claimNS()
	if err != nil {
		return err
	}
	release()
	return nil
}
