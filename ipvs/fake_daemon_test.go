package ipvs

import (
	"errors"
	"net/netip"
	"testing"
)

// The Fake's sync daemons follow Linux 6.1 (lab/scenarios/ha-daemon.sh
// shows each rule on the kernel with ipvsadm).
func TestFakeDaemons(t *testing.T) {
	f := NewFake()
	f.SetLink("jumbo0", 9000)
	if ds, err := f.Daemons(); err != nil || len(ds) != 0 {
		t.Fatalf("none running: %v %v", ds, err)
	}
	// Refusals, nothing started: unknown interface (checked before the
	// role), a group that is not multicast.
	if err := f.StartDaemon(Daemon{State: DaemonMaster, Interface: "nosuch0"}); !errors.Is(err, ErrNoInterface) {
		t.Errorf("unknown interface: %v", err)
	}
	if err := f.StartDaemon(Daemon{State: DaemonBackup, Interface: "eth0", Group: netip.MustParseAddr("10.0.0.1")}); !errors.Is(err, ErrInvalidDaemon) {
		t.Errorf("unicast group: %v", err)
	}
	if err := f.StopDaemon(DaemonMaster); !errors.Is(err, ErrNotFound) {
		t.Errorf("stop what does not run: %v", err)
	}
	if len(f.Log) != 0 {
		t.Errorf("refusals changed something: %v", f.Log)
	}
	// Defaults filled in as the kernel lists them.
	if err := f.StartDaemon(Daemon{State: DaemonBackup, Interface: "jumbo0", SyncID: 5}); err != nil {
		t.Fatal(err)
	}
	if err := f.StartDaemon(Daemon{State: DaemonMaster, Interface: "eth0", SyncID: 5, MaxLen: 100}); err != nil {
		t.Fatal(err)
	}
	ds, _ := f.Daemons()
	want := []string{
		"master sync daemon (mcast=eth0, syncid=5, maxlen=100, group=224.0.0.81, port=8848, ttl=1)",
		"backup sync daemon (mcast=jumbo0, syncid=5, maxlen=8972, group=224.0.0.81, port=8848, ttl=1)",
	}
	if len(ds) != 2 || ds[0].String() != want[0] || ds[1].String() != want[1] {
		t.Errorf("listed %v\nwant %v", ds, want)
	}
	// A role that runs: EEXIST whatever the settings, the daemon unchanged.
	if err := f.StartDaemon(Daemon{State: DaemonMaster, Interface: "jumbo0", SyncID: 9}); !errors.Is(err, ErrExists) {
		t.Errorf("second master: %v", err)
	}
	if ds2, _ := f.Daemons(); ds2[0] != ds[0] {
		t.Errorf("master changed: %v", ds2[0])
	}
	// An interface removed under a daemon: it goes on running.
	f.SetLink("jumbo0", 0)
	if ds2, _ := f.Daemons(); len(ds2) != 2 {
		t.Errorf("backup gone with its interface: %v", ds2)
	}
	if err := f.StopDaemon(DaemonBackup); err != nil {
		t.Fatal(err)
	}
	if ds2, _ := f.Daemons(); len(ds2) != 1 || ds2[0].State != DaemonMaster {
		t.Errorf("after stopping the backup: %v", ds2)
	}
}

// The kernel's message-size rules (ipvsadm -L --daemon in the lab).
func TestSyncMaxLen(t *testing.T) {
	g6 := netip.MustParseAddr("ff02::99")
	for _, c := range []struct {
		d    Daemon
		mtu  int
		want uint16
	}{
		{Daemon{State: DaemonMaster}, 9000, 1472},
		{Daemon{State: DaemonBackup}, 1500, 1472},
		{Daemon{State: DaemonBackup, Group: g6}, 1500, 1452},
		{Daemon{State: DaemonBackup, MaxLen: 100}, 1500, 1024},
		{Daemon{State: DaemonMaster, MaxLen: 100}, 1500, 100},
		{Daemon{State: DaemonBackup}, 65536, 65507},
	} {
		if got := SyncMaxLen(c.d, c.mtu); got != c.want {
			t.Errorf("%+v mtu %d: %d, want %d", c.d, c.mtu, got, c.want)
		}
	}
}

func TestDaemonDifferences(t *testing.T) {
	run := Daemon{State: DaemonMaster, Interface: "eth0", SyncID: 5, MaxLen: 1472, Group: DefaultSyncGroup, Port: 8848, TTL: 1}
	if d := run.Differences(Daemon{State: DaemonMaster, Interface: "eth0", SyncID: 5}); len(d) != 0 {
		t.Errorf("defaults: %v", d)
	}
	d := run.Differences(Daemon{State: DaemonMaster, Interface: "eth1", SyncID: 5, Port: 9000})
	if len(d) != 2 || d[0] != "mcast-interface: running eth0, wanted eth1" || d[1] != "mcast-port: running 8848, wanted 9000" {
		t.Errorf("differences: %q", d)
	}
}
