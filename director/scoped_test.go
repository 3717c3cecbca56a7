package director

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/health"
	"github.com/lvsnode/lvsnode/health/healthtest"
	"github.com/lvsnode/lvsnode/ipvs"
)

// countingIPVS counts the kernel reads made through it: dumps of every
// service (Services) and one-service reads (Service, Destinations).
type countingIPVS struct {
	ipvs.Client
	dumps, reads int
}

func (c *countingIPVS) Services() ([]ipvs.Service, error) { c.dumps++; return c.Client.Services() }
func (c *countingIPVS) Service(k ipvs.ServiceKey) (ipvs.Service, error) {
	c.reads++
	return c.Client.Service(k)
}
func (c *countingIPVS) Destinations(k ipvs.ServiceKey) ([]ipvs.Destination, error) {
	c.reads++
	return c.Client.Destinations(k)
}

const scopedYAML = `
datapath: {marks: 0x100-0x1ff}
services:
  - service: tcp 10.0.0.100:80
    check: {type: tcp, data_path: true, source: 10.0.0.2, interval: 200ms}
    nodes: [{address: 10.0.0.11}, {address: 10.0.0.12, method: tun, tun_type: gre}]
  - service: tcp 10.0.0.101:80
    nodes: [{address: 10.0.0.11, weight: 2}]
  - service: tcp 10.0.0.102:80
    nodes: [{address: 10.0.0.11}]
`

var (
	foreignKey = ipvs.ServiceKey{Protocol: ipvs.TCP, Addr: netip.MustParseAddr("10.0.0.200"), Port: 443}
	foreignRS  = ipvs.Destination{DestKey: ipvs.DestKey{Addr: netip.MustParseAddr("10.0.0.99"), Port: 443}, Forward: ipvs.Route, Weight: 7}
)

// scopedRig is a rig over scopedYAML with a foreign service (tcp
// 10.0.0.200:443, not the daemon's) in IPVS, reads counted, every check up.
func scopedRig(t *testing.T) (*rig, *countingIPVS) {
	fake := ipvs.NewFake()
	ipvs.Do(fake, ipvs.CreateServiceOp(ipvs.Service{ServiceKey: foreignKey, Scheduler: "wlc", Netmask: 32}))
	ipvs.Do(fake, ipvs.CreateDestOp(foreignKey, foreignRS))
	fake.Log = nil // the daemon's changes only
	c := &countingIPVS{Client: fake}
	r := &rig{t: t, fake: fake, ipvs: c, clock: healthtest.NewFakeClock(), store: &MemStore{},
		checks: map[health.Key]*healthtest.Checker{}, builds: map[health.Key]int{}}
	r.start(scopedYAML)
	r.tick(2)
	return r, c
}

// A runtime change writes what it changed before the call returns, reading
// only the services it touched (no dump of the table); what it writes is
// what a full reconcile would have written (a full one after it finds
// nothing left to do); drift in a service it did not touch, and a foreign
// service, are left alone (the drift is the full pass's).
func TestRuntimeChangeReconcilesOnlyWhatItTouched(t *testing.T) {
	r, c := scopedRig(t)
	ctx := context.Background()
	k102 := ipvs.ServiceKey{Protocol: ipvs.TCP, Addr: netip.MustParseAddr("10.0.0.102"), Port: 80}
	ipvs.Do(r.fake, ipvs.UpdateDestOp(k102, ipvs.Destination{DestKey: ipvs.DestKey{Addr: netip.MustParseAddr("10.0.0.11"), Port: 80}, Forward: ipvs.Route, Weight: 9}))
	drift := "tcp 10.0.0.102:80 10.0.0.11:80 w=9\n"
	foreign := "tcp 10.0.0.200:443 10.0.0.99:443 w=7\n"

	steps := []struct {
		name     string
		do       func() error
		has      []string // lines the kernel has when the call returns
		hasNot   []string
		maxReads int
	}{
		{"add", func() error {
			return r.d.AddNode(ctx, Node{NodeRef: NodeRef{Service: "tcp 10.0.0.101:80", Address: "10.0.0.13"}, Weight: ptr(uint32(4))})
		}, []string{"tcp 10.0.0.101:80 10.0.0.13:80 w=4\n"}, nil, 2},
		{"add, new service", func() error {
			return r.d.AddNode(ctx, Node{NodeRef: NodeRef{Service: "tcp 10.0.0.103:80 -s rr", Address: "10.0.0.11"}})
		}, []string{"tcp 10.0.0.103:80 10.0.0.11:80 w=1\n"}, nil, 2}, // is it ours (1), then it is not there (1)
		{"edit", func() error {
			return r.d.EditNode(ctx, NodePatch{NodeRef: NodeRef{Service: "tcp 10.0.0.101:80", Address: "10.0.0.13"}, Weight: ptr(uint32(5))})
		}, []string{"tcp 10.0.0.101:80 10.0.0.13:80 w=5\n"}, nil, 2},
		{"add, data-path check", func() error {
			return r.d.AddNode(ctx, Node{NodeRef: NodeRef{Service: "tcp 10.0.0.100:80", Address: "10.0.0.14"}})
		}, []string{"tcp 10.0.0.100:80 10.0.0.14:80 w=0\n", "fwm 258 10.0.0.14:80 w=1\n"}, nil, 3}, // the new fwmark service: not there (1)
		{"drain everywhere", func() error {
			return r.d.Drain(ctx, NodeRef{Service: "*", Address: "10.0.0.11"}, DrainOptions{})
		}, []string{"tcp 10.0.0.100:80 10.0.0.11:80 w=0\n", "tcp 10.0.0.101:80 10.0.0.11:80 w=0\n", "tcp 10.0.0.103:80 10.0.0.11:80 w=0\n"}, nil, 8},
		{"undrain everywhere", func() error {
			return r.d.Undrain(ctx, NodeRef{Service: "*", Address: "10.0.0.11"})
		}, []string{"tcp 10.0.0.100:80 10.0.0.11:80 w=1\n", "tcp 10.0.0.101:80 10.0.0.11:80 w=2\n", "tcp 10.0.0.103:80 10.0.0.11:80 w=1\n"}, nil, 8},
		{"remove, data-path service goes", func() error {
			return r.d.RemoveNode(ctx, NodeRef{Service: "tcp 10.0.0.100:80", Address: "10.0.0.12"})
		}, nil, []string{"10.0.0.12:80"}, 4},
	}
	for i, s := range steps {
		c.dumps, c.reads = 0, 0
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		got := r.weights()
		for _, l := range s.has {
			if !strings.Contains(got, l) {
				t.Fatalf("%s: the kernel has no %q when the call returns:\n%s", s.name, l, got)
			}
		}
		for _, l := range s.hasNot {
			if strings.Contains(got, l) {
				t.Fatalf("%s: the kernel still has %q when the call returns:\n%s", s.name, l, got)
			}
		}
		if c.dumps != 0 || c.reads > s.maxReads {
			t.Errorf("%s: %d dumps of every service and %d one-service reads, want 0 and at most %d", s.name, c.dumps, c.reads, s.maxReads)
		}
		if saved, _ := r.store.Load(ctx); i == 1 && !slices.Contains(saved.Owned, "tcp 10.0.0.103:80") {
			t.Errorf("%s: the service the API created is not saved as the daemon's when the call returns: %q", s.name, saved.Owned)
		}
		if !strings.Contains(got, foreign) {
			t.Fatalf("%s: the foreign service changed:\n%s", s.name, got)
		}
		if i == 0 && !strings.Contains(got, drift) {
			t.Fatalf("%s: a service the change did not touch was reconciled too:\n%s", s.name, got)
		}
		// A full reconcile after it has nothing left to write (but the
		// drift, after the first step).
		before := len(r.fake.Log)
		if err := r.d.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
		want := 0
		if i == 0 {
			want = 1
		}
		if n := len(r.fake.Log) - before; n != want {
			t.Fatalf("%s: a full reconcile after it wrote %d changes, want %d: %q", s.name, n, want, r.fake.Log[before:])
		}
	}
	for _, l := range r.fake.Log {
		if strings.Contains(l, "10.0.0.200") {
			t.Errorf("a change to the foreign service: %s", l)
		}
	}
}

// The scoped reconcile plans over the managed services only: asked about
// a foreign service, it leaves it alone (Plan would remove a service it
// is not told to want).
func TestScopedReconcileNeverTouchesAForeignService(t *testing.T) {
	r, _ := scopedRig(t)
	before := len(r.fake.Log)
	if err := r.d.reconcileServices(context.Background(), map[ipvs.ServiceKey]bool{foreignKey: true}); err != nil {
		t.Fatal(err)
	}
	if n := len(r.fake.Log) - before; n != 0 {
		t.Fatalf("%d changes: %q", n, r.fake.Log[before:])
	}
	if !strings.Contains(r.weights(), "tcp 10.0.0.200:443 10.0.0.99:443 w=7\n") {
		t.Fatalf("the foreign service changed:\n%s", r.weights())
	}
}

// A change the kernel refuses is the caller's error (not a bad request:
// the API answers 500), saved (the daemon retries it: a full reconcile is
// asked for, and Ready says what failed meanwhile).
func TestRuntimeChangeKernelRefusalIsTheCallersError(t *testing.T) {
	r, _ := scopedRig(t)
	ctx := context.Background()
	refused := errors.New("refused by the test")
	r.fake.Fail = func(op string) error {
		if strings.Contains(op, "10.0.0.13") {
			return refused
		}
		return nil
	}
	for len(r.d.trigger) > 0 {
		<-r.d.trigger
	}
	err := r.d.AddNode(ctx, Node{NodeRef: NodeRef{Service: "tcp 10.0.0.101:80", Address: "10.0.0.13"}})
	if !errors.Is(err, refused) || errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "saved") {
		t.Fatalf("AddNode: %v, want the kernel's refusal, saying the change is saved", err)
	}
	if code, _ := statusOf(err); code != 500 {
		t.Errorf("API status %d, want 500", code)
	}
	saved, _ := r.store.Load(ctx)
	if !strings.Contains(fmt.Sprint(saved.Services), "10.0.0.13") {
		t.Errorf("the refused change is not saved: %+v", saved.Services)
	}
	if ok, why := r.d.Ready(); ok || !strings.Contains(why, "refused by the test") {
		t.Errorf("Ready %v %q, want not ready with the refusal", ok, why)
	}
	if len(r.d.trigger) == 0 {
		t.Error("no full reconcile asked for")
	}
	r.fake.Fail = nil
	if err := r.d.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.weights(), "tcp 10.0.0.101:80 10.0.0.13:80 w=1\n") {
		t.Fatalf("the retry did not write it:\n%s", r.weights())
	}
	if ok, why := r.d.Ready(); !ok {
		t.Errorf("not ready after the retry: %s", why)
	}
}

func ptr[T any](v T) *T { return &v }

// compile reuses a service of the running model whose spec is unchanged
// (a runtime change recompiles the one service it edits) and recompiles
// one whose spec changed in any field.
func TestCompileReusesOnlyUnchangedServices(t *testing.T) {
	r, _ := scopedRig(t)
	ctx := context.Background()
	before := map[string]*svc{}
	for _, s := range r.d.model.services {
		before[s.name] = s
	}
	if err := r.d.EditNode(ctx, NodePatch{NodeRef: NodeRef{Service: "tcp 10.0.0.101:80", Address: "10.0.0.11"}, Weight: ptr(uint32(3))}); err != nil {
		t.Fatal(err)
	}
	for _, s := range r.d.model.services {
		if reused := before[s.name] == s; reused != (s.name != "tcp 10.0.0.101:80") {
			t.Errorf("%s: reused %v", s.name, reused)
		}
	}
	// Each field of a node's spec makes it recompiled.
	sp := r.d.model.byKey[r.d.model.services[1].key].spec
	for name, edit := range map[string]func(n *NodeSpec){
		"address": func(n *NodeSpec) { n.Address = "10.0.0.19" }, "port": func(n *NodeSpec) { n.Port = 81 },
		"weight": func(n *NodeSpec) { n.Weight = ptr(uint32(3)) }, "method": func(n *NodeSpec) { n.Method = "nat" },
		"u_threshold": func(n *NodeSpec) { n.Upper = 9 }, "l_threshold": func(n *NodeSpec) { n.Lower = 1 },
		"check": func(n *NodeSpec) { n.Check = &health.Definition{Type: health.TCP} },
	} {
		next := sp
		next.Nodes = clone(sp.Nodes)
		edit(&next.Nodes[0])
		if reusable(r.d.model.services[1], &next, nil) {
			t.Errorf("a change of %s: reused", name)
		}
	}
	if !reusable(r.d.model.services[1], &sp, nil) {
		t.Error("the same spec: not reused")
	}
}

// hookIPVS calls before(n) ahead of the n-th real server dump.
type hookIPVS struct {
	ipvs.Client
	n      atomic.Int32
	before func(n int32) // set while no change runs
}

func (h *hookIPVS) Destinations(k ipvs.ServiceKey) ([]ipvs.Destination, error) {
	n := h.n.Add(1)
	if h.before != nil {
		h.before(n)
	}
	return h.Client.Destinations(k)
}

// A full reconcile reading the table gives way to a runtime change (it
// stops before its next dump; nothing was written), and runs again after
// it; after maxPreempted such reconciles in a row one reads to the end.
func TestFullReconcileGivesWayToARuntimeChange(t *testing.T) {
	cfg, err := ParseConfig("t.yaml", []byte(servicesConfig(20)))
	if err != nil {
		t.Fatal(err)
	}
	h := &hookIPVS{Client: ipvs.NewFake()}
	d := New(cfg, Options{IPVS: h, Store: &MemStore{}, Clock: healthtest.NewFakeClock(), NoLock: true,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx := context.Background()
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for len(d.trigger) > 0 {
		<-d.trigger
	}
	changed := make(chan error, 1)
	h.before = func(n int32) {
		if n == 5 { // the full read is under way: a change comes
			go func() {
				changed <- d.AddNode(ctx, Node{NodeRef: NodeRef{Service: "tcp 10.0.0.100:8080", Address: "10.0.0.12"}})
			}()
			for d.waiting.Load() == 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}
	h.n.Store(0)
	if err := d.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if n := h.n.Load(); n >= 21 {
		t.Errorf("the full reconcile read %d services with a change waiting, want it to stop", n)
	}
	if err := <-changed; err != nil {
		t.Fatal(err)
	}
	h.before = nil
	if len(d.trigger) == 0 {
		t.Error("no full reconcile asked for after giving way")
	}
	// At most maxPreempted in a row: then it reads to the end.
	d.preempted = 0
	d.waiting.Add(1)
	for i := range maxPreempted + 1 {
		h.n.Store(0)
		if err := d.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
		if n := h.n.Load(); (n == 21) != (i == maxPreempted) {
			t.Errorf("reconcile %d: %d dumps", i+1, n)
		}
	}
	d.waiting.Add(-1)
}
