package agent

// Integration tier: the real kernel in a fresh network namespace (root
// only), judged by iproute2 and /proc/sys as independent oracles.

import (
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/internal/netnstest"
	"github.com/lvsnode/lvsnode/loopback"
	"github.com/lvsnode/lvsnode/sysctl"
	"github.com/lvsnode/lvsnode/systemd"
)

func kernelAgent(t testing.TB) *Agent {
	t.Helper()
	nl, err := loopback.NewKernel()
	if err != nil {
		t.Fatal(err)
	}
	sys, err := sysctl.New(sysctl.DefaultRoot)
	if err != nil {
		t.Fatal(err)
	}
	return &Agent{NL: nl, Sys: sys, StateFile: filepath.Join(t.TempDir(), "state.json")}
}

// ipOut runs iproute2 (the oracle) and returns its output.
func ipOut(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func procSys(t testing.TB, key string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/" + strings.ReplaceAll(key, ".", "/"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func writeProcSys(t testing.TB, key, v string) {
	t.Helper()
	if err := os.WriteFile("/proc/sys/"+strings.ReplaceAll(key, ".", "/"), []byte(v), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestKernelApplyTwiceGivesOneAddressAndOneRoute(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	a := kernelAgent(t)
	o := opts(t, "10.0.0.100", "fd00::100")
	for i := 0; i < 2; i++ {
		if _, _, err := a.Apply(NewPlan(o), o); err != nil {
			t.Fatalf("apply %d: %v", i+1, err)
		}
	}
	v4 := ipOut(t, "-4", "addr", "show", "dev", "lo")
	if n := strings.Count(v4, "inet 10.0.0.100/32 "); n != 1 || !strings.Contains(v4, "lo:lvsnode") {
		t.Fatalf("want one labelled 10.0.0.100/32, got %d:\n%s", n, v4)
	}
	if n := strings.Count(ipOut(t, "-6", "addr", "show", "dev", "lo"), "inet6 fd00::100/128 "); n != 1 {
		t.Fatalf("want one fd00::100/128, got %d", n)
	}
	if r := ipOut(t, "-4", "route", "show", "table", "main", "10.0.0.100"); strings.Count(r, "10.0.0.100 dev lo proto 76 scope link") != 1 {
		t.Fatalf("want one proto 76 host route:\n%s", r)
	}
	// No IPv6 route of lvsnode's: the kernel's own prefix route does it.
	if r := ipOut(t, "-6", "route", "show", "table", "main", "fd00::100"); strings.Contains(r, "proto 76") || !strings.Contains(r, "fd00::100 dev lo proto kernel") {
		t.Fatalf("want only the kernel's IPv6 route:\n%s", r)
	}
	for _, k := range []string{"all.arp_ignore", "lo.arp_ignore"} {
		if v := procSys(t, "net.ipv4.conf."+k); v != "1" {
			t.Fatalf("%s = %s", k, v)
		}
	}
	for _, k := range []string{"all.arp_announce", "lo.arp_announce"} {
		if v := procSys(t, "net.ipv4.conf."+k); v != "2" {
			t.Fatalf("%s = %s", k, v)
		}
	}
}

func TestKernelTeardownRestoresAndLeavesForeignAddress(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	writeProcSys(t, "net.ipv4.conf.lo.arp_announce", "1") // the operator's value
	ipOut(t, "addr", "add", "192.0.2.7/32", "dev", "lo")
	ipOut(t, "route", "add", "198.51.100.0/24", "dev", "lo") // a foreign route via lo
	a := kernelAgent(t)
	o := opts(t, "10.0.0.100")
	if _, _, err := a.Apply(NewPlan(o), o); err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Teardown(nil); err != nil {
		t.Fatal(err)
	}
	addrs := ipOut(t, "-4", "addr", "show", "dev", "lo")
	if strings.Contains(addrs, "10.0.0.100") || !strings.Contains(addrs, "192.0.2.7/32") {
		t.Fatalf("after teardown:\n%s", addrs)
	}
	routes := ipOut(t, "-4", "route", "show", "table", "main")
	if strings.Contains(routes, "10.0.0.100") || !strings.Contains(routes, "198.51.100.0/24") {
		t.Fatalf("routes after teardown:\n%s", routes)
	}
	if v := procSys(t, "net.ipv4.conf.lo.arp_announce"); v != "1" {
		t.Fatalf("lo.arp_announce = %s, want the original 1", v)
	}
	if v := procSys(t, "net.ipv4.conf.all.arp_ignore"); v != "0" {
		t.Fatalf("all.arp_ignore = %s, want the original 0", v)
	}
}

func TestKernelDaemonRepairsDeletedVIPAndResetSysctl(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	a := kernelAgent(t)
	o := opts(t, "10.0.0.100")
	o.ResyncInterval = 100 * time.Millisecond
	d := NewDaemon(a, &systemd.Recorder{}, slog.New(slog.NewTextHandler(io.Discard, nil)), o)
	stop := runDaemon(t, d)
	defer stop()
	waitFor(t, "ready", func() bool { ok, _ := d.Ready(); return ok })

	start := time.Now()
	ipOut(t, "addr", "del", "10.0.0.100/32", "dev", "lo")
	waitFor(t, "VIP re-added", func() bool {
		return strings.Contains(ipOut(t, "-4", "addr", "show", "dev", "lo"), "10.0.0.100/32")
	})
	t.Logf("deleted VIP back after %v", time.Since(start))
	waitFor(t, "host route re-added", func() bool {
		return strings.Contains(ipOut(t, "-4", "route", "show", "table", "main"), "10.0.0.100 dev lo proto 76")
	})

	start = time.Now()
	writeProcSys(t, "net.ipv4.conf.all.arp_ignore", "0")
	waitFor(t, "arp_ignore repaired", func() bool { return procSys(t, "net.ipv4.conf.all.arp_ignore") == "1" })
	t.Logf("reset sysctl repaired after %v (resync interval %v)", time.Since(start), o.ResyncInterval)

	ipOut(t, "link", "set", "lo", "down")
	waitFor(t, "lo up again", func() bool { return strings.Contains(ipOut(t, "link", "show", "lo"), ",UP") })
}

func runDaemon(t testing.TB, d *Daemon) func() {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, nil) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
