package director

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/health"
	"github.com/lvsnode/lvsnode/health/healthtest"
	"github.com/lvsnode/lvsnode/ipvs"
)

const syncBlock = "sync: {mcast_interface: eth0, syncid: 10}\n"

func daemonLines(t *testing.T, f *ipvs.Fake) string {
	t.Helper()
	ds, err := f.Daemons()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(d.String() + "\n")
	}
	return b.String()
}

// Start starts both roles; the resync pass repairs a stopped one and
// restarts one running with other settings; status and metrics say so.
func TestSyncStartsAndRepairs(t *testing.T) {
	r := newRig(t, "resync: 1s\n"+syncBlock+twoNodes)
	want := "master sync daemon (mcast=eth0, syncid=10, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n" +
		"backup sync daemon (mcast=eth0, syncid=10, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n"
	if got := daemonLines(t, r.fake); got != want {
		t.Fatalf("after Start:\n%s\nwant\n%s", got, want)
	}
	st := r.d.Status().Sync
	if st == nil || len(st.Roles) != 2 || !st.Roles[0].Running || st.Roles[1].Starts != 1 || st.Roles[1].Daemon.SyncID != 10 {
		t.Fatalf("status: %+v", st)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	r.clock.BlockUntil(t, r.d.sched.Runs()+2)

	// Someone stops the backup, and restarts the master with another ID
	// (the Fake is not safe for concurrent use: as the daemon, under its
	// lock).
	r.d.ipvsMu.Lock()
	if err := r.fake.StopDaemon(ipvs.DaemonBackup); err != nil {
		t.Fatal(err)
	}
	r.fake.StopDaemon(ipvs.DaemonMaster)
	r.fake.StartDaemon(ipvs.Daemon{State: ipvs.DaemonMaster, Interface: "eth0", SyncID: 3})
	r.d.ipvsMu.Unlock()
	lines := func() string {
		r.d.ipvsMu.Lock()
		defer r.d.ipvsMu.Unlock()
		return daemonLines(t, r.fake)
	}
	r.clock.Advance(time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for lines() != want || r.d.Status().Sync.Roles[1].Starts != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("not repaired after a resync:\n%s%+v", lines(), r.d.Status().Sync)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if st := r.d.Status().Sync; st.Roles[0].Starts != 2 || !st.Roles[0].Running {
		t.Errorf("master: %+v", st.Roles[0])
	}
	// Metrics.
	m := NewMetrics(r.d, nil)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, line := range []string{`lvsnode_sync_daemon_running{role="backup"} 1`, `lvsnode_sync_daemon_starts_total{role="master"} 2`} {
		if !strings.Contains(rec.Body.String(), line+"\n") {
			t.Errorf("metrics lack %q", line)
		}
	}
}

// A config whose sync interface does not exist is refused at start, with
// file:line, before anything changes.
func TestSyncStartMissingInterfaceRefused(t *testing.T) {
	f := ipvs.NewFake()
	cfg, err := ParseConfig("test.yaml", []byte("sync: {mcast_interface: sync0, roles: [backup]}\n"+twoNodes))
	if err != nil {
		t.Fatal(err)
	}
	d := New(cfg, Options{IPVS: f, Store: &MemStore{}, NoLock: true, Clock: healthtest.NewFakeClock()})
	err = d.Start(context.Background())
	if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "test.yaml:1: sync.mcast_interface: interface sync0: no such interface") {
		t.Fatalf("start: %v", err)
	}
	if len(f.Log) != 0 {
		t.Errorf("changed: %q", f.Log)
	}
}

// A daemon whose interface is deleted is reported (not running, the link's
// error), and restarted when the link is re-created under the same name
// (a new index: the old daemon's sockets are bound to the gone one).
func TestSyncLinkGoneAndRecreated(t *testing.T) {
	r := newRig(t, "sync: {mcast_interface: eth0, roles: [backup]}\n"+twoNodes)
	if st := r.d.Status().Sync; !st.Roles[0].Running || st.Roles[0].Link == nil || st.Roles[0].Starts != 1 {
		t.Fatalf("status: %+v", st.Roles[0])
	}
	r.fake.SetLink("eth0", 0)
	r.d.syncPass()
	st := r.d.Status().Sync
	if st.Roles[0].Running || st.Roles[0].Link != nil || !strings.Contains(st.Roles[0].Error, "no such interface") {
		t.Errorf("link gone: %+v", st.Roles[0])
	}
	if line := r.d.statusLine(); !strings.Contains(line, "; sync backup NOT RUNNING: interface eth0: no such interface") {
		t.Errorf("status line: %s", line)
	}
	m := NewMetrics(r.d, nil)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `lvsnode_sync_link_up{role="backup"} 0`) {
		t.Errorf("metrics: no lvsnode_sync_link_up 0")
	}
	r.fake.SetLink("eth0", 1500)
	r.d.syncPass()
	st = r.d.Status().Sync
	if !st.Roles[0].Running || st.Roles[0].Error != "" || st.Roles[0].Starts != 2 {
		t.Errorf("after the interface came back: %+v", st.Roles[0])
	}
	if n := len(r.fake.Log); n < 2 || r.fake.Log[n-2] != "stop-daemon backup" || !strings.HasPrefix(r.fake.Log[n-1], "start-daemon backup") {
		t.Errorf("log: %q", r.fake.Log)
	}
	r.d.syncPass() // settled: no restart
	if st := r.d.Status().Sync; st.Roles[0].Starts != 2 {
		t.Errorf("restarted again: %+v", st.Roles[0])
	}
}

// staleLinks answers SyncLink for any name (as for a link deleted between
// the pass's lookup and its start).
type staleLinks struct{ *ipvs.Fake }

func (staleLinks) SyncLink(string) (ipvs.Link, error) { return ipvs.Link{Index: 2, Up: true}, nil }

// A changed setting the kernel refuses (ENODEV, EINVAL come before EEXIST)
// is tried start-first: the working daemons stay.
func TestSyncRepairStartsFirst(t *testing.T) {
	r := newRig(t, syncBlock+twoNodes)
	before := daemonLines(t, r.fake)
	r.fake.SetLink("sync0", 1500)
	cfg, err := ParseConfig("test.yaml", []byte("sync: {mcast_interface: sync0, syncid: 10}\n"+twoNodes))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.d.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	r.fake.SetLink("sync0", 0)
	r.d.o.IPVS = staleLinks{r.fake}
	r.d.syncPass()
	if got := daemonLines(t, r.fake); got != before {
		t.Errorf("a refused start stopped the working daemons:\n%s", got)
	}
	for _, ro := range r.d.Status().Sync.Roles {
		if ro.Running || !strings.Contains(ro.Error, "no such interface") {
			t.Errorf("status: %+v", ro)
		}
	}
}

// Without a sync: block the daemon never touches the sync daemons.
func TestSyncOffLeavesDaemonsAlone(t *testing.T) {
	f := ipvs.NewFake()
	f.StartDaemon(ipvs.Daemon{State: ipvs.DaemonMaster, Interface: "eth0", SyncID: 3})
	r := &rig{t: t, fake: f, clock: healthtest.NewFakeClock(), store: &MemStore{},
		checks: map[health.Key]*healthtest.Checker{}, builds: map[health.Key]int{}}
	r.start(twoNodes)
	r.d.syncPass()
	for _, l := range f.Log[1:] {
		if strings.Contains(l, "daemon") {
			t.Errorf("touched a sync daemon: %s", l)
		}
	}
	if got := daemonLines(t, f); !strings.Contains(got, "syncid=3") || r.d.Status().Sync != nil {
		t.Errorf("daemons: %s, status %+v", got, r.d.Status().Sync)
	}
}

func TestSyncConfigErrors(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"sync:\n  mcast_interface: eth0\n  syncid: 300\n", "test.yaml:3: sync.syncid \"300\": want 0-255"},
		{"sync:\n  mcast_interface: eth0\n  mcast_group: 10.0.0.1\n", "test.yaml:3: sync.mcast_group \"10.0.0.1\": not a multicast address"},
		{"sync:\n  syncid: 5\n", "test.yaml:2: sync.mcast_interface is required"},
		{"sync:\n  mcast_interface: eth0\n  roles: [master, primary]\n", "test.yaml:3: sync.roles: \"primary\": want master or backup"},
		{"sync:\n  mcast_interface: eth0\n  mcast_ifname: eth0\n", "test.yaml:3: sync: unknown key \"mcast_ifname\""},
	} {
		_, err := ParseConfig("test.yaml", []byte(c.yaml+twoNodes))
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q:\n got %v\nwant %s", c.yaml, err, c.want)
		}
	}
}
