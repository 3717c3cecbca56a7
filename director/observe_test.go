package director

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"

	"github.com/lvsnode/lvsnode/health"
	"github.com/lvsnode/lvsnode/health/healthtest"
	"github.com/lvsnode/lvsnode/ipvs"
)

// probeLog is an Observer recording the real servers probed.
type probeLog struct {
	mu    sync.Mutex
	nodes []NodeRef
}

func (p *probeLog) Checked(n NodeRef, _ health.Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nodes = append(p.nodes, n)
}

func (p *probeLog) Reconciled(int, error) {}

// Every probe reaches the Observer (the metrics' check latency), named by
// its real server, through the scheduler's OnProbe hook rather than a
// wrapper around the checker (which would hide a TCP checker from the
// scheduler's event loop).
func TestEveryProbeReachesTheObserver(t *testing.T) {
	cfg, err := ParseConfig("observe.yaml", []byte(scaleConfig(3)))
	if err != nil {
		t.Fatal(err)
	}
	clock, obs := healthtest.NewFakeClock(), &probeLog{}
	d := New(cfg, Options{IPVS: ipvs.NewFake(), Store: &MemStore{}, Clock: clock, NoLock: true, Metrics: obs,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		NewChecker: func(health.Definition) (health.Checker, error) {
			return healthtest.NewChecker(clock, healthtest.OK), nil
		}})
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	clock.BlockUntil(t, 3)
	clock.Advance(cfg.Services[0].Check.Interval) // each of the 3 probes once
	clock.BlockUntil(t, 3)
	obs.mu.Lock()
	defer obs.mu.Unlock()
	var got []string
	for _, n := range obs.nodes {
		got = append(got, n.Address)
	}
	slices.Sort(got)
	if want := []string{"10.1.0.1", "10.1.0.2", "10.1.0.3"}; !slices.Equal(got, want) {
		t.Fatalf("observed probes of %v, want one of each of %v", got, want)
	}
}
