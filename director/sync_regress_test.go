package director

import (
	"context"

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
