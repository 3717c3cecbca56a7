package director

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/health"
	"github.com/lvsnode/lvsnode/health/healthtest"
	"github.com/lvsnode/lvsnode/ipvs"
)

// fakeShared is a Shared store in memory: the test sends states (as the
// watch would) and says whether it is reachable.
type fakeShared struct {
	MemStore
	mu      sync.Mutex
	up      bool
	since   time.Time // StoreStatus.Since: when up last changed
	unread  bool      // not read at start (Read false until the first Adopted)
	rev     int64
	adopted int64
	saved   []string // the services of each Save, encoded
}

var _ Shared = (*fakeShared)(nil)

func (f *fakeShared) Watch(ctx context.Context, _ func(Remote)) error { <-ctx.Done(); return nil }

func (f *fakeShared) Adopted(rev int64, _ []ServiceSpec) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.adopted = rev
}

func (f *fakeShared) Stale(int64) bool { return false }

func (f *fakeShared) StoreStatus() StoreStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	return StoreStatus{Backend: "fake", Reachable: f.up, Since: f.since, Revision: f.adopted, Read: !f.unread || f.adopted != 0}
}

// setUp makes the store reachable or not, as of a new Since.
func (f *fakeShared) setUp(up bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.up, f.since = up, f.since.Add(time.Second)
}

func (f *fakeShared) Save(ctx context.Context, d Desired) error {
	f.mu.Lock()
	f.saved = append(f.saved, mustJSON(encodeServices(d.Services)))
	f.mu.Unlock()
	return f.MemStore.Save(ctx, d)
}

// sharedRig is a daemon on ipvs.Fake whose store is a fakeShared, and the
// follower the store's watch would drive (adopt is called directly).
type sharedRig struct {
	*rig
	sh *fakeShared
	f  *follower
}

func newSharedRig(t *testing.T, yaml string) *sharedRig {
	return newSharedRigFrom(t, yaml, &fakeShared{up: true})
}

// newSharedRigFrom is newSharedRig on sh (its MemStore: the state file).
func newSharedRigFrom(t *testing.T, yaml string, sh *fakeShared) *sharedRig {
	r := &rig{t: t, fake: ipvs.NewFake(), clock: healthtest.NewFakeClock(), store: &sh.MemStore,
		checks: map[health.Key]*healthtest.Checker{}, builds: map[health.Key]int{}}
	cfg, err := ParseConfig("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	r.d = New(cfg, Options{IPVS: r.fake, Store: sh, Clock: r.clock, NoLock: true,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Sysctl: r.sysctls()})
	if err := r.d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.d.Close)
	return &sharedRig{rig: r, sh: sh, f: &follower{d: r.d, sh: sh}}
}

// remote is a shared state from YAML-like JSON services and registrations.
func remote(t *testing.T, rev int64, services string, reg map[string]Registration) Remote {
	t.Helper()
	var s []ServiceSpec
	if err := json.Unmarshal([]byte(services), &s); err != nil {
		t.Fatal(err)
	}
	return Remote{Services: s, Registered: reg, Revision: rev}
}

// adopt installs r as the follower would and reconciles.
func (s *sharedRig) adopt(r Remote) {
	s.t.Helper()
	if err := s.f.adopt(context.Background(), r); err != nil {
		s.t.Fatal(err)
	}
	if err := s.d.Reconcile(context.Background()); err != nil {
		s.t.Fatal(err)
	}
}

const oneService = `[{"service": "tcp 10.0.0.100:80", "scheduler": "rr", "nodes": [
	{"address": "10.0.0.11", "weight": 3}, {"address": "10.0.0.12"}]}]`

// The shared state is installed and reconciled; a change made elsewhere
// (a real server added on another director) converges; status reports
// the store and the revision adopted.
func TestFollowAdoptsSharedState(t *testing.T) {
	s := newSharedRig(t, "")
	s.wantWeights("")
	s.adopt(remote(t, 5, oneService, nil))
	s.wantWeights("tcp 10.0.0.100:80 10.0.0.11:80 w=3\ntcp 10.0.0.100:80 10.0.0.12:80 w=1\n")
	s.adopt(remote(t, 6, `[{"service": "tcp 10.0.0.100:80", "scheduler": "rr", "nodes": [
		{"address": "10.0.0.11", "weight": 3}, {"address": "10.0.0.12"}, {"address": "10.0.0.13", "weight": 2}]}]`, nil))
	s.wantWeights("tcp 10.0.0.100:80 10.0.0.11:80 w=3\ntcp 10.0.0.100:80 10.0.0.12:80 w=1\ntcp 10.0.0.100:80 10.0.0.13:80 w=2\n")
	st := s.d.Status()
	if st.Store == nil || st.Store.Revision != 6 || !st.Store.Reachable {
		t.Fatalf("status store = %+v, want revision 6, reachable", st.Store)
	}
	b, _ := json.Marshal(st)
	if !strings.Contains(string(b), `"store":{"backend":"fake","reachable":true`) {
		t.Fatalf("status JSON lacks the store: %s", b)
	}
}

// While the store is unreachable nothing is delivered: the table stays
// as it was (never emptied), health changes still apply, and status says
// so; when it returns, a change made meanwhile converges.
func TestFollowStoreDownKeepsTable(t *testing.T) {
	s := newSharedRig(t, "")
	s.adopt(remote(t, 5, oneService, nil))
	s.sh.mu.Lock()
	s.sh.up = false
	s.sh.mu.Unlock()
	for range 3 { // resyncs while the store is away
		if err := s.d.Reconcile(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	s.wantWeights("tcp 10.0.0.100:80 10.0.0.11:80 w=3\ntcp 10.0.0.100:80 10.0.0.12:80 w=1\n")
	if st := s.d.Status(); st.Store.Reachable {
		t.Fatal("status says reachable while the store is down")
	}
	s.sh.mu.Lock()
	s.sh.up = true
	s.sh.mu.Unlock()
	s.adopt(remote(t, 9, `[{"service": "tcp 10.0.0.100:80", "scheduler": "rr", "nodes": [{"address": "10.0.0.12"}]}]`, nil))
	s.wantWeights("tcp 10.0.0.100:80 10.0.0.12:80 w=1\n")
}

// A registered real server whose registration vanishes (its agent died,
// the lease expired) goes to weight 0 and stays while it has connections;
// it leaves once they end. A registration marked draining drains; its
// return undrains. Nothing learned from the store is saved back as an edit.
func TestFollowRegistrationLifecycle(t *testing.T) {
	s := newSharedRig(t, "")
	reg := map[string]Registration{"tcp 10.0.0.100:80 10.0.0.12:80": {Lease: 7}}
	s.adopt(remote(t, 5, oneService, reg))
	s.wantWeights("tcp 10.0.0.100:80 10.0.0.11:80 w=3\ntcp 10.0.0.100:80 10.0.0.12:80 w=1\n")

	s.adopt(remote(t, 6, oneService, map[string]Registration{"tcp 10.0.0.100:80 10.0.0.12:80": {Lease: 7, Draining: true}}))
	s.wantWeights("tcp 10.0.0.100:80 10.0.0.11:80 w=3\ntcp 10.0.0.100:80 10.0.0.12:80 w=0\n")
	s.adopt(remote(t, 7, oneService, reg))
	s.wantWeights("tcp 10.0.0.100:80 10.0.0.11:80 w=3\ntcp 10.0.0.100:80 10.0.0.12:80 w=1\n")

	k, _ := ParseService("tcp 10.0.0.100:80")
	rs := ipvs.DestKey{Addr: netip.MustParseAddr("10.0.0.12"), Port: 80}
	s.fake.SetCounters(k, rs, 2, 0, ipvs.Stats{})
	gone := remote(t, 8, `[{"service": "tcp 10.0.0.100:80", "scheduler": "rr", "nodes": [{"address": "10.0.0.11", "weight": 3}]}]`, nil)
	s.adopt(gone)
	s.wantWeights("tcp 10.0.0.100:80 10.0.0.11:80 w=3\ntcp 10.0.0.100:80 10.0.0.12:80 w=0\n")
	s.adopt(gone) // the follower's tick: still connections
	s.wantWeights("tcp 10.0.0.100:80 10.0.0.11:80 w=3\ntcp 10.0.0.100:80 10.0.0.12:80 w=0\n")
	s.fake.SetCounters(k, rs, 0, 0, ipvs.Stats{})
	s.adopt(gone) // drained: out of IPVS
	s.adopt(gone) // and out of the desired state
	s.wantWeights("tcp 10.0.0.100:80 10.0.0.11:80 w=3\n")
	if n := len(s.d.desired.Services[0].Nodes); n != 1 {
		t.Fatalf("desired keeps %d real servers, want 1", n)
	}
}

// A real server removed by an operator (no registration) leaves at once.
func TestFollowRemovedNodeLeavesAtOnce(t *testing.T) {
	s := newSharedRig(t, "")
	s.adopt(remote(t, 5, oneService, nil))
	s.adopt(remote(t, 6, `[{"service": "tcp 10.0.0.100:80", "scheduler": "rr", "nodes": [{"address": "10.0.0.11", "weight": 3}]}]`, nil))
	s.wantWeights("tcp 10.0.0.100:80 10.0.0.11:80 w=3\n")
}

// F8: an outage longer than the agents' lease expires every registration;
// the first full read after it may run before the agents registered
// again. Within reregisterGrace of the store's return, a registration
// missing since the outage keeps its real server as it was (not drained,
// not removed); one that registers again stays; one still missing after
// the grace drains as a lease expiry. One that vanishes while the store
// stays reachable drains at once (TestFollowRegistrationLifecycle).
func TestFollowOutageGraceForReregistration(t *testing.T) {
	s := newSharedRig(t, "")
	both := map[string]Registration{"tcp 10.0.0.100:80 10.0.0.11:80": {Lease: 7}, "tcp 10.0.0.100:80 10.0.0.12:80": {Lease: 8}}
	s.adopt(remote(t, 5, oneService, both))
	all := "tcp 10.0.0.100:80 10.0.0.11:80 w=3\ntcp 10.0.0.100:80 10.0.0.12:80 w=1\n"
	s.wantWeights(all)

	s.sh.setUp(false) // etcd frozen past the leases' ttl, then back
	s.sh.setUp(true)
	none := remote(t, 9, `[{"service": "tcp 10.0.0.100:80", "scheduler": "rr", "nodes": []}]`, nil)
	s.adopt(none) // the full read, before any agent registered again
	s.wantWeights(all)
	s.clock.Advance(time.Second)
	s.adopt(none) // a tick within the grace
	s.wantWeights(all)

	// .11's agent registers again (new lease); .12's does not
	s.clock.Advance(time.Second)
	s.adopt(remote(t, 10, `[{"service": "tcp 10.0.0.100:80", "scheduler": "rr", "nodes": [{"address": "10.0.0.11", "weight": 3}]}]`,
		map[string]Registration{"tcp 10.0.0.100:80 10.0.0.11:80": {Lease: 17}}))
	s.wantWeights(all)
	s.clock.Advance(reregisterGrace)
	back := remote(t, 10, `[{"service": "tcp 10.0.0.100:80", "scheduler": "rr", "nodes": [{"address": "10.0.0.11", "weight": 3}]}]`,
		map[string]Registration{"tcp 10.0.0.100:80 10.0.0.11:80": {Lease: 17}})
	s.adopt(back) // the grace is over: .12 is gone, idle: drained and removed
	s.adopt(back)
	s.wantWeights("tcp 10.0.0.100:80 10.0.0.11:80 w=3\n")
}

// F8, at start: a director that started on its state file's table (the
// store unreadable, so which real servers are registrations is unknown)
// holds those missing from its first read for reregisterGrace (the agents
// may be registering again after the same outage); after it, one still
// missing leaves at once, as an operator's removal.
func TestFollowStartOnCachedTableGrace(t *testing.T) {
	sh := &fakeShared{up: true, unread: true}
	var svcs []ServiceSpec
	if err := json.Unmarshal([]byte(oneService), &svcs); err != nil {
		t.Fatal(err)
	}
	if err := sh.MemStore.Save(context.Background(), Desired{Services: svcs}); err != nil {
		t.Fatal(err)
	}
	s := newSharedRigFrom(t, "", sh)
	all := "tcp 10.0.0.100:80 10.0.0.11:80 w=3\ntcp 10.0.0.100:80 10.0.0.12:80 w=1\n"
	s.wantWeights(all)
	only11 := remote(t, 9, `[{"service": "tcp 10.0.0.100:80", "scheduler": "rr", "nodes": [{"address": "10.0.0.11", "weight": 3}]}]`, nil)
	s.adopt(only11) // the first read: .12 not (yet) registered again
	s.wantWeights(all)
	s.clock.Advance(reregisterGrace)
	s.adopt(only11)
	s.wantWeights("tcp 10.0.0.100:80 10.0.0.11:80 w=3\n")
}
