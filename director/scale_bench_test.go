package director

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/health"
	"github.com/lvsnode/lvsnode/health/healthtest"
	"github.com/lvsnode/lvsnode/ipvs"
)

// The director at the size of the keepalived benchmark
// (lab/bench/pair-vs-keepalived.sh): one service with 1,000 real servers,
// each with its own TCP check (so 1,000 check runs), on ipvs.Fake with a
// fake clock (no probe runs unless a test advances it).
const scaleNodes = 1000

func scaleConfig(n int) string {
	var b strings.Builder
	b.WriteString("services:\n  - service: tcp 10.0.0.100:9109\n    scheduler: wrr\n    check: {type: tcp, interval: 1s, timeout: 1s}\n    nodes:\n")
	for i := range n {
		fmt.Fprintf(&b, "      - {address: 10.1.%d.%d, method: dr}\n", i/250, i%250+1)
	}
	return b.String()
}

// scaleDaemon is a started daemon over n real servers; every checker says OK.
func scaleDaemon(tb testing.TB, n int) (*Daemon, *ipvs.Fake, *healthtest.FakeClock) {
	tb.Helper()
	cfg, err := ParseConfig("bench.yaml", []byte(scaleConfig(n)))
	if err != nil {
		tb.Fatal(err)
	}
	fake, clock := ipvs.NewFake(), healthtest.NewFakeClock()
	d := New(cfg, Options{IPVS: fake, Store: &MemStore{}, Clock: clock, NoLock: true,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		NewChecker: func(health.Definition) (health.Checker, error) {
			return healthtest.NewChecker(clock, healthtest.OK), nil
		}})
	if err := d.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(d.Close)
	return d, fake, clock
}

// BenchmarkStart1000: New + Start (load, compile, 1,000 subscriptions, the
// first reconcile creating 1,000 real servers).
func BenchmarkStart1000(b *testing.B) {
	for range b.N {
		d, _, _ := scaleDaemon(b, scaleNodes)
		d.Close()
	}
}

// BenchmarkStatus1000: one GET /v1/status worth of work.
func BenchmarkStatus1000(b *testing.B) {
	d, _, _ := scaleDaemon(b, scaleNodes)
	b.ResetTimer()
	for range b.N {
		if st := d.Status(); len(st.Services[0].Nodes) != scaleNodes {
			b.Fatal(len(st.Services[0].Nodes))
		}
	}
}

// BenchmarkReconcileIdle1000: a reconcile of a table already right.
func BenchmarkReconcileIdle1000(b *testing.B) {
	d, _, _ := scaleDaemon(b, scaleNodes)
	b.ResetTimer()
	for range b.N {
		if err := d.Reconcile(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRiseAll1000: every check goes up (rise 2: two probes each),
// then the reconcile loop catches up: the startup of the CPU benchmark.
func BenchmarkRiseAll1000(b *testing.B) {
	for range b.N {
		b.StopTimer()
		d, _, clock := scaleDaemon(b, scaleNodes)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		clock.BlockUntil(b, d.sched.Runs()+2)
		b.StartTimer()
		for range 2 {
			clock.Advance(interval * 5) // 1 s: every run probes once
			clock.BlockUntil(b, d.sched.Runs()+2)
		}
		if err := d.Reconcile(ctx); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cancel()
		<-done
		d.Close()
	}
}

// BenchmarkAddNode1000: `controller add-node` through the API into a
// daemon holding 1,000 real servers (then removed again).
func BenchmarkAddNode1000(b *testing.B) {
	d, _, _ := scaleDaemon(b, scaleNodes)
	ctx := context.Background()
	ref := NodeRef{Service: "tcp 10.0.0.100:9109", Address: "10.3.0.1"}
	b.ResetTimer()
	for range b.N {
		if err := d.AddNode(ctx, Node{NodeRef: ref, Method: "dr"}); err != nil {
			b.Fatal(err)
		}
		if err := d.RemoveNode(ctx, ref); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStartRealTCP1000: Start with the real clock and real TCP
// checks to 1,000 loopback addresses (127.1.X.Y) on one listener, so the
// checks already added probe and report their first state while the
// others are still being added: the startup of `controller run` in the
// CPU benchmark. It ends when every real server is up in the fake.
func BenchmarkStartRealTCP1000(b *testing.B) {
	ln, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	y := strings.ReplaceAll(scaleConfig(scaleNodes), "10.1.", "127.1.")
	y = strings.Replace(y, "interval: 1s, timeout: 1s", fmt.Sprintf("interval: 1s, timeout: 1s, port: %d", port), 1)
	cfg, err := ParseConfig("bench.yaml", []byte(y))
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		fake := ipvs.NewFake()
		t0 := time.Now()
		d := New(cfg, Options{IPVS: fake, Store: &MemStore{}, NoLock: true,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		ctx, cancel := context.WithCancel(context.Background())
		if err := d.Start(ctx); err != nil {
			b.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		deadline := time.Now().Add(2 * time.Minute)
		for up := 0; up < scaleNodes; up = upIn(fake) {
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d real servers up after 2 minutes", up, scaleNodes)
			}
			time.Sleep(100 * time.Millisecond)
		}
		b.ReportMetric(float64(time.Since(t0).Milliseconds()), "ms-to-all-up")
		cancel()
		<-done
		d.Close()
	}
}

// upIn counts the real servers at a weight above 0 in the fake.
func upIn(f *ipvs.Fake) int {
	n := 0
	svcs, _ := f.Services()
	for _, s := range svcs {
		ds, _ := f.Destinations(s.ServiceKey)
		for _, x := range ds {
			if x.Weight > 0 {
				n++
			}
		}
	}
	return n
}

// servicesConfig is the change benchmark's director: n services of one
// real server each, no checks.
func servicesConfig(n int) string {
	var b strings.Builder
	b.WriteString("services:\n  - service: tcp 10.0.0.100:8080\n    scheduler: wrr\n    nodes: [{address: 10.0.0.11, method: dr}]\n")
	for i := range n {
		fmt.Fprintf(&b, "  - service: tcp 10.2.%d.%d:80\n    scheduler: wrr\n    nodes: [{address: 10.0.0.11, method: dr}]\n", i/250, i%250+1)
	}
	return b.String()
}

// BenchmarkAddNodeServices1000: `controller add-node` through the API into
// a daemon holding 1,000 services, until the kernel (the fake) has it: the
// lab bench's "runtime change". The API call writes it itself (a scoped
// reconcile of the one service); were it left to the loop, the full
// reconcile that writes it is timed too. reads/op: kernel reads per change.
func BenchmarkAddNodeServices1000(b *testing.B) {
	cfg, err := ParseConfig("bench.yaml", []byte(servicesConfig(scaleNodes)))
	if err != nil {
		b.Fatal(err)
	}
	k := &countingIPVS{Client: ipvs.NewFake()}
	d := New(cfg, Options{IPVS: k, Store: &MemStore{}, Clock: healthtest.NewFakeClock(), NoLock: true,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := d.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	ref := NodeRef{Service: "tcp 10.0.0.100:8080", Address: "10.0.0.12"}
	svc, _ := ParseService(ref.Service)
	has := func() bool {
		ds, _ := k.Client.Destinations(svc)
		return len(ds) == 2
	}
	reads := 0
	b.ResetTimer()
	for range b.N {
		k.reads = 0
		if err := d.AddNode(ctx, Node{NodeRef: ref, Method: "dr"}); err != nil {
			b.Fatal(err)
		}
		if !has() {
			if err := d.Reconcile(ctx); err != nil {
				b.Fatal(err)
			}
		}
		reads += k.reads
		b.StopTimer()
		if !has() {
			b.Fatal("the real server is not in the kernel")
		}
		if err := d.RemoveNode(ctx, ref); err != nil {
			b.Fatal(err)
		}
		if err := d.Reconcile(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(reads)/float64(b.N), "reads/op")
}
