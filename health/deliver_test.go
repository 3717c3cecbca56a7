package health

import (
	"context"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"
)

// An OnChange that waits (the director's takes its lock, held while it
// saves its state) does not stall the event loop: other TCP checks keep
// probing meanwhile, and the change is delivered once it returns.
func TestBlockedOnChangeDoesNotStallProbes(t *testing.T) {
	up := listenTCP(t)
	upIP, upPort := addrOf(t, up.Addr().String())
	down := closedPort(t)
	release := make(chan struct{})
	var changes, probes atomic.Int64
	s := NewScheduler(context.Background(), Options{
		OnChange: func(Event) {
			if changes.Add(1) == 1 {
				<-release // the first change blocks
			}
		},
		OnProbe: func(Definition, Result) { probes.Add(1) },
	})
	defer s.Close()
	defer close(release)
	lo := netip.MustParseAddr("127.0.0.1")
	if _, err := s.Add("up", Definition{Type: TCP, Target: upIP, Port: upPort, Interval: 50 * time.Millisecond, Rise: 1, Fall: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Add("down", Definition{Type: TCP, Target: lo, Port: down, Interval: 50 * time.Millisecond, Rise: 1, Fall: 1, Initial: Up}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for changes.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if changes.Load() == 0 {
		t.Fatal("no state change within 5 s")
	}
	before := probes.Load()
	time.Sleep(500 * time.Millisecond) // OnChange still blocked
	if n := probes.Load() - before; n < 4 {
		t.Fatalf("%d probes in 500 ms while an OnChange was blocked: the checks stalled behind it", n)
	}
}
