package agent

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/lvsnode/lvsnode/internal/netnstest"
	"github.com/lvsnode/lvsnode/systemd"
)

func tenVIPs(b *testing.B) Options {
	var c Config
	for i := 0; i < 10; i++ {
		c.VIPs = append(c.VIPs, Value{S: fmt.Sprintf("10.0.0.%d", 100+i), Where: "bench"})
	}
	o, err := c.Options()
	if err != nil {
		b.Fatal(err)
	}
	return o
}

// BenchmarkApplyToVerified10VIPs: from nothing to 10 VIPs bound, routes,
// ARP sysctls written and everything read back (one op = one apply).
func BenchmarkApplyToVerified10VIPs(b *testing.B) {
	netnstest.RequireNetnsForBench(b)
	a := kernelAgent(b)
	o := tenVIPs(b)
	p := NewPlan(o)
	b.Cleanup(func() { a.Teardown(nil) })
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if _, _, err := a.Teardown(nil); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, _, err := a.Apply(p, o); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDriftRepair: a VIP is deleted behind the running daemon's back;
// one op is the time from the deletion to the kernel's RTM_NEWADDR for the
// re-added VIP, seen by an independent subscription.
func BenchmarkDriftRepair(b *testing.B) {
	netnstest.RequireNetnsForBench(b)
	a := kernelAgent(b)
	o := tenVIPs(b)
	o.ResyncInterval = time.Hour // only the netlink event may trigger the repair
	o.TeardownOnStop = true
	d := NewDaemon(a, &systemd.Recorder{}, slog.New(slog.NewTextHandler(io.Discard, nil)), o)
	stop := runDaemon(b, d)
	defer stop()
	waitFor(b, "ready", func() bool { ok, _ := d.Ready(); return ok })

	updates := make(chan netlink.AddrUpdate, 64)
	done := make(chan struct{})
	defer close(done)
	if err := netlink.AddrSubscribe(updates, done); err != nil {
		b.Fatal(err)
	}
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		b.Fatal(err)
	}
	vip := &netlink.Addr{IPNet: &net.IPNet{IP: net.ParseIP("10.0.0.105").To4(), Mask: net.CIDRMask(32, 32)}}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := netlink.AddrDel(lo, vip); err != nil {
			b.Fatal(err)
		}
		for back := false; !back; {
			select {
			case u := <-updates:
				back = u.NewAddr && u.LinkAddress.IP.Equal(vip.IP)
			case <-ctx.Done():
				b.Fatal("VIP not repaired")
			}
		}
		// Untimed: let the daemon settle (its repair's own events queue one
		// more reconcile) before the next deletion, so that reconcile's
		// read-back does not race it.
		b.StopTimer()
		waitFor(b, "repair counted", func() bool { return d.repairs.Load() >= uint64(i+1) })
		time.Sleep(2 * time.Millisecond)
		waitFor(b, "ready", func() bool { ok, _ := d.Ready(); return ok })
		b.StartTimer()
	}
	b.StopTimer()
	// A reconcile whose read-back races the next deletion fails and is
	// retried on the next event; count them rather than hide them.
	b.ReportMetric(float64(d.failures.Load()), "failed-reconciles")
	b.ReportMetric(float64(d.repairs.Load())/float64(b.N), "repairs/op")
}
