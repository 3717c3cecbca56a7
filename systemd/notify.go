// Package systemd speaks the sd_notify(3) protocol for Type=notify units:
// READY=1 once the service works, RELOADING=1 around a reload, STOPPING=1
// on shutdown, STATUS= for `systemctl status`, and WATCHDOG=1 keep-alives.
package systemd

import (
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Notifier sends one notification made of newline-separated assignments.
// Without a NOTIFY_SOCKET (not under systemd) it does nothing.
type Notifier interface {
	Notify(state string) error
}

// Socket is the real Notifier (github.com/coreos/go-systemd/v22/daemon).
type Socket struct{}

var _ Notifier = Socket{}

func (Socket) Notify(state string) error {
	_, err := daemon.SdNotify(false, state)
	return err
}

// Ready says the service is up; status is shown by `systemctl status`.
func Ready(status string) string { return "READY=1\nSTATUS=" + oneLine(status) }

// Status updates the status text only.
func Status(status string) string { return "STATUS=" + oneLine(status) }

// Reloading starts a reload; send Ready when it is done. systemd 253+
// requires the MONOTONIC_USEC stamp with it (Type=notify-reload).
func Reloading() string {
	return daemon.SdNotifyReloading + "\n" + strings.TrimSuffix(daemon.SdNotifyMonotonicUsec(), "\n")
}

// Stopping says shutdown has begun.
func Stopping() string { return daemon.SdNotifyStopping }

// Watchdog is the keep-alive.
func Watchdog() string { return daemon.SdNotifyWatchdog }

// WatchdogInterval is how often to send Watchdog: half of the unit's
// WatchdogSec, as sd_watchdog_enabled(3) advises; 0 when no watchdog is set.
func WatchdogInterval() time.Duration {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil || d <= 0 {
		return 0
	}
	return d / 2
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

// Recorder is a Notifier for tests: it keeps every notification.
type Recorder struct {
	mu   sync.Mutex
	sent []string
}

var _ Notifier = (*Recorder)(nil)

func (r *Recorder) Notify(state string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, state)
	return nil
}

// Sent returns the notifications so far.
func (r *Recorder) Sent() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.sent...)
}
