package health_test

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/health"
	"github.com/lvsnode/lvsnode/health/healthtest"
)

// The loop keeps the goroutine runs' timing: first probes spread over the
// interval by the keys' offsets, then exactly one per interval, none after
// Remove; one clock timer armed in all, however many runs.
func TestEventLoopTimingOnAFakeClock(t *testing.T) {
	clock := healthtest.NewFakeClock()
	probes := map[health.Key]func() []time.Time{}
	var mu sync.Mutex
	s := health.NewScheduler(t.Context(), health.Options{Clock: clock, NewChecker: func(d health.Definition) (health.Checker, error) {
		mu.Lock()
		defer mu.Unlock()
		c, calls := health.NewInstantEvProbe(clock)
		probes[d.Key()] = calls
		return c, nil
	}})
	defer s.Close()
	const n, interval, buckets = 200, time.Second, 10
	start := clock.Now()
	var keys []health.Key
	for i := range n {
		d := health.Definition{Type: health.TCP, Target: netip.MustParseAddr("127.0.0.1"), Port: uint16(1000 + i), Interval: interval}
		keys = append(keys, d.WithDefaults().Key())
		if _, err := s.Add(fmt.Sprint(i), d); err != nil {
			t.Fatal(err)
		}
	}
	clock.BlockUntil(t, 1) // one timer: the loop's
	for ms := 0; ms < 3000; ms += 10 {
		clock.Advance(10 * time.Millisecond)
		clock.BlockUntil(t, 1)
	}
	var count [buckets]int
	for _, k := range keys {
		at := probes[k]()
		if len(at) != 3 {
			t.Fatalf("%s probed %d times in 3 intervals, want 3: %v", k, len(at), at)
		}
		off := at[0].Sub(start)
		if off <= 0 || off > interval || off-k.Offset(interval) >= 10*time.Millisecond || off < k.Offset(interval) {
			t.Fatalf("%s first probe at +%s, want at its offset %s", k, off, k.Offset(interval))
		}
		for i := 1; i < len(at); i++ {
			if d := at[i].Sub(at[i-1]); d < interval || d >= interval+10*time.Millisecond {
				t.Fatalf("%s probes %s apart, want one interval (%s)", k, d, interval)
			}
		}
		count[min(buckets-1, int(off*buckets/interval))]++
	}
	t.Logf("first probes per tenth of the interval: %v", count)
	for i, c := range count {
		if c < 5 || c > 45 {
			t.Fatalf("bucket %d holds %d of %d first probes: not spread (%v)", i, c, n, count)
		}
	}
	for i := range n {
		s.Remove(fmt.Sprint(i))
	}
	before := len(probes[keys[0]]())
	for range 3 {
		clock.Advance(interval)
		time.Sleep(10 * time.Millisecond)
	}
	if after := len(probes[keys[0]]()); after != before {
		t.Fatalf("a removed run probed %d more times", after-before)
	}
}
