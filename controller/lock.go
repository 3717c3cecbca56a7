package controller

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// LockDir holds the lock files (see LockPath).
const LockDir = "/run/lvsnode"

// LockPath returns the lock file that serialises the controller commands
// that change the IPVS table of the current network namespace: without
// it, two restores at once could each apply half of its plan over the
// other's and leave a mix of both tables. Each network namespace has its
// own IPVS table, so each has its own lock, named after the inode of
// /proc/self/ns/net (controller.4026531840.lock): commands in two
// namespaces never wait for each other. Without /proc it is
// controller.lock.
func LockPath() string {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/net", &st); err != nil {
		return filepath.Join(LockDir, "controller.lock")
	}
	return filepath.Join(LockDir, fmt.Sprintf("controller.%d.lock", st.Ino))
}

// ErrLocked: another controller command held the lock for longer than the
// caller would wait.
var ErrLocked = errors.New("another lvsnode controller command is changing the IPVS table")

// Lock is a held lock; Unlock releases it (so does the process's exit).
type Lock struct{ f *os.File }

// AcquireLock takes an exclusive flock on path (creating it and its
// directory). When another process holds it, say is called once with a
// line naming that process, and AcquireLock waits up to wait, then fails
// with ErrLocked.
func AcquireLock(path string, wait time.Duration, say func(string)) (*Lock, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	deadline := time.Now().Add(wait)
	said := false
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		holder := lockHolder(f)
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("%w (%s, lock %s); waited %s: try again when it is done", ErrLocked, holder, path, wait)
		}
		if !said && say != nil {
			say(fmt.Sprintf("waiting for another lvsnode controller command to finish (%s, lock %s)", holder, path))
			said = true
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Say who holds it, for the next one that waits.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

// lockHolder names the process that wrote its pid into the lock file.
func lockHolder(f *os.File) string {
	b := make([]byte, 32)
	n, _ := f.ReadAt(b, 0)
	if pid := strings.TrimSpace(string(b[:n])); pid != "" {
		return "pid " + pid
	}
	return "pid unknown"
}

// Unlock releases the lock.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	_ = l.f.Truncate(0)
	err := l.f.Close() // closing the only descriptor releases the flock
	l.f = nil
	return err
}
