package director

import (
	"context"
	"errors"
	"time"
)

// Shared is a Store that several directors share (EtcdStore): besides
// Load and Save, Watch tells each director what the others (and the
// agents that register themselves) changed, and StoreStatus whether the
// store is reachable. The reconcile loop does not know it: the follower
// (followStore, run beside the daemon) installs each new state as the API
// would.
//
// Contract: Watch calls changed with the whole shared state once it has
// read it (at start, and after every loss of the store), then after every
// change, from one goroutine, until ctx ends; while the store is
// unreachable it calls nothing (the director keeps its last known table:
// it never empties IPVS because the store went away). Save refuses (an
// error wrapping ErrStoreUnavailable) a change of the shared part it
// cannot write.
type Shared interface {
	Store
	Watch(ctx context.Context, changed func(Remote)) error
	// Adopted tells the store that the daemon installed svcs, read from
	// it at revision rev: the next Save writes none of it (only later
	// edits), so a state older than the store's newest is never written
	// back over it. StoreStatus.Read is true from the first call on.
	Adopted(rev int64, svcs []ServiceSpec)
	// Stale tells whether a state read at rev is older than this
	// director's own last write: the follower skips it (a newer state,
	// with the write, follows), so a read racing an add-node never
	// removes, even for a moment, what was just added.
	Stale(rev int64) bool
	StoreStatus() StoreStatus
}

// ErrStoreUnavailable is wrapped by a Save refused because the shared
// store cannot be reached (the API answers 500 with its message).
var ErrStoreUnavailable = errors.New("shared store unreachable")

// Remote is the shared state as read from the store.
type Remote struct {
	Services []ServiceSpec
	// Registered are the real servers their own agent registered (under
	// a lease), by node id ("tcp 10.0.0.100:80 10.0.0.11:80").
	Registered map[string]Registration
	Revision   int64
}

// Registration is a real server as its agent registered it.
type Registration struct {
	Lease    int64
	Draining bool // the agent is draining: weight 0, wait for its connections
}

// StoreStatus is Status.Store: the shared store as this director sees it.
type StoreStatus struct {
	Backend   string    `json:"backend"`   // etcd
	Reachable bool      `json:"reachable"` // false: serving the last known table
	Since     time.Time `json:"since"`     // when Reachable last changed
	Error     string    `json:"error,omitempty"`
	// Read is whether this director has read the shared state at least
	// once since it started (at start, or by the watch); it stays true
	// when the store is lost later. Under active_active the director is
	// not ready until it is (Daemon.Ready).
	Read bool `json:"read"`
	// Revision is the store's revision as of the state this director
	// last adopted: an order (higher is newer), not an identity (a full
	// read after a reconnection counts the directors' reports too):
	// compare Digest.
	Revision int64 `json:"revision"`
	// Digest names the desired services this director holds (a hash of
	// their keys and values): equal digests, equal tables.
	Digest string `json:"digest"`
	// Directors is what each director of the group (store.name, default
	// its host name) last reported, this one included: one behind the
	// others shows another digest; one gone leaves within 10 s.
	Directors map[string]DirectorReport `json:"directors,omitempty"`
	// Invalid is the keys ignored because their value does not decode or
	// compile (key relative to the prefix -> why); the others are applied.
	Invalid map[string]string `json:"invalid,omitempty"`
	// WatchStalls counts the watches replaced (a full read, then a new
	// watch) because they lagged the revision etcd answered with for 5 s
	// (a stream that hangs); WatchCompactions those replaced because etcd
	// compacted past them. Neither is an outage: Reachable stays true.
	WatchStalls      int64 `json:"watch_stalls,omitempty"`
	WatchCompactions int64 `json:"watch_compactions,omitempty"`
	// FileConflicts is the keys where director.yaml's services disagreed
	// with the shared state at the last start or reload (key relative
	// to the prefix -> what differs) and still do: the file only seeds
	// the keys the prefix lacks, so the shared value was kept (change it
	// through the API, or etcdctl for a service's settings). A key the
	// shared state has since settled (the file's value, or absent from
	// both) leaves it.
	FileConflicts map[string]string `json:"file_conflicts,omitempty"`
}

// DirectorReport is one director's entry in StoreStatus.Directors.
type DirectorReport struct {
	Revision int64  `json:"revision"`
	Digest   string `json:"digest"`
}

// Drain causes (NodeState.DrainBy) of the shared store.
const (
	drainByLease    = "lease"    // the registration is gone: the agent stopped or died
	drainByRegister = "register" // the registration says draining
)

// storeStatus is Status.Store: nil for a store that is not shared.
func (d *Daemon) storeStatus() *StoreStatus {
	sh, ok := d.o.Store.(Shared)
	if !ok {
		return nil
	}
	st := sh.StoreStatus()
	return &st
}
