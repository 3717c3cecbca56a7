package ipvs

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"syscall"
)

// Connection-sync daemons (ipvsadm --start-daemon / --stop-daemon / -L
// --daemon): kernel threads that multicast the director's connection table
// (master) and receive another director's (backup). One of each role can
// run per network namespace; both can run at once.
//
// The kernel's behaviour (Linux 6.1, net/netfilter/ipvs/ip_vs_ctl.c and
// ip_vs_sync.c), modelled by the Fake and shown in the lab by
// lab/scenarios/ha-daemon.sh:
//   - NEW_DAEMON for a role that runs: EEXIST (ErrExists), whatever the
//     settings; the running daemon is left as it was.
//   - an interface that does not exist: ENODEV (ErrNoInterface); checked
//     before EEXIST.
//   - a group that is not multicast: EINVAL (ErrInvalidDaemon).
//   - an interface without an address is accepted (a master on a dummy
//     with none starts), and a daemon whose interface is deleted goes on
//     running, listed with its name.
//   - DEL_DAEMON of a role that does not run: ESRCH (ErrNotFound).
//   - NEW_DAEMON (either role) while a service has a real server of the
//     other address family: EINVAL, before ENODEV and EEXIST; NEW_DEST or
//     SET_DEST of such a real server while a daemon (either role) runs:
//     EINVAL (ErrMixedFamilySync in the Fake).
//   - GET_DAEMON lists the master first, then the backup, each with every
//     setting filled in: group 224.0.0.81, port 8848, TTL 1 when not
//     given, and a message size (MaxLen) from the interface's MTU: 1500
//     minus 28 (IPv4 and UDP headers) for a master, the MTU (1500..65535)
//     minus 28 for a backup (48 with an IPv6 group); a size given is
//     clamped to 1..65507 (master) or 1024..65507 (backup).

// Sync daemon defaults the kernel fills in (IP_VS_SYNC_GROUP, _PORT).
var (
	DefaultSyncGroup = netip.AddrFrom4([4]byte{224, 0, 0, 81})
)

const (
	DefaultSyncPort uint16 = 8848
	DefaultSyncTTL  uint8  = 1
)

// Daemon sentinel errors (see also ErrExists: the role already runs, and
// ErrNotFound: stopping a role that does not run).
var (
	// ErrNoInterface: the multicast interface does not exist (ENODEV).
	ErrNoInterface = errors.New("no such interface")
	// ErrInvalidDaemon: the kernel refused the settings (EINVAL: a group
	// that is not multicast, a role that is neither master nor backup, or
	// services with real servers of the other family).
	// ErrMixedFamilySync: a real server of the other address family than
	// its service while a sync daemon runs, or a daemon started while such
	// a real server exists (the kernel answers EINVAL to both: the sync
	// protocol cannot carry mixed-family connections). The Fake returns
	// it; the kernel client cannot tell it from other EINVALs.
	ErrMixedFamilySync = errors.New("a real server of the other address family than its service cannot coexist with a sync daemon (EINVAL)")
	ErrInvalidDaemon   = errors.New("the kernel refused the sync daemon's settings as invalid (group not multicast, or services with real servers of the other address family)")
)

// SyncDaemons starts, stops and lists the kernel's connection-sync
// daemons. Part of Client; errors wrap the sentinels above.
type SyncDaemons interface {
	// Daemons lists the running daemons, master first; none is an empty
	// slice and a nil error.
	Daemons() ([]Daemon, error)
	// StartDaemon starts d (IPVS_CMD_NEW_DAEMON). d.State, d.Interface
	// are required; zero optional settings take the kernel's defaults.
	StartDaemon(d Daemon) error
	// StopDaemon stops the daemon of a role (DaemonMaster or DaemonBackup).
	StopDaemon(state uint32) error
	// SyncLink looks up a daemon's interface by name: its index and
	// whether it is up; ErrNoInterface when it does not exist. A daemon
	// keeps the interface it was started on (the kernel binds its sockets
	// to that index): one whose link was deleted and re-created under the
	// same name (a new index) is listed as before but syncs nothing.
	SyncLink(name string) (Link, error)
}

// Link is a sync daemon's interface as SyncLink finds it.
type Link struct {
	Index int  `json:"index"`
	Up    bool `json:"up"`
	MTU   int  `json:"mtu"`
}

// SyncMaxLen is the message size the kernel settles on for d started on
// an interface of that MTU (start_sync_thread): d.MaxLen clamped to
// 1..65507 (master) or 1024..65507 (backup), 65487 with an IPv6 group;
// when 0, 1500 (master) or the MTU (backup, 1500..65535) less the IP and
// UDP headers (28, or 48 with an IPv6 group).
func SyncMaxLen(d Daemon, mtu int) uint16 {
	hlen := 28 // IPv4 + UDP
	if d.Group.Is6() {
		hlen = 48
	}
	lo := 1
	if d.State == DaemonMaster {
		mtu = 1500
	} else {
		mtu, lo = min(max(mtu, 1500), 65535), 1024
	}
	if d.MaxLen == 0 {
		return uint16(mtu - hlen)
	}
	return uint16(min(max(int(d.MaxLen), lo), 65535-hlen))
}

// RoleName is "master" or "backup" (ipvsadm's words).
func RoleName(state uint32) string {
	switch state {
	case DaemonMaster:
		return "master"
	case DaemonBackup:
		return "backup"
	}
	return fmt.Sprintf("state(%d)", state)
}

// ParseRole reads "master" or "backup", lower-case only (as ipvsadm).
func ParseRole(s string) (uint32, bool) {
	switch s {
	case "master":
		return DaemonMaster, true
	case "backup":
		return DaemonBackup, true
	}
	return 0, false
}

// String is ipvsadm's -L --daemon line for d (without the newline).
func (d Daemon) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s sync daemon (mcast=%s, syncid=%d", RoleName(d.State), d.Interface, d.SyncID)
	if d.MaxLen != 0 {
		fmt.Fprintf(&b, ", maxlen=%d", d.MaxLen)
	}
	if d.Group.IsValid() {
		fmt.Fprintf(&b, ", group=%s", d.Group)
	}
	if d.Port != 0 {
		fmt.Fprintf(&b, ", port=%d", d.Port)
	}
	if d.TTL != 0 {
		fmt.Fprintf(&b, ", ttl=%d", d.TTL)
	}
	b.WriteString(")")
	return b.String()
}

// Differences lists how running daemon d differs from the wanted w, one
// "setting: running X, wanted Y" per setting w gives (zero optional
// settings in w mean the kernel's default, which d shows filled in, a
// wanted MaxLen is compared as the kernel clamps it (SyncMaxLen: a backup
// asked for 1000 runs with 1024), and a wanted MaxLen of 0 accepts any).
func (d Daemon) Differences(w Daemon) []string {
	var out []string
	diff := func(name string, have, want any) {
		if fmt.Sprint(have) != fmt.Sprint(want) {
			out = append(out, fmt.Sprintf("%s: running %v, wanted %v", name, have, want))
		}
	}
	diff("mcast-interface", d.Interface, w.Interface)
	diff("syncid", d.SyncID, w.SyncID)
	if w.MaxLen != 0 {
		diff("sync-maxlen", d.MaxLen, SyncMaxLen(w, 0))
	}
	group := w.Group
	if !group.IsValid() {
		group = DefaultSyncGroup
	}
	if d.Group.IsValid() {
		diff("mcast-group", d.Group, group)
	}
	port, ttl := w.Port, w.TTL
	if port == 0 {
		port = DefaultSyncPort
	}
	if ttl == 0 {
		ttl = DefaultSyncTTL
	}
	if d.Port != 0 {
		diff("mcast-port", d.Port, port)
	}
	if d.TTL != 0 {
		diff("mcast-ttl", d.TTL, ttl)
	}
	return out
}

// mapDaemonErr turns a kernel error of a daemon request into the sentinels.
func mapDaemonErr(what string, err error) error {
	if err == nil {
		return nil
	}
	var sentinel error
	switch {
	case errors.Is(err, syscall.EPERM), errors.Is(err, syscall.EACCES):
		sentinel = ErrPermission
	case errors.Is(err, syscall.EEXIST):
		sentinel = fmt.Errorf("a daemon of that role already runs: %w", ErrExists)
	case errors.Is(err, syscall.ESRCH):
		sentinel = fmt.Errorf("no daemon of that role runs: %w", ErrNotFound)
	case errors.Is(err, syscall.ENODEV):
		sentinel = ErrNoInterface
	case errors.Is(err, syscall.EINVAL):
		sentinel = ErrInvalidDaemon
	case errors.Is(err, syscall.ENOENT):
		sentinel = ErrNoIPVS
	default:
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s: %w", what, sentinel)
}

func startWhat(d Daemon) string {
	return fmt.Sprintf("start %s sync daemon on %s", RoleName(d.State), d.Interface)
}
