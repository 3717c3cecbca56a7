package main

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/lvsnode/lvsnode/ipvs"
)

// Regressions from the review of issue 10 (its CLI battery): a
// sync-maxlen the kernel clamps is idempotent; an IPv4-mapped group and a
// capitalised role are refused with exit 2, one line, nothing changed.
func TestStartDaemonClampedIdempotentAndRefusals(t *testing.T) {
	f := ipvs.NewFake()
	for i := 0; i < 2; i++ {
		out, rc := ctlRun(t, f, "start-daemon", "backup", "--mcast-interface", "eth0", "--sync-maxlen", "1000")
		if rc != 0 {
			t.Fatalf("run %d: rc %d: %q", i, rc, out)
		}
		if i == 1 && !strings.HasPrefix(out, "unchanged:") {
			t.Errorf("second start-daemon with a clamped sync-maxlen: %q", out)
		}
	}
	log := len(f.Log)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"start-daemon", "master", "--mcast-interface", "eth0", "--mcast-group", "::ffff:224.0.0.81"}, `--mcast-group "::ffff:224.0.0.81": not a multicast address`},
		{[]string{"start-daemon", "Master", "--mcast-interface", "eth0"}, "master or backup"},
	} {
		out, rc := ctlRun(t, f, c.args...)
		if rc != 2 || !strings.Contains(out, c.want) || strings.Count(out, "\n") != 1 {
			t.Errorf("%v: rc %d, %q; want 2 and one line with %q", c.args, rc, out, c.want)
		}
	}
	if len(f.Log) != log {
		t.Errorf("refusals changed something: %q", f.Log[log:])
	}
	// The Fake, as the kernel: an IPv4-mapped group is not multicast.
	if err := f.StartDaemon(ipvs.Daemon{State: ipvs.DaemonMaster, Interface: "eth0", Group: netip.MustParseAddr("::ffff:224.0.0.81")}); err == nil {
		t.Errorf("fake started a daemon on an IPv4-mapped group")
	}
}

// Regression (review of issue 10, lab probe D): add-node of a real server
// of the other family than its service while a sync daemon runs was
// refused by the kernel only after the service was created. Now refused
// first, naming the daemon; and the Fake refuses start-daemon while such
// a real server exists, as the kernel.
func TestAddNodeMixedFamilyWhileSyncRuns(t *testing.T) {
	f := ipvs.NewFake()
	if out, rc := ctlRun(t, f, "start-daemon", "master", "--mcast-interface", "eth0"); rc != 0 {
		t.Fatalf("start-daemon: %d %q", rc, out)
	}
	log := len(f.Log)
	out, rc := ctlRun(t, f, "add-node", "-t", "10.0.0.100:81", "-r", "[fd00::11]", "-i", "-s", "rr")
	if rc == 0 || !strings.Contains(out, "master sync daemon (mcast=eth0") || strings.Count(out, "\n") != 1 {
		t.Errorf("add-node: rc %d %q", rc, out)
	}
	if len(f.Log) != log {
		t.Errorf("refused add-node changed something: %q", f.Log[log:])
	}
	// No daemon: the real server goes in; then no daemon starts.
	ctlRun(t, f, "stop-daemon", "master")
	if out, rc := ctlRun(t, f, "add-node", "-t", "10.0.0.100:81", "-r", "[fd00::11]", "-i", "-s", "rr"); rc != 0 {
		t.Fatalf("add-node without a daemon: %d %q", rc, out)
	}
	for _, role := range []string{"master", "backup"} {
		out, rc := ctlRun(t, f, "start-daemon", role, "--mcast-interface", "eth0")
		if rc == 0 || !strings.Contains(out, "other address family") {
			t.Errorf("start-daemon %s with a mixed-family real server: rc %d %q", role, rc, out)
		}
	}
}
