package director

import (
	"context"
	"net/http/httptest"
	"strings"

	"github.com/lvsnode/lvsnode/health"
	"github.com/lvsnode/lvsnode/health/healthtest"
	"github.com/lvsnode/lvsnode/ipvs"
	"testing"
)

// Regression (review of issue 10): a reload whose sync: block names a
// missing interface was accepted, and
// the next pass stopped the working daemons and could not start new ones: the
// director was left with no sync at all. Now refused whole.
func TestSyncReloadMissingInterfaceRefused(t *testing.T) {
	r := newRig(t, "sync: {mcast_interface: eth0, syncid: 10}\n"+twoNodes)
	before := daemonLines(t, r.fake)
	cfg, err := ParseConfig("test.yaml", []byte("sync: {mcast_interface: eht0, syncid: 10}\n"+twoNodes))
	if err != nil {
		t.Logf("refused at parse (good): %v", err)
		return
	}
	if err := r.d.Reload(context.Background(), cfg); err != nil {
		t.Logf("refused at reload (good): %v", err)
		return
	}
	r.d.syncPass()
	after := daemonLines(t, r.fake)
	if after != before {
		t.Errorf("a reload with a typo'd interface was accepted and changed the kernel:\nbefore:\n%safter:\n%q\nstatus: %+v", before, after, r.d.Status().Sync.Roles)
	}
}

// racer lists the daemons, then (as a hand ipvsadm --stop-daemon between
// the pass's list and its start) stops the backup.
type racer struct {
	*ipvs.Fake
	armed bool
}

func (r *racer) Daemons() ([]ipvs.Daemon, error) {
	ds, err := r.Fake.Daemons()
	if r.armed {
		r.armed = false
		r.Fake.StopDaemon(ipvs.DaemonBackup)
	}
	return ds, err
}

func TestSyncRunningFromFinalList(t *testing.T) {
	rc := &racer{Fake: ipvs.NewFake()}
	r := &rig{t: t, fake: rc.Fake, clock: healthtest.NewFakeClock(), store: &MemStore{},
		checks: map[health.Key]*healthtest.Checker{}, builds: map[health.Key]int{}}
	r.start(syncBlock + twoNodes)
	r.d.o.IPVS = rc
	rc.armed = true
	r.d.syncPass()
	for _, ro := range r.d.Status().Sync.Roles {
		t.Logf("%s running=%v daemon=%v", ro.Role, ro.Running, ro.Daemon != nil)
		if ro.Running && ro.Daemon == nil {
			t.Errorf("%s reported running, but the pass's own final list has no such daemon", ro.Role)
		}
	}
}

// Regression (review of issue 10): a sync_maxlen the kernel clamps
// (backup: at least 1024) must not make every resync pass stop and restart
// the daemon.
func TestSyncClampedMaxLenDoesNotRestart(t *testing.T) {
	r := newRig(t, "sync: {mcast_interface: eth0, syncid: 10, sync_maxlen: 1000}\n"+twoNodes)
	t.Logf("after start:\n%s", daemonLines(t, r.fake))
	for i := 0; i < 3; i++ {
		r.d.syncPass()
	}
	st := r.d.Status().Sync
	for _, ro := range st.Roles {
		if ro.Starts != 1 {
			t.Errorf("%s started %d times in 4 passes (want 1): %+v", ro.Role, ro.Starts, ro)
		}
	}
	n := 0
	for _, l := range r.fake.Log {
		if l == "stop-daemon backup" || len(l) > 11 && l[:11] == "stop-daemon" {
			n++
		}
	}
	t.Logf("stop-daemon calls: %d; log tail: %q", n, r.fake.Log[len(r.fake.Log)-4:])
}

func TestSyncV6GroupClampedMaxLenDoesNotRestart(t *testing.T) {
	r := newRig(t, "sync: {mcast_interface: eth0, mcast_group: 'ff02::1:81', sync_maxlen: 65507}\n"+twoNodes)
	r.d.syncPass()
	r.d.syncPass()
	for _, ro := range r.d.Status().Sync.Roles {
		if ro.Starts != 1 {
			t.Errorf("%s started %d times in 3 passes (want 1)", ro.Role, ro.Starts)
		}
	}
}

// Regression (review of issue 10): roles: [master, MASTER] passed
// validation (ParseRole lowercased, the duplicate check did not) and
// /metrics then failed. Lower-case words only, as ipvsadm; duplicates on
// the parsed role.
func TestSyncRolesCaseDuplicateRefused(t *testing.T) {
	cfg, err := ParseConfig("test.yaml", []byte("sync: {mcast_interface: eth0, roles: [master, MASTER]}\n"+twoNodes))
	if err != nil {
		t.Logf("refused (good): %v", err)
		if _, err := ParseConfig("test.yaml", []byte("sync: {mcast_interface: eth0, roles: [MASTER]}\n"+twoNodes)); err == nil {
			t.Errorf("roles: [MASTER] accepted")
		}
		return
	}
	_ = cfg
	r := newRig(t, "sync: {mcast_interface: eth0, roles: [master, MASTER]}\n"+twoNodes)
	r.d.syncPass()
	t.Logf("status: %+v", r.d.Status().Sync.Roles)
	m := NewMetrics(r.d, nil)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != 200 {
		b := rec.Body.String()
		if len(b) > 300 {
			b = b[:300]
		}
		t.Errorf("/metrics: %d %s", rec.Code, b)
	}
}

// Removing sync_maxlen from the file restarts the daemon to the kernel's
// default for its link (a wanted 0 used to accept any running size).
func TestSyncMaxLenRemovedRestartsToDefault(t *testing.T) {
	r := newRig(t, "sync: {mcast_interface: eth0, roles: [backup], sync_maxlen: 2000}\n"+twoNodes)
	cfg, err := ParseConfig("test.yaml", []byte("sync: {mcast_interface: eth0, roles: [backup]}\n"+twoNodes))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.d.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	r.d.syncPass()
	r.d.syncPass()
	if got := daemonLines(t, r.fake); !strings.Contains(got, "maxlen=1472") {
		t.Errorf("daemons: %s", got)
	}
	if st := r.d.Status().Sync.Roles[0]; st.Starts != 2 {
		t.Errorf("starts %d, want 2 (one restart)", st.Starts)
	}
}
