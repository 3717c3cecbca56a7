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
