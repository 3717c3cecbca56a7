package health

// The scheduler's event loop on the real kernel: TCP runs probe without a
// goroutine each (evloop_timing_test.go: its timing on a fake clock).

import (
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"
)

func TestTCPRunsShareOneEventLoop(t *testing.T) {
	ln := listenTCP(t)
	ip, open := addrOf(t, ln.Addr().String())
	var mu sync.Mutex
	var events []Event
	probes := map[uint16]int{} // OnProbe calls by port
	s := NewScheduler(t.Context(), Options{OnChange: func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		events = append(events, e)
	}, OnProbe: func(d Definition, _ Result) {
		mu.Lock()
		defer mu.Unlock()
		probes[d.Port]++
	}})
	defer s.Close()
	base := runtime.NumGoroutine()
	const n = 200
	for i := range n {
		d := Definition{Type: TCP, Target: ip, Port: open, Interval: 100 * time.Millisecond, Timeout: 100 * time.Millisecond, Rise: 2, Fall: 2}
		if i > 0 {
			d.Port = closedPort(t)
		}
		if _, err := s.Add(fmt.Sprint(i), d); err != nil {
			t.Fatal(err)
		}
	}
	if g := runtime.NumGoroutine() - base; g > 10 {
		t.Fatalf("%d TCP runs started %d goroutines, want the one event loop (and its epoll watcher)", n, g)
	}
	waitState := func(want State) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second) // hang guard, not a performance limit
		for {
			if st, _ := s.Status("0"); st.State == want {
				return
			}
			if time.Now().After(deadline) {
				st, _ := s.Status("0")
				t.Fatalf("run 0 still %s (%+v), want %s", st.State, st.Last, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitState(Up)
	ln.Close() // now refused: down after fall 2
	waitState(Down)
	if st, _ := s.Status("1"); st.State != Down || st.Checked.IsZero() || st.Last.OK {
		t.Fatalf("a closed port: %+v", st)
	}
	mu.Lock()
	var got []string
	for _, e := range events {
		got = append(got, fmt.Sprintf("%v:%s->%s", e.Subscribers, e.From, e.To))
	}
	mu.Unlock()
	mu.Lock()
	seenOpen, seenPorts := probes[open], len(probes)
	mu.Unlock()
	if runs := s.Runs(); seenOpen < 3 || seenPorts != runs {
		t.Fatalf("OnProbe saw %d probes of the open port and %d ports, want every probe of all %d runs", seenOpen, seenPorts, runs)
	}
	// Only run 0 ever changes: up, and down at the end (a loaded machine
	// may add a timeout's flap in between).
	if len(got) < 2 || got[0] != "[0]:down->up" || got[len(got)-1] != "[0]:up->down" {
		t.Fatalf("events %v, want [0] down->up first and up->down last", got)
	}
	for _, g := range got {
		if g[:3] != "[0]" {
			t.Fatalf("events %v: a closed port's run changed", got)
		}
	}
	for i := range n {
		s.Remove(fmt.Sprint(i))
	}
	if s.Runs() != 0 {
		t.Fatalf("%d runs after removing all", s.Runs())
	}
}
