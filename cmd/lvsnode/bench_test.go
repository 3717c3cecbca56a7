package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/internal/netnstest"
)

// seedScript is the seeds' hand recipe for a DR real server (tutorial 000),
// for 10 VIPs, with iproute2 instead of ifconfig/route: the reference the
// agent is measured against in the same run.
func seedScript(vips []string) string {
	var b strings.Builder
	b.WriteString("set -e\n")
	for _, k := range []string{"lo/arp_ignore 1", "lo/arp_announce 2", "all/arp_ignore 1", "all/arp_announce 2"} {
		f := strings.Fields(k)
		fmt.Fprintf(&b, "echo %s > /proc/sys/net/ipv4/conf/%s\n", f[1], f[0])
	}
	for _, v := range vips {
		fmt.Fprintf(&b, "ip addr add %s/32 dev lo\nip route add %s/32 dev lo\n", v, v)
	}
	return b.String()
}

func seedUndo(vips []string) string {
	var b strings.Builder
	for _, v := range vips {
		fmt.Fprintf(&b, "ip route del %s/32 dev lo\nip addr del %s/32 dev lo\n", v, v)
	}
	b.WriteString("for k in lo/arp_ignore lo/arp_announce all/arp_ignore all/arp_announce; do echo 0 > /proc/sys/net/ipv4/conf/$k; done\n")
	return b.String()
}

func sh(b *testing.B, script string) {
	if out, err := exec.Command("sh", "-c", script).CombinedOutput(); err != nil {
		b.Fatalf("%v\n%s", err, out)
	}
}

func lvsnodeB(b *testing.B, args ...string) {
	if out, err := exec.Command(lvsnodeBin(b), args...).CombinedOutput(); err != nil {
		b.Fatalf("lvsnode %v: %v\n%s", args, err, out)
	}
}

// BenchmarkApplyVersusSeedScript10VIPs times `lvsnode agent apply` (which
// also verifies by reading back) against the seeds' shell recipe (which
// verifies nothing), each from a clean namespace, and reports the ratio.
func BenchmarkApplyVersusSeedScript10VIPs(b *testing.B) {
	netnstest.RequireNetnsForBench(b)
	lvsnodeBin(b) // build before timing
	var vips, args []string
	for i := 0; i < 10; i++ {
		v := fmt.Sprintf("10.0.0.%d", 100+i)
		vips = append(vips, v)
		args = append(args, "--vip", v)
	}
	state := filepath.Join(b.TempDir(), "state.json")
	apply := append([]string{"agent", "apply", "--state-file", state}, args...)
	var agentT, seedT time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		lvsnodeB(b, apply...)

		agentT += time.Since(start)
		lvsnodeB(b, "agent", "teardown", "--state-file", state)

		start = time.Now()
		sh(b, seedScript(vips))
		seedT += time.Since(start)
		sh(b, seedUndo(vips))
	}
	n := float64(b.N)
	b.ReportMetric(float64(agentT.Microseconds())/1000/n, "lvsnode-ms/op")
	b.ReportMetric(float64(seedT.Microseconds())/1000/n, "seedscript-ms/op")
	b.ReportMetric(float64(agentT)/float64(seedT), "ratio")
}

// BenchmarkRunToReady10VIPs: from exec of `lvsnode agent run` to READY=1 on
// the notify socket, 10 VIPs on a clean namespace.
func BenchmarkRunToReady10VIPs(b *testing.B) {
	netnstest.RequireNetnsForBench(b)
	bin := lvsnodeBin(b)
	dir := b.TempDir()
	state := filepath.Join(dir, "state.json")
	args := []string{"agent", "run", "--state-file", state, "--teardown-on-stop"}
	for i := 0; i < 10; i++ {
		args = append(args, "--vip", fmt.Sprintf("10.0.0.%d", 100+i))
	}
	var total time.Duration
	for i := 0; i < b.N; i++ {
		sockPath := filepath.Join(dir, fmt.Sprintf("n%d.sock", i))
		ns := listenNotify(b, sockPath)
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sockPath)
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		select {
		case <-ns.ready:
		case <-time.After(10 * time.Second):
			b.Fatal("no READY=1")
		}
		total += time.Since(start)
		b.StopTimer()
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		b.StartTimer()
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms-to-READY")
}
