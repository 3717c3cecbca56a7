package director

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/health"
	"github.com/lvsnode/lvsnode/health/healthtest"
	"github.com/lvsnode/lvsnode/ipvs"
	"github.com/lvsnode/lvsnode/sysctl"
)

const interval = 200 * time.Millisecond

// rig is a daemon on ipvs.Fake, a fake clock and scripted checkers (one
// per check Key, so a shared check is one checker).
type rig struct {
	t      *testing.T
	fake   *ipvs.Fake
	clock  *healthtest.FakeClock
	store  *MemStore
	d      *Daemon
	mu     sync.Mutex
	checks map[health.Key]*healthtest.Checker
	builds map[health.Key]int
	sc     *sysctl.Fake
	ipvs   ipvs.Client // what the daemon talks to; nil: fake
}

func newRig(t *testing.T, yaml string) *rig {
	r := &rig{t: t, fake: ipvs.NewFake(), clock: healthtest.NewFakeClock(), store: &MemStore{},
		checks: map[health.Key]*healthtest.Checker{}, builds: map[health.Key]int{}}
	return r.start(yaml)
}

func (r *rig) start(yaml string) *rig {
	r.t.Helper()
	cfg, err := ParseConfig("test.yaml", []byte(yaml))
	if err != nil {
		r.t.Fatal(err)
	}
	var c ipvs.Client = r.fake
	if r.ipvs != nil {
		c = r.ipvs
	}
	r.d = New(cfg, Options{IPVS: c, Store: r.store, Clock: r.clock, NoLock: true, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Sysctl: r.sysctls(),
		NewChecker: func(d health.Definition) (health.Checker, error) {
			r.mu.Lock()
			defer r.mu.Unlock()
			k := d.Key()
			r.builds[k]++
			if r.checks[k] == nil {
				r.checks[k] = healthtest.NewChecker(r.clock)
			}
			return r.checks[k], nil
		}})
	if err := r.d.Start(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(r.d.Close)
	return r
}

// sysctls is the rig's sysctl fake (kept across restarts), every key the
// daemon may set at the kernel's default 0.
func (r *rig) sysctls() *sysctl.Fake {
	if r.sc == nil {
		r.sc = sysctl.NewFake(map[string]string{"net.ipv4.vs.expire_nodest_conn": "0",
			"net.ipv4.vs.expire_quiescent_template": "0", "net.ipv4.conf.all.accept_local": "0"})
	}
	return r.sc
}

// script sets the result of every checker.
func (r *rig) script(res ...health.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.checks {
		c.Set(res...)
	}
}

// tick moves time one interval on (every run probes once) and reconciles.
func (r *rig) tick(n int) {
	r.t.Helper()
	r.clock.BlockUntil(r.t, r.d.sched.Runs()) // new runs arm their first timer
	for range n {
		r.clock.Advance(interval)
		r.clock.BlockUntil(r.t, r.d.sched.Runs())
	}
	if err := r.d.Reconcile(context.Background()); err != nil {
		r.t.Fatal(err)
	}
}

// weights lists "service rs weight" for every real server in the fake.
func (r *rig) weights() string {
	var lines []string
	svcs, _ := r.fake.Services()
	for _, s := range svcs {
		ds, _ := r.fake.Destinations(s.ServiceKey)
		for _, d := range ds {
			lines = append(lines, fmt.Sprintf("%s %s w=%d\n", ServiceName(s.ServiceKey), d.DestKey, d.Weight))
		}
		if len(ds) == 0 {
			lines = append(lines, fmt.Sprintf("%s (none)\n", ServiceName(s.ServiceKey)))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "")
}

func (r *rig) wantWeights(want string) {
	r.t.Helper()
	if got := r.weights(); got != want {
		r.t.Fatalf("IPVS:\n%swant:\n%s", got, want)
	}
}

const twoNodes = `
services:
  - service: tcp 10.0.0.100:80
    scheduler: rr
    check: {type: http, interval: 200ms, rise: 2, fall: 2}
    nodes:
      - address: 10.0.0.11
        weight: 3
      - address: 10.0.0.12
`

func TestReconcileTouchesOnlyManagedServices(t *testing.T) {
	fake := ipvs.NewFake()
	other := ipvs.Service{ServiceKey: ipvs.ServiceKey{Protocol: ipvs.TCP, Addr: netip.MustParseAddr("10.0.0.200"), Port: 443}, Scheduler: "wlc", Netmask: 32}
	ipvs.Do(fake, ipvs.CreateServiceOp(other))
	ipvs.Do(fake, ipvs.CreateDestOp(other.ServiceKey, ipvs.Destination{DestKey: ipvs.DestKey{Addr: netip.MustParseAddr("10.0.0.99"), Port: 443}, Forward: ipvs.Route, Weight: 7}))
	r := &rig{t: t, fake: fake, clock: healthtest.NewFakeClock(), store: &MemStore{},
		checks: map[health.Key]*healthtest.Checker{}, builds: map[health.Key]int{}}
	r.start(twoNodes)
	r.tick(2) // rise 2: both up
	r.wantWeights("tcp 10.0.0.100:80 10.0.0.11:80 w=3\ntcp 10.0.0.100:80 10.0.0.12:80 w=1\ntcp 10.0.0.200:443 10.0.0.99:443 w=7\n")
	// Drift in a managed service is repaired; the unmanaged one is left.
	ipvs.Do(fake, ipvs.CreateDestOp(other.ServiceKey, ipvs.Destination{DestKey: ipvs.DestKey{Addr: netip.MustParseAddr("10.0.0.98"), Port: 443}, Forward: ipvs.Route, Weight: 1}))
	mk := ipvs.ServiceKey{Protocol: ipvs.TCP, Addr: netip.MustParseAddr("10.0.0.100"), Port: 80}
	ipvs.Do(fake, ipvs.UpdateDestOp(mk, ipvs.Destination{DestKey: ipvs.DestKey{Addr: netip.MustParseAddr("10.0.0.11"), Port: 80}, Forward: ipvs.Route, Weight: 50}))
	ipvs.Do(fake, ipvs.CreateDestOp(mk, ipvs.Destination{DestKey: ipvs.DestKey{Addr: netip.MustParseAddr("10.0.0.13"), Port: 80}, Forward: ipvs.Route, Weight: 1}))
	before := len(fake.Log)
	r.tick(0)
	r.wantWeights("tcp 10.0.0.100:80 10.0.0.11:80 w=3\ntcp 10.0.0.100:80 10.0.0.12:80 w=1\n" +
		"tcp 10.0.0.200:443 10.0.0.98:443 w=1\ntcp 10.0.0.200:443 10.0.0.99:443 w=7\n")
	if n := len(fake.Log) - before; n != 2 {
		t.Errorf("repair wrote %d changes, want 2 (one weight, one removal): %q", n, fake.Log[before:])
	}
	r.tick(0)
	if n := len(fake.Log) - before; n != 2 {
		t.Errorf("a table already right got changes: %q", fake.Log[before+2:])
	}
}

func TestRestartAdoptsWithoutChanges(t *testing.T) {
	r := newRig(t, twoNodes)
	r.tick(2)
	r.script(healthtest.Fail)
	r.tick(2) // both down: weight 0
	r.script(healthtest.OK)
	r.tick(2)
	r.d.Drain(context.Background(), NodeRef{Service: "tcp 10.0.0.100:80", Address: "10.0.0.12"}, DrainOptions{Timeout: Duration(time.Hour)})
	mk := ipvs.ServiceKey{Protocol: ipvs.TCP, Addr: netip.MustParseAddr("10.0.0.100"), Port: 80}
	r.fake.SetCounters(mk, ipvs.DestKey{Addr: netip.MustParseAddr("10.0.0.12"), Port: 80}, 3, 0, ipvs.Stats{})
	r.tick(0)
	want := "tcp 10.0.0.100:80 10.0.0.11:80 w=3\ntcp 10.0.0.100:80 10.0.0.12:80 w=0\n"
	r.wantWeights(want)
	r.d.Close() // SIGKILL: nothing more from it
	before := len(r.fake.Log)
	r.checks = map[health.Key]*healthtest.Checker{}
	r.start(twoNodes) // same config, same store, same kernel
	if n := len(r.fake.Log) - before; n != 0 {
		t.Fatalf("the restarted daemon changed IPVS: %q", r.fake.Log[before:])
	}
	r.wantWeights(want)
	st := r.d.Status()
	if got := st.Services[0].Nodes[1].Drain; got != DrainDraining {
		t.Errorf("drain after restart: %s, want draining", got)
	}
}

func TestHealthDownWeightZeroThenBack(t *testing.T) {
	r := newRig(t, twoNodes)
	r.wantWeights("tcp 10.0.0.100:80 10.0.0.11:80 w=0\ntcp 10.0.0.100:80 10.0.0.12:80 w=0\n") // initial down (alpha)
	r.tick(2)
	r.wantWeights("tcp 10.0.0.100:80 10.0.0.11:80 w=3\ntcp 10.0.0.100:80 10.0.0.12:80 w=1\n")
	r.script(healthtest.Fail)
	r.tick(1) // fall 2: one failure changes nothing
	r.wantWeights("tcp 10.0.0.100:80 10.0.0.11:80 w=3\ntcp 10.0.0.100:80 10.0.0.12:80 w=1\n")
	r.tick(1)
	r.wantWeights("tcp 10.0.0.100:80 10.0.0.11:80 w=0\ntcp 10.0.0.100:80 10.0.0.12:80 w=0\n")
	r.script(healthtest.OK)
	r.tick(2)
	r.wantWeights("tcp 10.0.0.100:80 10.0.0.11:80 w=3\ntcp 10.0.0.100:80 10.0.0.12:80 w=1\n")
}

func TestOnDownRemove(t *testing.T) {
	r := newRig(t, strings.Replace(twoNodes, "scheduler: rr", "scheduler: rr\n    on_down: remove", 1))
	r.tick(2)
	r.script(healthtest.Fail)
	r.tick(2)
	r.wantWeights("tcp 10.0.0.100:80 (none)\n")
}

func TestOneCheckSharedByEveryServiceOfARealServer(t *testing.T) {
	r := newRig(t, `
services:
  - service: tcp 10.0.0.100:80
    check: {type: tcp, port: 80, interval: 200ms}
    nodes: [{address: 10.0.0.11}]
  - service: tcp 10.0.0.101:80
    check: {type: tcp, port: 80, interval: 200ms}
    nodes: [{address: 10.0.0.11}]
  - service: tcp 10.0.0.102:8080
    check: {type: tcp, port: 80, interval: 200ms}
    nodes: [{address: 10.0.0.11}]
`)
	if n := r.d.sched.Runs(); n != 1 {
		t.Fatalf("%d check runs for one real server and one definition, want 1", n)
	}
	r.tick(3)
	for k, c := range r.checks {
		if c.Calls() != 3 {
			t.Errorf("%s probed %d times in 3 intervals, want 3", k, c.Calls())
		}
	}
	r.wantWeights("tcp 10.0.0.100:80 10.0.0.11:80 w=1\ntcp 10.0.0.101:80 10.0.0.11:80 w=1\ntcp 10.0.0.102:8080 10.0.0.11:8080 w=1\n")
}

func TestDrainStateMachine(t *testing.T) {
	r := newRig(t, twoNodes)
	r.tick(2)
	ctx := context.Background()
	mk := ipvs.ServiceKey{Protocol: ipvs.TCP, Addr: netip.MustParseAddr("10.0.0.100"), Port: 80}
	rs1 := ipvs.DestKey{Addr: netip.MustParseAddr("10.0.0.11"), Port: 80}
	r.fake.SetCounters(mk, rs1, 2, 1, ipvs.Stats{})
	if err := r.d.Drain(ctx, NodeRef{Service: "tcp 10.0.0.100:80", Address: "10.0.0.11"}, DrainOptions{Timeout: Duration(10 * time.Second)}); err != nil {
		t.Fatal(err)
	}
	r.tick(0)
	r.wantWeights("tcp 10.0.0.100:80 10.0.0.11:80 w=0\ntcp 10.0.0.100:80 10.0.0.12:80 w=1\n")
	node := func() NodeStatus { return r.d.Status().Services[0].Nodes[0] }
	if node().Drain != DrainDraining {
		t.Fatalf("drain %s, want draining while connections remain", node().Drain)
	}
	r.fake.SetCounters(mk, rs1, 0, 0, ipvs.Stats{})
	r.fake.SetPersistConns(mk, rs1, 1)
	r.tick(0)
	if node().Drain != DrainDraining {
		t.Fatalf("drain %s with a persistence template left, want draining", node().Drain)
	}
	r.fake.SetPersistConns(mk, rs1, 0)
	r.tick(0)
	if node().Drain != DrainParked {
		t.Fatalf("drain %s with no connection left, want parked", node().Drain)
	}
	r.wantWeights("tcp 10.0.0.100:80 10.0.0.11:80 w=0\ntcp 10.0.0.100:80 10.0.0.12:80 w=1\n")
	if err := r.d.Undrain(ctx, NodeRef{Service: "tcp 10.0.0.100:80", Address: "10.0.0.11"}); err != nil {
		t.Fatal(err)
	}
	r.tick(0)
	r.wantWeights("tcp 10.0.0.100:80 10.0.0.11:80 w=3\ntcp 10.0.0.100:80 10.0.0.12:80 w=1\n")

	// Removal on drain, ended by the timeout with a connection left.
	r.fake.SetCounters(mk, rs1, 1, 0, ipvs.Stats{})
	r.d.Drain(ctx, NodeRef{Service: "*", Address: "10.0.0.11"}, DrainOptions{Timeout: Duration(time.Second), Remove: true})
	r.tick(0)
	r.wantWeights("tcp 10.0.0.100:80 10.0.0.11:80 w=0\ntcp 10.0.0.100:80 10.0.0.12:80 w=1\n")
	r.tick(5) // 1 s
	r.wantWeights("tcp 10.0.0.100:80 10.0.0.12:80 w=1\n")
	if node().Drain != DrainDrained {
		t.Fatalf("drain %s, want drained", node().Drain)
	}
}

func TestAgentDrainingIsWeightZeroAtOnceAndBackWhenReady(t *testing.T) {
	r := newRig(t, strings.Replace(twoNodes, "type: http", "type: ready", 1))
	r.tick(2)
	r.mu.Lock()
	for k, c := range r.checks {
		if strings.Contains(string(k), "10.0.0.11") {
			c.Set(healthtest.Draining)
		}
	}
	r.mu.Unlock()
	r.tick(1) // no fall: the first "draining" answer
	r.wantWeights("tcp 10.0.0.100:80 10.0.0.11:80 w=0\ntcp 10.0.0.100:80 10.0.0.12:80 w=1\n")
	r.tick(0) // settled on a read that shows weight 0
	if n := r.d.Status().Services[0].Nodes[0]; n.Drain != DrainParked || n.Agent != AgentDraining {
		t.Fatalf("drain %s agent %s, want parked (no connections) and draining", n.Drain, n.Agent)
	}
	r.script(healthtest.OK)
	r.tick(2)
	r.wantWeights("tcp 10.0.0.100:80 10.0.0.11:80 w=3\ntcp 10.0.0.100:80 10.0.0.12:80 w=1\n")
}

func TestQuorumSendsNewConnectionsToTheSorryServer(t *testing.T) {
	r := newRig(t, strings.Replace(twoNodes, "scheduler: rr", "scheduler: rr\n    quorum: 2\n    sorry: {address: 10.0.0.50, method: nat}", 1))
	r.tick(2)
	r.wantWeights("tcp 10.0.0.100:80 10.0.0.11:80 w=3\ntcp 10.0.0.100:80 10.0.0.12:80 w=1\n")
	r.mu.Lock()
	for k, c := range r.checks {
		if strings.Contains(string(k), "10.0.0.12") {
			c.Set(healthtest.Fail)
		}
	}
	r.mu.Unlock()
	r.tick(2)
	r.wantWeights("tcp 10.0.0.100:80 10.0.0.11:80 w=0\ntcp 10.0.0.100:80 10.0.0.12:80 w=0\ntcp 10.0.0.100:80 10.0.0.50:80 w=1\n")
	if s := r.d.Status().Services[0]; !s.Sorry || s.Up != 1 {
		t.Fatalf("status sorry=%v up=%d, want true 1", s.Sorry, s.Up)
	}
	r.script(healthtest.OK)
	r.tick(2)
	r.wantWeights("tcp 10.0.0.100:80 10.0.0.11:80 w=3\ntcp 10.0.0.100:80 10.0.0.12:80 w=1\n")
}

func TestReloadAppliesOnlyWhatTheFileChanged(t *testing.T) {
	r := newRig(t, twoNodes)
	r.tick(2)
	ctx := context.Background()
	w := uint32(9)
	if err := r.d.AddNode(ctx, Node{NodeRef: NodeRef{Service: "tcp 10.0.0.100:80", Address: "10.0.0.13"}, Weight: &w}); err != nil {
		t.Fatal(err)
	}
	r.tick(0)
	// The file changes rs2's weight and adds nothing else: the API's rs3 stays.
	next, err := ParseConfig("test.yaml", []byte(strings.Replace(twoNodes, "- address: 10.0.0.12", "- address: 10.0.0.12\n        weight: 4", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.d.Reload(ctx, next); err != nil {
		t.Fatal(err)
	}
	r.tick(2)
	r.wantWeights("tcp 10.0.0.100:80 10.0.0.11:80 w=3\ntcp 10.0.0.100:80 10.0.0.12:80 w=4\ntcp 10.0.0.100:80 10.0.0.13:80 w=9\n")
	// A bad reload changes nothing.
	bad, _ := ParseConfig("test.yaml", []byte(twoNodes))
	bad.StateFile = "/elsewhere.json"
	if err := r.d.Reload(ctx, bad); err == nil {
		t.Fatal("a reload that moves state_file was accepted")
	}
	r.tick(0)
	r.wantWeights("tcp 10.0.0.100:80 10.0.0.11:80 w=3\ntcp 10.0.0.100:80 10.0.0.12:80 w=4\ntcp 10.0.0.100:80 10.0.0.13:80 w=9\n")
	// And a restart keeps the API's node too.
	r.d.Close()
	r.checks = map[health.Key]*healthtest.Checker{}
	r.start(strings.Replace(twoNodes, "- address: 10.0.0.12", "- address: 10.0.0.12\n        weight: 4", 1))
	if s := r.d.Status().Services[0]; len(s.Nodes) != 3 {
		t.Fatalf("after restart %d nodes, want 3 (the API's survives)", len(s.Nodes))
	}
}

func TestIPVSSysctlsAreSet(t *testing.T) {
	r := newRig(t, twoNodes)
	f := r.d.o.Sysctl.(*sysctl.Fake)
	for _, k := range []string{"net.ipv4.vs.expire_nodest_conn", "net.ipv4.vs.expire_quiescent_template"} {
		if v := f.Value(k); v != "1" {
			t.Errorf("%s = %q, want 1", k, v)
		}
	}
}

func TestAcceptLocalOnlyWithIPv4DataPathChecks(t *testing.T) {
	const key = "net.ipv4.conf.all.accept_local"
	r := newRig(t, "datapath: {marks: 0x100-0x1ff}\n"+twoNodes)
	if v := r.sc.Value(key); v != "0" {
		t.Fatalf("no data-path check, yet %s = %s", key, v)
	}
	// A reload that adds a data-path check needs it.
	cfg, err := ParseConfig("test.yaml", []byte(dataPathYAML))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.d.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if v := r.sc.Value(key); v != "1" {
		t.Fatalf("data-path check added by a reload, %s = %s, want 1", key, v)
	}
	// At start, from the config; and not with sysctls.manage: false.
	for _, c := range []struct{ manage, want string }{{"true", "1"}, {"false", "0"}} {
		r := newRig(t, "sysctls: {manage: "+c.manage+"}\n"+dataPathYAML)
		if v := r.sc.Value(key); v != c.want {
			t.Errorf("manage %s: %s = %s, want %s", c.manage, key, v, c.want)
		}
	}
	// IPv6 data-path probes need nothing.
	r6 := newRig(t, `
services:
  - service: tcp [fd00::100]:80
    check: {type: tcp, data_path: true, source: "fd00::2", interval: 200ms}
    nodes: [{address: "fd00::11"}]
`)
	if v := r6.sc.Value(key); v != "0" {
		t.Errorf("IPv6 data path only: %s = %s, want it untouched", key, v)
	}
}

const dataPathYAML = `
datapath: {marks: 0x100-0x1ff}
services:
  - service: tcp 10.0.0.100:80
    check: {type: tcp, data_path: true, source: 10.0.0.2, interval: 200ms}
    nodes: [{address: 10.0.0.11}, {address: 10.0.0.12, method: tun, tun_type: gre}]
  - service: tcp 10.0.0.101:80
    check: {type: tcp, data_path: true, source: 10.0.0.2, interval: 200ms}
    nodes: [{address: 10.0.0.11}]
`

func TestDataPathServicePerRealServer(t *testing.T) {
	r := newRig(t, dataPathYAML)
	r.tick(2)
	r.wantWeights("fwm 256 10.0.0.11:80 w=1\nfwm 257 10.0.0.12:80 w=1\n" +
		"tcp 10.0.0.100:80 10.0.0.11:80 w=1\ntcp 10.0.0.100:80 10.0.0.12:80 w=1\ntcp 10.0.0.101:80 10.0.0.11:80 w=1\n")
	ds, _ := r.fake.Destinations(ipvs.ServiceKey{FWMark: 257})
	if ds[0].Forward != ipvs.Tunnel || ds[0].TunnelType != ipvs.GRE {
		t.Errorf("data-path service of a GRE real server: %v %v", ds[0].Forward, ds[0].TunnelType)
	}
	for k := range r.checks {
		if !strings.Contains(string(k), "10.0.0.10") || !strings.Contains(string(k), "mark=") {
			t.Errorf("data-path check %s does not dial a VIP with a mark", k)
		}
	}
	// The real server goes: its fwmark service goes with it.
	if err := r.d.RemoveNode(context.Background(), NodeRef{Service: "tcp 10.0.0.100:80", Address: "10.0.0.12"}); err != nil {
		t.Fatal(err)
	}
	r.tick(0)
	r.wantWeights("fwm 256 10.0.0.11:80 w=1\ntcp 10.0.0.100:80 10.0.0.11:80 w=1\ntcp 10.0.0.101:80 10.0.0.11:80 w=1\n")
}

func TestRuntimeErrors(t *testing.T) {
	fake := ipvs.NewFake()
	other := ipvs.ServiceKey{Protocol: ipvs.TCP, Addr: netip.MustParseAddr("10.0.0.200"), Port: 443}
	ipvs.Do(fake, ipvs.CreateServiceOp(ipvs.Service{ServiceKey: other, Scheduler: "wlc", Netmask: 32}))
	r := &rig{t: t, fake: fake, clock: healthtest.NewFakeClock(), store: &MemStore{},
		checks: map[health.Key]*healthtest.Checker{}, builds: map[health.Key]int{}}
	r.start(twoNodes)
	ctx := context.Background()
	for _, c := range []struct {
		err  error
		want error
	}{
		{r.d.AddNode(ctx, Node{NodeRef: NodeRef{Service: "tcp 10.0.0.200:443", Address: "10.0.0.11"}}), ErrNotManaged},
		{r.d.AddNode(ctx, Node{NodeRef: NodeRef{Service: "tcp 10.0.0.100:80", Address: "10.0.0.11"}}), ErrExists},
		{r.d.AddNode(ctx, Node{NodeRef: NodeRef{Service: "tcp 10.0.0.100:80", Address: "nope"}}), ErrInvalid},
		{r.d.AddNode(ctx, Node{NodeRef: NodeRef{Service: "tcp 10.0.0.100:80", Address: "10.0.0.14"}, Method: "bogus"}), ErrInvalid},
		{r.d.RemoveNode(ctx, NodeRef{Service: "tcp 10.0.0.100:80", Address: "10.0.0.19"}), ErrNotFound},
		{r.d.Drain(ctx, NodeRef{Service: "tcp 10.0.0.1:80", Address: "10.0.0.11"}, DrainOptions{}), ErrNotFound},
	} {
		if !errorsIs(c.err, c.want) {
			t.Errorf("got %v, want %v", c.err, c.want)
		}
	}
	if s := r.d.Status(); len(s.Services) != 1 || len(s.Services[0].Nodes) != 2 || s.Generation != 0 {
		t.Errorf("failed calls changed the desired state: %+v", s)
	}
}

// Run reads the resync and drain intervals while SIGHUP's Reload replaces
// the config: under -race this fails if either side skips d.mu.
func TestReloadWhileRunning(t *testing.T) {
	r := newRig(t, "resync: 1s\n"+twoNodes)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.d.Run(ctx) }()
	r.clock.BlockUntil(t, r.d.sched.Runs()+2) // the checks' timers, resync and drain poll
	var cfgs []Config
	for i := range 50 {
		cfg, err := ParseConfig("test.yaml", []byte(fmt.Sprintf("resync: %dms\n%s", 500+i, twoNodes)))
		if err != nil {
			t.Fatal(err)
		}
		cfgs = append(cfgs, cfg)
	}
	for _, cfg := range cfgs {
		r.clock.Advance(time.Second)                 // Run wakes and reads the interval ...
		if err := r.d.Reload(ctx, cfg); err != nil { // ... while this replaces it
			t.Fatal(err)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// The API's check is health.Definition as JSON (README's keys, durations as
// text), data_path included: a node added so gets its fwmark service.
func TestAPICheckIsTheConfigsCheck(t *testing.T) {
	r := newRig(t, "datapath: {marks: 0x100-0x1ff}\n"+twoNodes)
	var n Node
	body := `{"service":"tcp 10.0.0.100:80","address":"10.0.0.13","check":{"type":"tcp","data_path":true,"source":"10.0.0.2","interval":"200ms","fall":2}}`
	if err := json.Unmarshal([]byte(body), &n); err != nil {
		t.Fatal(err)
	}
	if err := r.d.AddNode(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	r.script(health.Result{OK: true})
	r.tick(2)
	ds, err := r.fake.Destinations(ipvs.ServiceKey{FWMark: 0x100})
	if err != nil || len(ds) != 1 || ds[0].Addr.String() != "10.0.0.13" {
		t.Fatalf("no data-path service for the API's node: %v %v", ds, err)
	}
	// The state file writes it the same way.
	got, _ := r.store.Load(context.Background())
	b, _ := json.Marshal(got.Services[0].Nodes[2].Check)
	if want := `{"type":"tcp","source":"10.0.0.2","data_path":true,"fall":2,"interval":"200ms"}`; string(b) != want {
		t.Errorf("saved check %s, want %s", b, want)
	}
}
