package health

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkScheduled1000 runs the Scheduler on the real clock with 1,000
// runs, each its own key, as the director daemon does for 1,000 real
// servers: ns/op and cpu-ns/check are per probe, the whole process's CPU
// (scheduler, probes, and for TCP the listeners' kernel work that loopback
// does in the prober's context). core-share@1000/s is what 1,000 real
// servers checked every second cost; probe=instant is the scheduler alone.
// Figures only, no pass/fail threshold.
func BenchmarkScheduled1000(b *testing.B) {
	b.Run("probe=instant,interval=100ms", func(b *testing.B) {
		benchScheduled(b, 100*time.Millisecond, func(i int, d Definition) (Checker, error) { return instant{}, nil })
	})
	b.Run("probe=tcp,interval=1s", func(b *testing.B) {
		addrs := childListeners(b)
		benchScheduled(b, time.Second, func(i int, d Definition) (Checker, error) {
			ip, port := addrOf(b, addrs[i])
			d.Target, d.Port = ip, port
			return NewChecker(d)
		})
	})
}

type instant struct{}

func (instant) Check(context.Context) Result { return pass(time.Now(), "instant") }

func benchScheduled(b *testing.B, interval time.Duration, build func(int, Definition) (Checker, error)) {
	var probes, failed atomic.Int64
	index := map[Key]int{}
	s := NewScheduler(context.Background(), Options{
		NewChecker: func(d Definition) (Checker, error) { return build(index[d.Key()], d) },
		OnProbe: func(_ Definition, r Result) {
			probes.Add(1)
			if !r.OK {
				failed.Add(1)
			}
		}})
	defer s.Close()
	for i := range benchN {
		d := Definition{Type: TCP, Target: loopback, Port: uint16(10000 + i), Interval: interval, Timeout: interval}
		index[d.WithDefaults().Key()] = i
		if _, err := s.Add(fmt.Sprint(i), d); err != nil {
			b.Fatal(err)
		}
	}
	// One interval for every run to reach its offset and probe once.
	time.Sleep(interval + interval/10)
	b.ReportAllocs()
	b.ResetTimer()
	start, before := probes.Load(), cpu(b)
	for probes.Load()-start < int64(b.N) {
		time.Sleep(interval / 20)
	}
	b.StopTimer()
	n := probes.Load() - start
	perCheck := float64(cpu(b)-before) / float64(n)
	b.ReportMetric(perCheck, "cpu-ns/check")
	b.ReportMetric(perCheck*1000/1e9, "core-share@1000/s")
	if f := failed.Load(); f > 0 {
		b.Fatalf("%d probes failed", f)
	}
}
