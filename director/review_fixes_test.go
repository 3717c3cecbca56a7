package director

import (
	"context"
	"errors"
	"github.com/lvsnode/lvsnode/controller"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"sync"

	"github.com/lvsnode/lvsnode/systemd"
	"strings"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/health"
	"github.com/lvsnode/lvsnode/health/healthtest"
	"github.com/lvsnode/lvsnode/ipvs"
)

// An operator's drain (API / drain-node) of a real server whose agent
// drain is in progress takes it over: the agent's "ready" does not end it
// (found by review: it used to, and the real server went back to full weight).
func TestOperatorDrainTakesOverAnAgentDrain(t *testing.T) {
	r := newRig(t, withAgent)
	r.tick(2)
	mk := ipvs.ServiceKey{Protocol: ipvs.TCP, Addr: netip.MustParseAddr("10.0.0.100"), Port: 80}
	rs1 := ipvs.DestKey{Addr: netip.MustParseAddr("10.0.0.11"), Port: 80}
	r.fake.SetCounters(mk, rs1, 5, 0, ipvs.Stats{}) // connections left: the agent drain stays "draining"
	r.setWhere(healthtest.Draining, "ready", "10.0.0.11")
	r.tick(1)
	ref := NodeRef{Service: "tcp 10.0.0.100:80", Address: "10.0.0.11"}
	if err := r.d.Drain(context.Background(), ref, DrainOptions{Timeout: Duration(time.Hour), Remove: true}); err != nil {
		t.Fatal(err)
	}
	r.tick(1)
	// The agent restarts (its rolling restart is over) and says ready.
	r.setWhere(healthtest.OK, "ready", "10.0.0.11")
	r.tick(2)
	n := r.d.Status().Services[0].Nodes[0]
	if n.Drain == DrainNone || n.Weight != 0 {
		t.Fatalf("after the operator's drain-node (remove, 1h) the agent's ready undid it: drain=%s weight=%d", n.Drain, n.Weight)
	}
}

// drain "*" (drain-node --all-services -r RIP) misses a real server
// whose port is not the service's (NAT 80 -> 8080), though the help says
// "-r RIP" drains it from every service, and the CLI's waiter matches it.
func TestDrainEveryServiceMatchesAnyPort(t *testing.T) {
	r := newRig(t, `
services:
  - service: tcp 10.0.0.100:80
    nodes:
      - {address: 10.0.0.11, port: 8080, method: nat}
  - service: tcp 10.0.0.101:80
    nodes:
      - {address: 10.0.0.11}
`)
	r.tick(1)
	err := r.d.Drain(context.Background(), NodeRef{Service: "*", Address: "10.0.0.11"}, DrainOptions{Timeout: Duration(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range r.d.Status().Services {
		for _, n := range s.Nodes {
			if n.Drain == DrainNone {
				t.Errorf("%s %s:%d not drained by drain \"*\" of 10.0.0.11", s.Service, n.Address, n.Port)
			}
		}
	}
}

// failStore fails every Save once armed.
type failStore struct {
	MemStore
	fail bool
}

func (f *failStore) Save(ctx context.Context, d Desired) error {
	if f.fail {
		return errors.New("disk full")
	}
	return f.MemStore.Save(ctx, d)
}

// an API change whose save fails answers an error ("on error nothing
// changed") but the new model stays installed: the next reconcile writes
// the real server into IPVS, and the state file never has it.
func TestChangeThatCannotBeSavedIsNotMade(t *testing.T) {
	fake := ipvs.NewFake()
	st := &failStore{}
	cfg, err := ParseConfig("t.yaml", []byte("services:\n  - service: tcp 10.0.0.100:80\n    nodes: [{address: 10.0.0.11}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := New(cfg, Options{IPVS: fake, Store: st, Clock: healthtest.NewFakeClock(), NoLock: true, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	st.fail = true
	err = d.AddNode(context.Background(), Node{NodeRef: NodeRef{Service: "tcp 10.0.0.100:80", Address: "10.0.0.12"}})
	if err == nil {
		t.Fatal("AddNode succeeded with a failing store")
	}
	_ = d.Reconcile(context.Background())
	ds, _ := fake.Destinations(ipvs.ServiceKey{Protocol: ipvs.TCP, Addr: netip.MustParseAddr("10.0.0.100"), Port: 80})
	for _, x := range ds {
		if x.Addr == netip.MustParseAddr("10.0.0.12") {
			t.Fatalf("AddNode failed (%v) but 10.0.0.12 is in IPVS; status has %d nodes", err, len(d.Status().Services[0].Nodes))
		}
	}
}

// A reload whose new check cannot be built (its checker fails) is refused
// and every running check stays: the subscriptions of dropped real servers
// are removed only after every add succeeded (found by review: a refused
// reload had already stopped the check of a node still in the model).
func TestRefusedReloadKeepsEveryRunningCheck(t *testing.T) {
	const v1 = `
services:
  - service: tcp 10.0.0.100:80
    check: {type: tcp, port: 80, interval: 200ms, rise: 1, fall: 1}
    nodes:
      - address: 10.0.0.11
      - address: 10.0.0.12
`
	clock := healthtest.NewFakeClock()
	cfg1, err := ParseConfig("test.yaml", []byte(v1))
	if err != nil {
		t.Fatal(err)
	}
	d := New(cfg1, Options{IPVS: ipvs.NewFake(), Store: &MemStore{}, Clock: clock, NoLock: true,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		NewChecker: func(def health.Definition) (health.Checker, error) {
			if def.Path == "/unbuildable" {
				return nil, errors.New("cannot build this checker")
			}
			return healthtest.NewChecker(clock), nil
		}})
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	v2 := `
services:
  - service: tcp 10.0.0.100:80
    check: {type: tcp, port: 80, interval: 200ms, rise: 1, fall: 1}
    nodes:
      - address: 10.0.0.11
      - address: 10.0.0.13
        check: {type: http, path: /unbuildable, interval: 200ms}
`
	cfg, err := ParseConfig("test.yaml", []byte(v2))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(context.Background(), cfg); err == nil {
		t.Fatal("reload accepted")
	}
	id12 := "tcp 10.0.0.100:80 10.0.0.12:80"
	if _, ok := d.model.nodes[id12]; !ok {
		t.Fatal("the refused reload changed the model")
	}
	if _, ok := d.sched.Status(id12); !ok {
		t.Fatalf("the refused reload unsubscribed the check of %s, which is still in the running model", id12)
	}
}

// a state change recorded by a run, delivered (OnChange waits for
// d.mu) after an edit moved the node to a new check, is applied to the
// node anyway: the node says "up" (full weight) while its new check fails
// and will never report a change.
func TestStaleHealthEventOfAnOldCheckIsIgnored(t *testing.T) {
	r := newRig(t, `
services:
  - service: tcp 10.0.0.100:80
    check: {type: http, path: /a, interval: 200ms, rise: 1, fall: 1}
    nodes:
      - address: 10.0.0.11
`)
	r.wantWeights("tcp 10.0.0.100:80 10.0.0.11:80 w=0\n") // alpha: down
	id := "tcp 10.0.0.100:80 10.0.0.11:80"
	r.script(healthtest.OK)
	r.clock.BlockUntil(t, r.d.sched.Runs())
	r.d.mu.Lock() // e.g. a reconcile, Status() or a save holding d.mu
	r.clock.Advance(interval)
	for { // the run recorded up; its OnChange now waits for d.mu
		if st, _ := r.d.sched.Status(id); st.State == health.Up {
			break
		}
		time.Sleep(time.Millisecond)
	}
	// Meanwhile EditNode (what change() does under d.mu) moves the check to
	// /b, which fails; its run starts at the node's state, down.
	bad := &health.Definition{Type: health.HTTP, Path: "/b", Interval: interval, Rise: 1, Fall: 1}
	next := copyDesired(r.d.desired)
	next.Services[0].Nodes[0].Check = bad
	next.Generation++
	if err := r.d.install(context.Background(), next, false); err != nil {
		r.d.mu.Unlock()
		t.Fatal(err)
	}
	r.d.mu.Unlock()
	r.mu.Lock()
	for k, c := range r.checks {
		if strings.Contains(string(k), `"/b"`) {
			c.Set(healthtest.Fail)
		}
	}
	r.mu.Unlock()
	time.Sleep(50 * time.Millisecond) // the stale event lands
	r.tick(5)                         // /b fails 5 times
	st, _ := r.d.sched.Status(id)
	n := r.d.Status().Services[0].Nodes[0]
	if n.Health == HealthUp || n.Weight != 0 {
		t.Fatalf("node health=%s weight=%d while its check (%s) is %s after 5 failures", n.Health, n.Weight, st.Key, st.State)
	}
}

// hangIPVS blocks every read once armed (a netlink call that never
// returns, a kernel stuck on a lock).
type hangIPVS struct {
	lockedIPVS
	hang chan struct{}
	on   atomicBool
}

type atomicBool struct {
	mu sync.Mutex
	v  bool
}

func (a *atomicBool) set()      { a.mu.Lock(); a.v = true; a.mu.Unlock() }
func (a *atomicBool) get() bool { a.mu.Lock(); defer a.mu.Unlock(); return a.v }

func (h *hangIPVS) Services() ([]ipvs.Service, error) {
	if h.on.get() {
		<-h.hang
	}
	return h.lockedIPVS.Services()
}

// the unit says "a hung reconcile loop is restarted" by the watchdog,
// but WATCHDOG=1 comes from Serve's select loop, whatever the reconcile
// loop does: with every IPVS read hung, the pings go on.
func TestWatchdogStopsWhileReconcileHangs(t *testing.T) {
	ns := listenNotify(t)
	t.Setenv("WATCHDOG_USEC", "100000") // ping every 50 ms
	t.Setenv("WATCHDOG_PID", "")
	dir := t.TempDir()
	path := filepath.Join(dir, "director.yaml")
	y := "metrics: " + freeAddr(t) + "\nresync: 100ms\nlock_wait: 100ms\napi: {socket: " + filepath.Join(dir, "api.sock") + "}\nservices:\n  - service: tcp 10.0.0.100:80\n    nodes: [{address: 10.0.0.11}]\n"
	if err := os.WriteFile(path, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	h := &hangIPVS{lockedIPVS: lockedIPVS{Client: ipvs.NewFake()}, hang: make(chan struct{})}
	defer close(h.hang)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go Serve(ctx, path, cfg, Options{IPVS: h, Store: &MemStore{}, NoLock: true, Notify: systemd.Socket{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	eventually(t, "READY=1", func() bool { return ns.count("READY=1") == 1 })
	h.on.set()
	time.Sleep(500 * time.Millisecond) // the next resync hangs in ReadTable
	before := ns.count("WATCHDOG=1")
	time.Sleep(time.Second)
	if n := ns.count("WATCHDOG=1") - before; n > 0 {
		t.Fatalf("%d WATCHDOG=1 pings in 1 s while every reconcile hangs: systemd never restarts a hung loop", n)
	}
}

// a reload that adds `agent:` (or `check:`) to a service whose real
// servers are serving takes every one of them to weight 0 at once (the new
// probe starts "down") until rise probes pass: an outage of the whole
// service for interval x rise on a config change that should change no
// weight.
func TestReloadAddingAProbeKeepsServingWeights(t *testing.T) {
	const v1 = `
services:
  - service: tcp 10.0.0.100:80
    nodes:
      - address: 10.0.0.11
      - address: 10.0.0.12
`
	r := newRig(t, v1)
	r.wantWeights("tcp 10.0.0.100:80 10.0.0.11:80 w=1\ntcp 10.0.0.100:80 10.0.0.12:80 w=1\n")
	cfg, err := ParseConfig("test.yaml", []byte(strings.Replace(v1, "    nodes:", "    agent: {port: 9109}\n    nodes:", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.d.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if err := r.d.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if w := r.weights(); strings.Contains(w, "w=0") {
		t.Fatalf("after a reload adding agent: to a serving service, before any probe:\n%s", w)
	}
}

// `controller run --check` (LoadConfig) refuses what run would fail on,
// as bad input (ErrInvalid: exit 2, which stops systemd's restart loop)
// naming file:line: a metrics address that is not IP:PORT and an https
// check whose ca_file cannot be read (found by review: --check said valid).
func TestCheckRefusesWhatRunWouldRefuse(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ name, extra, svc, want string }{
		{"metrics", "metrics: localhost:notaport\n", "", `metrics: "localhost:notaport": port "notaport" is not a number`},
		{"metricshost", "metrics: localhost:9110\n", "", `"localhost" is not an IP address`},
		{"ca_file", "metrics: 127.0.0.1:0\n", "    check: {type: https, ca_file: /nonexistent.pem}\n", "ca_file.yaml:4: tcp 10.0.0.100:80 10.0.0.11:80: https check of 10.0.0.11: ca_file: open /nonexistent.pem"},
	} {
		path := filepath.Join(dir, c.name+".yaml")
		y := c.extra + "services:\n  - service: tcp 10.0.0.100:80\n" + c.svc + "    nodes: [{address: 10.0.0.11}]\n"
		os.WriteFile(path, []byte(y), 0o644)
		_, err := LoadConfig(path)
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrInvalid with %q", c.name, err, c.want)
		}
	}
}

// failReads fails Services() while armed.
type failReads struct {
	ipvs.Client
	on bool
}

func (f *failReads) Services() ([]ipvs.Service, error) {
	if f.on {
		return nil, errors.New("netlink: ENOBUFS")
	}
	return f.Client.Services()
}

// findService ignores the IPVS read error: a foreign service is taken
// for "not found", AddNode creates a managed service over it, and the next
// reconcile removes the foreign real server.
func TestAddNodeDuringAFailedReadCreatesNothing(t *testing.T) {
	f := ipvs.NewFake()
	other := ipvs.Service{ServiceKey: ipvs.ServiceKey{Protocol: ipvs.TCP, Addr: netip.MustParseAddr("10.0.0.200"), Port: 443}, Scheduler: "wlc", Netmask: 32}
	ipvs.Do(f, ipvs.CreateServiceOp(other))
	ipvs.Do(f, ipvs.CreateDestOp(other.ServiceKey, ipvs.Destination{DestKey: ipvs.DestKey{Addr: netip.MustParseAddr("10.0.0.99"), Port: 443}, Forward: ipvs.Route, Weight: 7}))
	c := &failReads{Client: f}
	cfg, _ := ParseConfig("t.yaml", []byte("services: []\n"))
	d := New(cfg, Options{IPVS: c, Store: &MemStore{}, Clock: healthtest.NewFakeClock(), NoLock: true, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c.on = true
	err := d.AddNode(context.Background(), Node{NodeRef: NodeRef{Service: "tcp 10.0.0.200:443", Address: "10.0.0.11"}})
	c.on = false
	t.Logf("AddNode during a failed read: %v", err)
	d.Reconcile(context.Background())
	ds, _ := f.Destinations(other.ServiceKey)
	for _, x := range ds {
		if x.Addr == netip.MustParseAddr("10.0.0.99") {
			return
		}
	}
	t.Fatalf("the foreign real server 10.0.0.99 of a service the daemon never managed was removed: %v", ds)
}

// A drain with removal of an idle real server is not settled on counters
// read before its weight 0 reached the kernel: the connections scheduled
// meanwhile would be reset (expire_nodest_conn). The pass that writes
// weight 0 keeps it; the next one, reading weight 0 and no connection,
// removes it (found by review). The drain's own call writes weight 0
// (runtime changes are written before they answer), so the first full
// pass reads it; a read from before the write (weight 1) settles nothing.
func TestDrainSettlesOnlyOnAReadShowingWeightZero(t *testing.T) {
	r := newRig(t, twoNodes)
	r.tick(2)
	before, err := controller.ReadTable(r.fake)
	if err != nil {
		t.Fatal(err)
	}
	ref := NodeRef{Service: "tcp 10.0.0.100:80", Address: "10.0.0.11"}
	if err := r.d.Drain(context.Background(), ref, DrainOptions{Timeout: Duration(time.Hour), Remove: true}); err != nil {
		t.Fatal(err)
	}
	r.wantWeights("tcp 10.0.0.100:80 10.0.0.11:80 w=0\ntcp 10.0.0.100:80 10.0.0.12:80 w=1\n")
	r.d.mu.Lock()
	r.d.settleDrains(before) // counters read before weight 0 reached the kernel
	st := r.d.desired.Nodes["tcp 10.0.0.100:80 10.0.0.11:80"]
	r.d.mu.Unlock()
	if st.Drain != DrainDraining {
		t.Fatalf("settled on a read showing weight 1: %s", st.Drain)
	}
	r.tick(0)
	r.wantWeights("tcp 10.0.0.100:80 10.0.0.12:80 w=1\n")
}

// savingStore counts saves and tells whether the fake IPVS was written
// before each one.
type orderStore struct {
	MemStore
	fake  *ipvs.Fake
	saves []int // len(fake.Log) at each save
}

func (s *orderStore) Save(ctx context.Context, d Desired) error {
	s.saves = append(s.saves, len(s.fake.Log))
	return s.MemStore.Save(ctx, d)
}

// The health state that decides a write is saved before the write: a
// daemon killed between them restarts from what it wrote (found by
// review: a restart could put a failed server's weight back until fall).
func TestHealthStateSavedBeforeTheWriteItDecides(t *testing.T) {
	fake := ipvs.NewFake()
	st := &orderStore{fake: fake}
	cfg, err := ParseConfig("t.yaml", []byte(twoNodes))
	if err != nil {
		t.Fatal(err)
	}
	clock := healthtest.NewFakeClock()
	checks := map[health.Key]*healthtest.Checker{}
	var mu sync.Mutex
	d := New(cfg, Options{IPVS: fake, Store: st, Clock: clock, NoLock: true, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		NewChecker: func(def health.Definition) (health.Checker, error) {
			mu.Lock()
			defer mu.Unlock()
			c := healthtest.NewChecker(clock)
			checks[def.Key()] = c
			return c, nil
		}})
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for range 2 { // rise 2: both up
		clock.BlockUntil(t, d.sched.Runs())
		clock.Advance(interval)
	}
	clock.BlockUntil(t, d.sched.Runs())
	before := len(fake.Log)
	saves := len(st.saves)
	if err := d.Reconcile(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(fake.Log) == before {
		t.Fatal("rise 2 passed but nothing was written")
	}
	if len(st.saves) == saves || st.saves[saves] != before {
		t.Fatalf("saves at IPVS log lengths %v (write began at %d): the up state was not saved before the weights were written", st.saves[saves:], before)
	}
}
