package agent

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/internal/netnstest"
	"github.com/lvsnode/lvsnode/systemd"
)

// startChurn adds and deletes n foreign /32 addresses on lo in a loop, in a
// separate process (iproute2's batch mode), as other software on a busy
// host would: its CPU is not the agent's. It returns a stop function that
// also removes whatever it left.
func startChurn(tb testing.TB, n int) func() {
	tb.Helper()
	dir := tb.TempDir()
	var add, del strings.Builder
	for i := 0; i < n; i++ {
		a := fmt.Sprintf("198.18.%d.%d/32", i/250, i%250+1)
		fmt.Fprintf(&add, "addr add %s dev lo\n", a)
		fmt.Fprintf(&del, "addr del %s dev lo\n", a)
	}
	addF, delF := filepath.Join(dir, "add"), filepath.Join(dir, "del")
	os.WriteFile(addF, []byte(add.String()), 0o644)
	os.WriteFile(delF, []byte(del.String()), 0o644)
	cmd := exec.Command("sh", "-c", fmt.Sprintf("while :; do ip -force -batch %s; ip -force -batch %s; done >/dev/null 2>&1", addF, delF))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	return func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		exec.Command("ip", "-force", "-batch", delF).Run()
	}
}

// isLocal tells whether ip is a local address now, without a netlink dump
// (which churn interrupts): binding to it succeeds only then.
func isLocal(ip string) bool {
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Fault 3 on the local kernel: 2,000 foreign addresses churning on lo
// while the daemon runs. Readiness must hold (no interrupted dump counts
// as drift) and the churn must not drive reconciles.
func TestKernelChurnKeepsReadyAndCostsNoApplies(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	a := kernelAgent(t)
	dumps := &atomic.Int64{}
	a.NL = countingNL{a.NL, dumps}
	o := opts(t, "10.0.0.100", "fd00::100")
	o.ResyncInterval = time.Second
	d := NewDaemon(a, &systemd.Recorder{}, slog.New(slog.NewTextHandler(io.Discard, nil)), o)
	stop := runDaemon(t, d)
	defer stop()
	waitFor(t, "ready", func() bool { ok, _ := d.Ready(); return ok })
	before := dumps.Load()
	stopChurn := startChurn(t, 2000)
	notReady, samples := 0, 0
	var reasons []string
	for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		samples++
		if ok, why := d.Ready(); !ok {
			notReady++
			reasons = append(reasons, why...)
		}
	}
	stopChurn()
	n := dumps.Load() - before
	t.Logf("3 s of churn: %d of %d readiness samples not ready, %d address dumps", notReady, samples, n)
	if notReady > 0 {
		t.Errorf("not ready in %d of %d samples with no VIP missing: %q", notReady, samples, reasons[:min(3, len(reasons))])
	}
	// The 1 s re-list reads 3 or 4 times; interrupted reads are retried.
	if n > 40 {
		t.Errorf("unrelated churn caused %d address dumps in 3 s", n)
	}
}
