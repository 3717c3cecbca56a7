package health

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// BenchmarkTCPCheck1000 runs TCP checks round-robin over 1,000 checkers,
// each against its own local listener: ns/op and allocs/op are per check.
// cpu-ns/check is the process's user+system CPU (both ends of the
// connection, since the listeners live in this process too), and
// core-share@1000/s what 1,000 real servers checked every second would cost.
// Figures only, no pass/fail threshold.
func BenchmarkTCPCheck1000(b *testing.B) {
	b.Run("listeners=in-process", func(b *testing.B) {
		var addrs []string
		for i := 0; i < benchN; i++ {
			addrs = append(addrs, listenTCP(b).Addr().String())
		}
		benchTCP(b, addrs)
	})
	// The director's side alone (as far as loopback allows: the kernel
	// still does some of the listener's work in the prober's context).
	b.Run("listeners=other-process", func(b *testing.B) { benchTCP(b, childListeners(b)) })
}

const benchN = 1000

func benchTCP(b *testing.B, addrs []string) {
	const n = benchN
	checkers := make([]Checker, n)
	for i, a := range addrs {
		ip, port := addrOf(b, a)
		c, err := NewChecker(Definition{Type: TCP, Target: ip, Port: port, Timeout: time.Second})
		if err != nil {
			b.Fatal(err)
		}
		checkers[i] = c
	}
	ctx := context.Background()
	before := cpu(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := checkers[i%n].Check(ctx); !r.OK {
			b.Fatalf("check %d: %s", i, r.Reason)
		}
	}
	b.StopTimer()
	perCheck := float64(cpu(b)-before) / float64(b.N)
	b.ReportMetric(perCheck, "cpu-ns/check")
	b.ReportMetric(perCheck*n/1e9, "core-share@1000/s")
}

func cpu(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

const childEnv = "LVSNODE_HEALTH_BENCH_LISTENERS"

// childListeners starts this test binary as a process holding benchN
// listeners and returns their addresses.
func childListeners(b *testing.B) []string {
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchListenerProcess$")
	cmd.Env = append(os.Environ(), childEnv+"=1")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { stdin.Close(); cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	var addrs []string
	for len(addrs) < benchN && sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "listen "); ok {
			addrs = append(addrs, a)
		}
	}
	if len(addrs) != benchN {
		b.Fatalf("listener process gave %d addresses: %v", len(addrs), sc.Err())
	}
	go io.Copy(io.Discard, stdout)
	return addrs
}

// TestBenchListenerProcess is the listener process of the benchmark; it
// does nothing in a normal test run.
func TestBenchListenerProcess(t *testing.T) {
	if os.Getenv(childEnv) != "1" {
		t.Skip("helper process of BenchmarkTCPCheck1000")
	}
	for i := 0; i < benchN; i++ {
		fmt.Printf("listen %s\n", listenTCP(t).Addr())
	}
	io.Copy(io.Discard, os.Stdin) // until the benchmark closes stdin
}
