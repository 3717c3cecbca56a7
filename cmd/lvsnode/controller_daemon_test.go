package main

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/lvsnode/lvsnode/controller"
	"github.com/lvsnode/lvsnode/director"
	"github.com/lvsnode/lvsnode/ipvs"
)

// start-daemon: idempotent with the same settings, refuses other settings
// and bad input with one line and no change; list --daemon prints
// ipvsadm's lines; stop-daemon of a role that does not run is a no-op.
func TestControllerCLIDaemons(t *testing.T) {
	f := ipvs.NewFake()
	start := []string{"start-daemon", "master", "--mcast-interface", "eth0", "--syncid", "5"}
	for i := 0; i < 2; i++ {
		if out, rc := ctlRun(t, f, start...); rc != 0 {
			t.Fatalf("start #%d: rc %d: %s", i, rc, out)
		}
	}
	if len(f.Log) != 1 {
		t.Errorf("two identical starts made %q", f.Log)
	}
	if out, rc := ctlRun(t, f, "start-daemon", "backup", "--mcast-interface", "eth0", "--syncid", "5", "--mcast-port", "9000"); rc != 0 {
		t.Fatalf("backup: %d %s", rc, out)
	}
	out, _ := ctlRun(t, f, "list", "--daemon")
	want := "master sync daemon (mcast=eth0, syncid=5, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n" +
		"backup sync daemon (mcast=eth0, syncid=5, maxlen=1472, group=224.0.0.81, port=9000, ttl=1)\n"
	if out != want {
		t.Errorf("list --daemon:\n%s\nwant\n%s", out, want)
	}
	out, _ = ctlRun(t, f, "list", "--daemon", "--json")
	if !strings.Contains(out, `"role": "backup"`) || !strings.Contains(out, `"mcast_port": 9000`) {
		t.Errorf("json:\n%s", out)
	}
	log := len(f.Log)
	for _, c := range []struct {
		args []string
		rc   int
		want string
	}{
		{[]string{"start-daemon", "master", "--mcast-interface", "eth0", "--syncid", "6"}, 1, "syncid: running 5, wanted 6"},
		{[]string{"start-daemon", "master", "--mcast-interface", "nosuch0"}, 1, "mcast-interface: running eth0, wanted nosuch0"},
		{[]string{"start-daemon", "backup", "--mcast-interface", "eth0", "--mcast-group", "10.0.0.1"}, 2, `--mcast-group "10.0.0.1": not a multicast address`},
		{[]string{"start-daemon", "backup", "--mcast-interface", "eth0", "--syncid", "300"}, 2, `--syncid "300": want 0-255`},
		{[]string{"start-daemon", "both", "--mcast-interface", "eth0"}, 2, "master or backup"},
		{[]string{"start-daemon", "master"}, 2, "--mcast-interface is required"},
		{[]string{"list", "--daemon", "--stats"}, 2, "not --stats"},
	} {
		out, rc := ctlRun(t, f, c.args...)
		if rc != c.rc || !strings.Contains(out, c.want) || strings.Count(out, "\n") != 1 {
			t.Errorf("%v: rc %d, want %d, %q; want one line with %q", c.args, rc, c.rc, out, c.want)
		}
	}
	if len(f.Log) != log {
		t.Errorf("refusals changed something: %q", f.Log[log:])
	}
	// A missing interface with no daemon of that role: the kernel's
	// refusal, one line, nothing started.
	ctlRun(t, f, "stop-daemon", "master")
	out, rc := ctlRun(t, f, "start-daemon", "master", "--mcast-interface", "nosuch0")
	if rc != 1 || out != "lvsnode: start master sync daemon on nosuch0: no such interface\n" {
		t.Errorf("missing interface: %d %q", rc, out)
	}
	for i := 0; i < 2; i++ {
		if out, rc := ctlRun(t, f, "stop-daemon", "backup"); rc != 0 {
			t.Errorf("stop #%d: %d %s", i, rc, out)
		}
	}
	if ds, _ := f.Daemons(); len(ds) != 0 {
		t.Errorf("still running: %v", ds)
	}
}

func TestControllerCLIConnections(t *testing.T) {
	ctlConns = func() ipvs.ConnLister {
		return ipvs.FakeConns{
			{Protocol: "TCP", Client: netip.MustParseAddrPort("10.0.0.10:41804"), Virtual: netip.MustParseAddrPort("10.0.0.100:80"),
				Dest: netip.MustParseAddrPort("10.0.0.11:80"), State: "ESTABLISHED", Expires: 899},
			{Protocol: "TCP", Client: netip.MustParseAddrPort("[fd00::10]:50292"), Virtual: netip.MustParseAddrPort("[fd00::100]:80"),
				Dest: netip.MustParseAddrPort("[fd00::11]:80"), State: "SYN_RECV", Expires: 50},
		}
	}
	defer func() { ctlConns = func() ipvs.ConnLister { return ipvs.ProcConns{} } }()
	out, rc := ctlRun(t, ipvs.NewFake(), "list", "--connections")
	// ipvsadm -Lnc's lines in the lab (lab/scenarios/ha-daemon.sh compares
	// on the kernel).
	want := "IPVS connection entries\n" +
		"pro expire state       source             virtual            destination\n" +
		"TCP 14:59  ESTABLISHED 10.0.0.10:41804    10.0.0.100:80      10.0.0.11:80\n" +
		"TCP 00:50  SYN_RECV    [fd00::10]:50292   [fd00::100]:80     [fd00::11]:80\n"
	if rc != 0 || out != want {
		t.Errorf("list --connections: %d\n%s\nwant\n%s", rc, out, want)
	}
	out, _ = ctlRun(t, ipvs.NewFake(), "list", "-c", "--json")
	if !strings.Contains(out, `"source": "[fd00::10]:50292"`) || !strings.Contains(out, `"expires": 899`) {
		t.Errorf("json:\n%s", out)
	}
}

func TestControllerStatusSyncLine(t *testing.T) {
	var b strings.Builder
	ctlPrintSync(&b, &director.SyncStatus{Roles: []director.SyncRole{
		{Role: "master", Running: true, Starts: 3, Daemon: &controller.JSONDaemon{Interface: "eth0", SyncID: 51}, Link: &ipvs.Link{Index: 2, Up: true}},
		{Role: "backup", Error: "start backup sync daemon on eth9: no such interface"},
	}})
	if got := ctlSyncWarn(&director.SyncStatus{Roles: []director.SyncRole{{Role: "master", Running: true}, {Role: "backup"}}}); got != ", sync backup NOT RUNNING" {
		t.Errorf("headline note: %q", got)
	}
	want := "Sync: master running (eth0 index 2 up, syncid 51), restarted 2 times; backup NOT RUNNING: start backup sync daemon on eth9: no such interface\n"
	if b.String() != want {
		t.Errorf("got  %q\nwant %q", b.String(), want)
	}
	b.Reset()
	ctlPrintSync(&b, nil)
	if b.Len() != 0 {
		t.Errorf("no sync: %q", b.String())
	}
}
