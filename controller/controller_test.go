package controller

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/ipvs"
	"github.com/lvsnode/lvsnode/sysctl"
)

func newCtl() (*Controller, *ipvs.Fake, *bytes.Buffer) {
	f := ipvs.NewFake()
	var out bytes.Buffer
	return &Controller{IPVS: f, Out: &out, Sysctl: sysctl.NewFake(map[string]string{"net.ipv4.ip_forward": "0", "net.ipv6.conf.all.forwarding": "0"})}, f, &out
}

func spec(t *testing.T, f Flags) Spec {
	t.Helper()
	s, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAddNodeIdempotent(t *testing.T) {
	c, f, out := newCtl()
	s := spec(t, Flags{TCP: "10.0.0.100:80", Real: "10.0.0.11", DR: true})
	for i := 0; i < 2; i++ {
		if err := c.AddNode(s); err != nil {
			t.Fatal(err)
		}
	}
	if len(f.Log) != 2 {
		t.Errorf("changes after add-node twice: %q (want create-service, create-dest)", f.Log)
	}
	if !strings.Contains(out.String(), "unchanged: real server 10.0.0.11:80") {
		t.Errorf("second run output: %q", out.String())
	}
	svcs, _ := f.Services()
	if svcs[0].Scheduler != "wlc" {
		t.Errorf("default scheduler %q", svcs[0].Scheduler)
	}
	// Another weight edits in place.
	if err := c.AddNode(spec(t, Flags{TCP: "10.0.0.100:80", Real: "10.0.0.11", Weight: "5"})); err != nil {
		t.Fatal(err)
	}
	ds, _ := f.Destinations(svcs[0].ServiceKey)
	if len(f.Log) != 3 || ds[0].Weight != 5 {
		t.Errorf("after weight change: log %q, weight %d", f.Log, ds[0].Weight)
	}
}

func TestAddNodeChecks(t *testing.T) {
	c, f, _ := newCtl()
	// DR cannot map ports.
	_, err := Parse(Flags{TCP: "10.0.0.100:80", Real: "10.0.0.11:8080", DR: true})
	if err != nil {
		t.Fatal(err)
	}
	err = c.AddNode(spec(t, Flags{TCP: "10.0.0.100:80", Real: "10.0.0.11:8080", DR: true}))
	if !IsInput(err) || !strings.Contains(err.Error(), "cannot map ports") {
		t.Errorf("DR port mapping: %v", err)
	}
	// NAT without forwarding fails before any change...
	err = c.AddNode(spec(t, Flags{TCP: "10.0.0.100:80", Real: "10.0.0.11:8080", NAT: true}))
	if !errors.Is(err, ErrPrerequisite) || !strings.Contains(err.Error(), "net.ipv4.ip_forward is 0") {
		t.Errorf("NAT without forwarding: %v", err)
	}
	if len(f.Log) != 0 {
		t.Errorf("changes despite failed checks: %q", f.Log)
	}
	// ...and --enable-forwarding sets it.
	c.EnableForwarding = true
	if err := c.AddNode(spec(t, Flags{TCP: "10.0.0.100:80", Real: "10.0.0.11:8080", NAT: true})); err != nil {
		t.Fatal(err)
	}
	if v := c.Sysctl.(*sysctl.Fake).Value("net.ipv4.ip_forward"); v != "1" {
		t.Errorf("ip_forward = %q", v)
	}
}

func TestEditRemoveNode(t *testing.T) {
	c, f, _ := newCtl()
	if err := c.AddNode(spec(t, Flags{TCP: "10.0.0.100:80", Real: "10.0.0.11", Weight: "3", Upper: "100"})); err != nil {
		t.Fatal(err)
	}
	if err := c.EditNode(spec(t, Flags{TCP: "10.0.0.100:80", Real: "10.0.0.11", Lower: "10"})); err != nil {
		t.Fatal(err)
	}
	k := ipvs.ServiceKey{Protocol: ipvs.TCP, Addr: mustAddr("10.0.0.100"), Port: 80}
	ds, _ := f.Destinations(k)
	if d := ds[0]; d.Weight != 3 || d.UpperThreshold != 100 || d.LowerThreshold != 10 {
		t.Errorf("edit-node kept/changed wrong fields: %+v", d)
	}
	err := c.EditNode(spec(t, Flags{TCP: "10.0.0.100:80", Real: "10.0.0.12"}))
	if !errors.Is(err, ipvs.ErrNotFound) {
		t.Errorf("edit missing node: %v", err)
	}
	if err := c.RemoveNode(spec(t, Flags{TCP: "10.0.0.100:80", Real: "10.0.0.11"})); err != nil {
		t.Fatal(err)
	}
	if ds, _ := f.Destinations(k); len(ds) != 0 {
		t.Errorf("remove-node left %v", ds)
	}
	if err := c.RemoveService(spec(t, Flags{TCP: "10.0.0.100:80"})); err != nil {
		t.Fatal(err)
	}
}

// TestEditNodeTunnelOption changes one tunnel option of an existing GUE or
// GRE real server: the type (and the options not given) stay as they are.
func TestEditNodeTunnelOption(t *testing.T) {
	c, f, _ := newCtl()
	k := ipvs.ServiceKey{Protocol: ipvs.TCP, Addr: mustAddr("10.0.0.100"), Port: 80}
	dest := func(rip string) ipvs.Destination {
		t.Helper()
		ds, _ := f.Destinations(k)
		for _, d := range ds {
			if d.Addr == mustAddr(rip) {
				return d
			}
		}
		t.Fatalf("no real server %s", rip)
		return ipvs.Destination{}
	}
	if err := c.AddNode(spec(t, Flags{TCP: "10.0.0.100:80", Real: "10.0.0.11", TUN: true, TunType: "gue", TunPort: "6080"})); err != nil {
		t.Fatal(err)
	}
	if err := c.AddNode(spec(t, Flags{TCP: "10.0.0.100:80", Real: "10.0.0.12", TUN: true, TunType: "gre"})); err != nil {
		t.Fatal(err)
	}
	for _, e := range []struct {
		f    Flags
		want ipvs.Destination
	}{
		{Flags{Real: "10.0.0.11", TUN: true, TunCsum: true}, ipvs.Destination{TunnelType: ipvs.GUE, TunnelPort: 6080, TunnelFlags: ipvs.Csum}},
		{Flags{Real: "10.0.0.11", TUN: true, TunPort: "6081"}, ipvs.Destination{TunnelType: ipvs.GUE, TunnelPort: 6081, TunnelFlags: ipvs.Csum}},
		{Flags{Real: "10.0.0.11", TUN: true, Weight: "4"}, ipvs.Destination{TunnelType: ipvs.GUE, TunnelPort: 6081, TunnelFlags: ipvs.Csum}},
		{Flags{Real: "10.0.0.12", TUN: true, TunCsum: true}, ipvs.Destination{TunnelType: ipvs.GRE, TunnelFlags: ipvs.Csum}},
		{Flags{Real: "10.0.0.11", TUN: true, TunType: "gre"}, ipvs.Destination{TunnelType: ipvs.GRE, TunnelFlags: ipvs.NoCsum}},
	} {
		e.f.TCP = "10.0.0.100:80"
		if err := c.EditNode(spec(t, e.f)); err != nil {
			t.Fatalf("edit-node %+v: %v", e.f, err)
		}
		d := dest(e.f.Real)
		if d.Forward != ipvs.Tunnel || d.TunnelType != e.want.TunnelType || d.TunnelPort != e.want.TunnelPort || d.TunnelFlags != e.want.TunnelFlags {
			t.Errorf("edit-node %+v: got %s port %d flags %d, want %s port %d flags %d", e.f,
				d.TunnelType, d.TunnelPort, d.TunnelFlags, e.want.TunnelType, e.want.TunnelPort, e.want.TunnelFlags)
		}
	}
	// Options that do not fit the current type are refused, nothing changes.
	n := len(f.Log)
	for _, e := range []struct {
		f    Flags
		want string
	}{
		{Flags{Real: "10.0.0.12", TUN: true, TunPort: "6081"}, "--tun-port is only for --tun-type gue (this one is gre)"},
		{Flags{Real: "10.0.0.12", TUN: true, TunRemCsum: true}, "--tun-remcsum is only for gue tunnels"},
		{Flags{Real: "10.0.0.12", TUN: true, TunType: "gue"}, "--tun-type gue needs --tun-port"},
	} {
		e.f.TCP = "10.0.0.100:80"
		err := c.EditNode(spec(t, e.f))
		if !IsInput(err) || !strings.Contains(err.Error(), e.want) {
			t.Errorf("edit-node %+v: %v, want %q", e.f, err, e.want)
		}
	}
	// add-node without --tun-type means ipip, as in ipvsadm.
	err := c.AddNode(spec(t, Flags{TCP: "10.0.0.100:80", Real: "10.0.0.13", TUN: true, TunCsum: true}))
	if !IsInput(err) || !strings.Contains(err.Error(), "only for gue and gre") {
		t.Errorf("add-node -i --tun-csum: %v", err)
	}
	if err := c.AddNode(spec(t, Flags{TCP: "10.0.0.100:80", Real: "10.0.0.13", TUN: true})); err != nil {
		t.Fatal(err)
	}
	if d := dest("10.0.0.13"); d.TunnelType != ipvs.IPIP {
		t.Errorf("add-node -i: tunnel type %s", d.TunnelType)
	}
	if len(f.Log) != n+1 {
		t.Errorf("refused edits changed something: %q", f.Log[n:])
	}
}

func TestServiceCommands(t *testing.T) {
	c, f, _ := newCtl()
	s := spec(t, Flags{UDP: "10.0.0.100:53", Scheduler: "rr", Persistent: "60", OnePacket: true})
	if err := c.AddService(s); err != nil {
		t.Fatal(err)
	}
	if err := c.AddService(s); err != nil {
		t.Fatal(err)
	}
	if err := c.EditService(spec(t, Flags{UDP: "10.0.0.100:53", Scheduler: "sh", SchedFlags: "sh-port"})); err != nil {
		t.Fatal(err)
	}
	svcs, _ := f.Services()
	got := svcs[0]
	if len(f.Log) != 2 || got.Scheduler != "sh" || got.Timeout != 60 || got.Flags != ipvs.FlagPersistent|ipvs.FlagOnePacket|ipvs.FlagSched2 {
		t.Errorf("log %q service %+v", f.Log, got)
	}
	if err := c.EditService(spec(t, Flags{UDP: "10.0.0.100:53", NoPersistent: true})); err != nil {
		t.Fatal(err)
	}
	svcs, _ = f.Services()
	if svcs[0].Flags&ipvs.FlagPersistent != 0 {
		t.Errorf("--no-persistent kept persistence")
	}
	if err := c.SetTimeouts(ipvs.Timeouts{TCP: 600}); err != nil {
		t.Fatal(err)
	}
	if tm, _ := f.Timeouts(); tm != (ipvs.Timeouts{TCP: 600, TCPFin: 120, UDP: 300}) {
		t.Errorf("timeouts %+v", tm)
	}
	if err := c.Zero(nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Clear(); err != nil {
		t.Fatal(err)
	}
	if svcs, _ := f.Services(); len(svcs) != 0 {
		t.Errorf("clear left %v", svcs)
	}
}

func TestDrainNode(t *testing.T) {
	c, f, out := newCtl()
	if err := c.AddNode(spec(t, Flags{TCP: "10.0.0.100:80", Real: "10.0.0.11"})); err != nil {
		t.Fatal(err)
	}
	k := ipvs.ServiceKey{Protocol: ipvs.TCP, Addr: mustAddr("10.0.0.100"), Port: 80}
	rk := ipvs.DestKey{Addr: mustAddr("10.0.0.11"), Port: 80}
	f.SetCounters(k, rk, 2, 3, ipvs.Stats{})
	var clock time.Time
	c.Now = func() time.Time { return clock }
	c.Sleep = func(d time.Duration) { clock = clock.Add(d) }
	polls := 0
	f.BeforeList = func(f *ipvs.Fake) {
		polls++
		if polls == 4 {
			f.SetCounters(k, rk, 0, 1, ipvs.Stats{})
		}
		if polls == 6 {
			f.SetCounters(k, rk, 0, 0, ipvs.Stats{})
		}
	}
	if err := c.DrainNode(spec(t, Flags{TCP: "10.0.0.100:80", Real: "10.0.0.11"}), DrainOptions{Timeout: time.Minute}); err != nil {
		t.Fatal(err)
	}
	want := []string{"update-dest TCP 10.0.0.100:80 10.0.0.11:80", "remove-dest TCP 10.0.0.100:80 10.0.0.11:80"}
	if got := f.Log[2:]; strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("drain changes %q", got)
	}
	for _, line := range []string{"weight 1 -> 0", "2 active, 3 inactive", "0 active, 1 inactive", "0 active, 0 inactive", "drained and removed"} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("drain output lacks %q:\n%s", line, out.String())
		}
	}
}

func TestDrainTimeout(t *testing.T) {
	c, f, _ := newCtl()
	if err := c.AddNode(spec(t, Flags{TCP: "10.0.0.100:80", Real: "10.0.0.11"})); err != nil {
		t.Fatal(err)
	}
	k := ipvs.ServiceKey{Protocol: ipvs.TCP, Addr: mustAddr("10.0.0.100"), Port: 80}
	rk := ipvs.DestKey{Addr: mustAddr("10.0.0.11"), Port: 80}
	f.SetCounters(k, rk, 1, 0, ipvs.Stats{})
	var clock time.Time
	c.Now = func() time.Time { return clock }
	c.Sleep = func(d time.Duration) { clock = clock.Add(d) }
	s := spec(t, Flags{TCP: "10.0.0.100:80", Real: "10.0.0.11"})
	err := c.DrainNode(s, DrainOptions{Timeout: 5 * time.Second})
	if !errors.Is(err, ErrDrainTimeout) {
		t.Fatalf("drain: %v", err)
	}
	ds, _ := f.Destinations(k)
	if len(ds) != 1 || ds[0].Weight != 0 {
		t.Errorf("after timeout: %+v (want kept at weight 0)", ds)
	}
	if err := c.DrainNode(s, DrainOptions{Timeout: 5 * time.Second, Force: true}); err != nil {
		t.Fatal(err)
	}
	if ds, _ := f.Destinations(k); len(ds) != 0 {
		t.Errorf("--force left %v", ds)
	}
}

func TestRestoreIdempotentAndAtomicOnBadInput(t *testing.T) {
	c, f, out := newCtl()
	c.EnableForwarding = true
	n, err := c.Restore(strings.NewReader(canonical), RestoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ns, nd := mustTable(t, canonical).Size()
	if n != ns+nd {
		t.Errorf("first restore: %d changes, want %d", n, ns+nd)
	}
	before := len(f.Log)
	if n, err := c.Restore(strings.NewReader(canonical), RestoreOptions{}); err != nil || n != 0 {
		t.Errorf("second restore: %d changes, %v", n, err)
	}
	bad := canonical + "-a -t 10.0.0.100:80 -r 10.0.0.99:81 -g -y 3\n"
	if _, err := c.Restore(strings.NewReader(bad), RestoreOptions{}); !IsInput(err) || !strings.Contains(err.Error(), fmt.Sprintf("line %d:", strings.Count(canonical, "\n")+1)) {
		t.Errorf("bad restore: %v", err)
	}
	if len(f.Log) != before {
		t.Errorf("bad input changed the table: %q", f.Log[before:])
	}
	var saved bytes.Buffer
	tab, _ := ReadTable(f)
	Save(&saved, tab)
	if saved.String() != canonical {
		t.Errorf("save after restore:\n%s", saved.String())
	}
	_ = out
}

func TestSaveKeepsFlag3ForShAndMh(t *testing.T) {
	for _, sched := range []string{"sh", "mh"} {
		c, f, _ := newCtl()
		in := "-A -t 10.0.0.1:80 -s " + sched + " -b " + sched + "-fallback,flag-3\n"
		if _, err := c.Restore(strings.NewReader(in), RestoreOptions{}); err != nil {
			t.Fatal(err)
		}
		tab, _ := ReadTable(f)
		var saved bytes.Buffer
		Save(&saved, tab)
		if !strings.Contains(saved.String(), "flag-3") {
			t.Fatalf("%s: save lost flag-3:\n%s", sched, saved.String())
		}
		if n, err := c.Restore(strings.NewReader(saved.String()), RestoreOptions{}); err != nil || n != 0 {
			t.Fatalf("%s: restoring the saved table made %d changes, %v", sched, n, err)
		}
	}
}

func TestRestoreDryRunNeverWritesForwarding(t *testing.T) {
	c, f, out := newCtl()
	c.EnableForwarding = true
	in := "-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r 10.0.0.11:8080 -m -w 1\n"
	if _, err := c.Restore(strings.NewReader(in), RestoreOptions{DryRun: true}); !errors.Is(err, ErrChangesPending) {
		t.Fatal(err)
	}
	if v := c.Sysctl.(*sysctl.Fake).Value("net.ipv4.ip_forward"); v != "0" {
		t.Fatalf("dry run set ip_forward=%s", v)
	}
	if !strings.Contains(out.String(), "would set net.ipv4.ip_forward=1") || len(f.Log) != 0 {
		t.Fatalf("output %q, kernel log %v", out.String(), f.Log)
	}
}

func TestDrainNeverSleepsPastItsTimeout(t *testing.T) {
	c, f, _ := newCtl()
	if err := c.AddNode(spec(t, Flags{TCP: "10.0.0.100:80", Real: "10.0.0.11"})); err != nil {
		t.Fatal(err)
	}
	k := ipvs.ServiceKey{Protocol: ipvs.TCP, Addr: mustAddr("10.0.0.100"), Port: 80}
	f.SetCounters(k, ipvs.DestKey{Addr: mustAddr("10.0.0.11"), Port: 80}, 1, 0, ipvs.Stats{})
	var clock time.Time
	start := clock
	c.Now = func() time.Time { return clock }
	c.Sleep = func(d time.Duration) { clock = clock.Add(d) }
	s := spec(t, Flags{TCP: "10.0.0.100:80", Real: "10.0.0.11"})
	if err := c.DrainNode(s, DrainOptions{Timeout: 5 * time.Second, Interval: time.Minute}); !errors.Is(err, ErrDrainTimeout) {
		t.Fatalf("drain: %v", err)
	}
	if waited := clock.Sub(start); waited > 5*time.Second {
		t.Fatalf("--timeout 5s --interval 1m waited %v", waited)
	}
}

func TestRestoreRefusesEmptyPersistenceAndClearWithKeepExtra(t *testing.T) {
	c, f, _ := newCtl()
	_, err := c.Restore(strings.NewReader("-A -t 10.0.0.1:80 -s rr --persistent=\n"), RestoreOptions{})
	if !IsInput(err) || !strings.Contains(err.Error(), "line 1:") {
		t.Fatalf("--persistent= : %v", err)
	}
	in := "-C\n-A -t 10.0.0.1:80 -s rr\n"
	_, err = c.Restore(strings.NewReader(in), RestoreOptions{PlanOptions: PlanOptions{KeepExtra: true}})
	if !IsInput(err) || !strings.Contains(err.Error(), "line 1: -C") {
		t.Fatalf("-C with --keep-extra: %v", err)
	}
	if len(f.Log) != 0 {
		t.Fatalf("refused input changed the table: %v", f.Log)
	}
}

// -M 0.0.0.0 (IPv4 persistence over all clients, /0) is a netmask like any
// other: ipvsadm -S writes it, the kernel keeps it. It restores, saves and
// lists as ipvsadm does, and an edit that leaves -M out keeps it.
func TestNetmaskZero(t *testing.T) {
	for _, v := range []string{"0.0.0.0", "0"} {
		tab, err := ParseRules(strings.NewReader("-A -t 10.0.0.100:80 -s rr -p 60 -M " + v + "\n"))
		if err != nil || tab.Services[0].Service.Netmask != 0 {
			t.Errorf("-M %s: %+v, %v", v, tab, err)
		}
	}
	if _, err := Parse(Flags{TCP: "[fd00::100]:80", Persistent: "60", Netmask: "0"}); !IsInput(err) {
		t.Errorf("IPv6 -M 0 (the kernel refuses /0 for IPv6): %v", err)
	}

	c, f, _ := newCtl()
	in := "-A -t 10.0.0.100:80 -s rr -p 60 -M 0.0.0.0\n-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 1\n"
	if _, err := c.Restore(strings.NewReader(in), RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	saveIs := func(when, want string) {
		t.Helper()
		tab, err := ReadTable(f)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := Save(&b, tab); err != nil {
			t.Fatal(err)
		}
		if b.String() != want {
			t.Errorf("save %s:\n%s\nwant:\n%s", when, b.String(), want)
		}
	}
	saveIs("after restore", in)
	if n, err := c.Restore(strings.NewReader(in), RestoreOptions{}); n != 0 || err != nil {
		t.Errorf("second restore: %d changes, %v", n, err)
	}
	var b bytes.Buffer
	tab, _ := ReadTable(f)
	if err := List(&b, ipvs.Info{}, tab, ListOptions{}); err != nil || !strings.Contains(b.String(), "TCP  10.0.0.100:80 rr persistent 60 mask 0.0.0.0\n") {
		t.Errorf("list: %v\n%s", err, b.String())
	}
	if err := c.EditService(spec(t, Flags{TCP: "10.0.0.100:80", Scheduler: "wrr"})); err != nil {
		t.Fatal(err)
	}
	saveIs("after edit-service -s wrr", strings.Replace(in, "-s rr", "-s wrr", 1))
	// A new service without -M still gets one client per group.
	if err := c.AddService(spec(t, Flags{TCP: "10.0.0.100:81", Persistent: "60"})); err != nil {
		t.Fatal(err)
	}
	if svcs, _ := f.Services(); svcs[1].Netmask != 32 {
		t.Errorf("default netmask /%d", svcs[1].Netmask)
	}
	// Restore can also turn /0 back into /32 and back.
	if n, err := c.Restore(strings.NewReader(strings.Replace(in, " -M 0.0.0.0", "", 1)), RestoreOptions{}); n != 2 || err != nil {
		t.Errorf("restore to /32: %d changes (want edit + removal), %v", n, err)
	}
	saveIs("after restore to /32", strings.Replace(in, " -M 0.0.0.0", "", 1))
}
