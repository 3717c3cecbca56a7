package agent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/health"
	"github.com/lvsnode/lvsnode/health/healthtest"
	"github.com/lvsnode/lvsnode/sockdiag"
	"github.com/lvsnode/lvsnode/systemd"
)

// The drain machine on its own: the times are given, no clock at all.
func TestDrainMachine(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	var m drain
	m.phase = Serving
	m.begin(t0, time.Minute, 2*time.Second, false)
	if m.step(at(time.Second), 0, nil) {
		t.Fatal("drained before min-wait with no socket")
	}
	if m.step(at(3*time.Second), 1, nil) {
		t.Fatal("drained with a socket open")
	}
	if m.step(at(4*time.Second), 0, errors.New("netlink down")) {
		t.Fatal("a failed count was read as 0")
	}
	if !m.step(at(5*time.Second), 0, nil) || m.phase != Drained {
		t.Fatal("not drained: no socket after min-wait")
	}

	m = drain{phase: Serving}
	m.begin(t0, 10*time.Second, 2*time.Second, false)
	if m.step(at(9*time.Second), 3, nil) {
		t.Fatal("drained before the timeout with sockets")
	}
	if !m.step(at(10*time.Second), 3, nil) || !strings.Contains(m.ended, "timeout") {
		t.Fatalf("timeout did not end the drain: %+v", m)
	}
	if m.begin(at(11*time.Second), time.Minute, 0, true) {
		t.Fatal("a drained machine began draining again")
	}

	// min-wait above the timeout: the timeout wins.
	m = drain{phase: Serving}
	m.begin(t0, time.Second, time.Minute, false)
	if !m.step(at(time.Second), 0, nil) {
		t.Fatal("min-wait above the timeout held the drain past it")
	}
	// A SIGTERM during `agent drain` keeps that drain's times, adds exit.
	m = drain{phase: Serving}
	m.begin(t0, time.Minute, time.Second, false)
	m.begin(at(30*time.Second), time.Hour, time.Hour, true)
	if !m.exit || m.deadline != at(time.Minute) {
		t.Fatalf("second begin changed the drain: %+v", m)
	}
	if !m.undrain(at(31*time.Second)) || m.phase != Serving || m.exit {
		t.Fatalf("undrain: %+v", m)
	}
}

type drainRig struct {
	*running
	h     *host
	clock *healthtest.FakeClock
	socks *sockdiag.Fake
	ready *httptest.Server
}

var vip4 = netip.MustParseAddr("10.0.0.100")

// startDrainRig runs a daemon on the fake host with a fake clock and a
// fake socket table, ready, serving /readyz over HTTP.
func startDrainRig(t *testing.T, dc DrainConfig) *drainRig {
	t.Helper()
	h := newHost(t)
	o := opts(t, "10.0.0.100")
	o.Drain = dc
	rec := &systemd.Recorder{}
	d := NewDaemon(h.agent, rec, slog.New(slog.NewTextHandler(io.Discard, nil)), o)
	d.MinBackoff, d.MaxBackoff = time.Millisecond, 20*time.Millisecond
	g := &drainRig{h: h, clock: healthtest.NewFakeClock(), socks: &sockdiag.Fake{}}
	d.Clock, d.Sockets = g.clock, g.socks
	ctx, cancel := context.WithCancel(context.Background())
	g.running = &running{d: d, rec: rec, reload: make(chan struct{}, 1), cancel: cancel, done: make(chan error, 1)}
	go func() { g.done <- d.Run(ctx, g.reload) }()
	t.Cleanup(func() { g.stop(t) })
	waitFor(t, "READY=1", func() bool { return g.sent("READY=1") == 1 })
	g.ready = httptest.NewServer(d.Handler())
	t.Cleanup(g.ready.Close)
	return g
}

// verdict is what the director's ready check (health) makes of /readyz:
// "ready", "draining" or "not ready", with its reason.
func (g *drainRig) verdict(t *testing.T) (string, string) {
	t.Helper()
	u, _ := url.Parse(g.ready.URL)
	port, _ := strconv.Atoi(u.Port())
	c, err := health.NewChecker(health.Definition{Type: health.Ready, Target: netip.MustParseAddr(u.Hostname()), Port: uint16(port)})
	if err != nil {
		t.Fatal(err)
	}
	r := c.Check(context.Background())
	switch {
	case r.OK:
		return "ready", r.Reason
	case r.Draining:
		return "draining", r.Reason
	case errors.Is(r.Err, health.ErrNotReady):
		return "not ready", r.Err.Error()
	}
	t.Fatalf("readiness broke the contract: %+v", r)
	return "", ""
}

func (g *drainRig) want(t *testing.T, verdict string) {
	t.Helper()
	if v, why := g.verdict(t); v != verdict {
		t.Fatalf("director's ready check says %q (%s), want %q", v, why, verdict)
	}
}

// advance moves the fake clock by step, n times, each time waiting until
// the daemon re-armed its drain timer (or stopped using it).
func (g *drainRig) advance(t *testing.T, step time.Duration, n int) {
	t.Helper()
	for range n {
		g.clock.Advance(step)
		time.Sleep(2 * time.Millisecond)
		waitFor(t, "drain poll handled", func() bool { return g.clock.Armed() == 1 || g.d.phase() != Draining })
	}
}

func (g *drainRig) hasVIP() bool {
	as, _ := g.h.nl.Addrs("lo")
	for _, a := range as {
		if a.Prefix.Addr() == vip4 {
			return true
		}
	}
	return false
}

var testDrain = DrainConfig{Timeout: time.Minute, MinWait: 2 * time.Second}

func TestDrainWaitsForSocketsThenRemovesVIPs(t *testing.T) {
	g := startDrainRig(t, testDrain)
	g.socks.Set(vip4, 1)
	g.want(t, "ready")
	st, err := g.d.Drain(context.Background(), 0)
	if err != nil || st.Phase != Draining || st.VIPSockets == nil || *st.VIPSockets != 1 {
		t.Fatalf("drain: %+v %v", st, err)
	}
	g.want(t, "draining")
	g.advance(t, 500*time.Millisecond, 10) // 5 s: past min-wait, a socket open
	if !g.hasVIP() || g.d.phase() != Draining {
		t.Fatal("the VIP went while a client was connected")
	}
	g.want(t, "draining")
	g.socks.Set(vip4, 0) // the client closes
	g.advance(t, 500*time.Millisecond, 1)
	waitFor(t, "drained", func() bool { return g.d.phase() == Drained })
	// The phase says Drained just before the teardown runs.
	waitFor(t, "the VIP removed once drained", func() bool { return !g.hasVIP() })
	v, why := g.verdict(t)
	if v != "not ready" || !strings.Contains(why, "drained") {
		t.Fatalf("after the drain: %q %q, want not ready (drained)", v, why)
	}
	// A reconcile (periodic re-list, netlink event) must not bring it back.
	g.d.reconcile("periodic re-list")
	if g.hasVIP() {
		t.Fatal("a reconcile re-added the drained VIP")
	}
	// Undrain: VIPs back, ready.
	if _, err := g.d.Undrain(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "VIP back", g.hasVIP)
	g.want(t, "ready")
}

func TestDrainHonoursMinWaitWithNoSockets(t *testing.T) {
	g := startDrainRig(t, testDrain)
	if _, err := g.d.Drain(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	g.advance(t, 500*time.Millisecond, 3) // 1.5 s < min-wait 2 s
	if g.d.phase() != Draining || !g.hasVIP() {
		t.Fatalf("drained after 1.5 s with min-wait 2 s: %s", g.d.phase())
	}
	g.want(t, "draining")
	g.advance(t, 500*time.Millisecond, 1)
	waitFor(t, "drained at min-wait", func() bool { return g.d.phase() == Drained })
}

func TestDrainTimeoutRemovesVIPsWithSocketsOpen(t *testing.T) {
	g := startDrainRig(t, testDrain)
	g.socks.Set(vip4, 5)
	if _, err := g.d.Drain(context.Background(), 3*time.Second); err != nil { // --timeout 3s
		t.Fatal(err)
	}
	g.advance(t, 500*time.Millisecond, 5)
	if g.d.phase() != Draining {
		t.Fatal("drained before the timeout with sockets open")
	}
	g.advance(t, 500*time.Millisecond, 1)
	waitFor(t, "drained at the timeout", func() bool { return g.d.phase() == Drained })
	if g.hasVIP() {
		t.Fatal("the timeout did not remove the VIP")
	}
	if st := g.d.State(); !strings.Contains(st.DrainEnded, "timeout") {
		t.Fatalf("ended: %q", st.DrainEnded)
	}
}

func TestUndrainMidDrainKeepsVIPsAndServes(t *testing.T) {
	g := startDrainRig(t, testDrain)
	g.socks.Set(vip4, 1)
	if _, err := g.d.Drain(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	g.advance(t, 500*time.Millisecond, 2)
	g.want(t, "draining")
	st, err := g.d.Undrain(context.Background())
	if err != nil || st.Phase != Serving || !st.Ready {
		t.Fatalf("undrain: %+v %v", st, err)
	}
	g.want(t, "ready")
	g.socks.Set(vip4, 0)
	g.clock.Advance(time.Hour) // an old poll timer must not finish a cancelled drain
	time.Sleep(20 * time.Millisecond)
	if !g.hasVIP() || g.d.phase() != Serving {
		t.Fatal("a cancelled drain removed the VIP")
	}
}

func TestSIGTERMDrainsThenStops(t *testing.T) {
	dc := testDrain
	dc.OnStop = true
	g := startDrainRig(t, dc)
	g.socks.Set(vip4, 1)
	g.d.Terminate()
	waitFor(t, "draining", func() bool { return g.d.phase() == Draining })
	g.want(t, "draining")
	if g.sent("STOPPING=1") != 1 {
		t.Fatalf("no STOPPING=1 when the drain began: %q", g.rec.Sent())
	}
	g.advance(t, 500*time.Millisecond, 6)
	select {
	case err := <-g.done:
		t.Fatalf("stopped with a client connected: %v", err)
	default:
	}
	g.socks.Set(vip4, 0)
	g.advance(t, 500*time.Millisecond, 1)
	select {
	case err := <-g.done:
		g.done <- err
	case <-time.After(5 * time.Second):
		t.Fatal("did not stop once drained")
	}
	if g.hasVIP() {
		t.Fatal("stopped with the VIP bound")
	}
	if n := g.sent("STOPPING=1"); n != 1 {
		t.Fatalf("STOPPING=1 sent %d times", n)
	}
}

func TestSIGTERMDuringAgentDrainStopsWhenDrained(t *testing.T) {
	dc := testDrain
	dc.OnStop = true
	g := startDrainRig(t, dc)
	g.socks.Set(vip4, 1)
	if _, err := g.d.Drain(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	g.advance(t, 500*time.Millisecond, 2)
	g.d.Terminate() // systemctl stop while `agent drain` runs
	waitFor(t, "exit added", func() bool { return g.d.State().DrainExit })
	g.socks.Set(vip4, 0)
	g.advance(t, 500*time.Millisecond, 2)
	select {
	case err := <-g.done:
		g.done <- err
	case <-time.After(5 * time.Second):
		t.Fatal("SIGTERM during a drain: not stopped once drained")
	}
}

func TestSecondSIGTERMStopsAtOnce(t *testing.T) {
	dc := testDrain
	dc.OnStop = true
	g := startDrainRig(t, dc)
	g.socks.Set(vip4, 1)
	g.d.Terminate()
	waitFor(t, "draining", func() bool { return g.d.phase() == Draining })
	g.d.Terminate()
	select {
	case err := <-g.done:
		g.done <- err
	case <-time.After(5 * time.Second):
		t.Fatal("a second SIGTERM did not stop the drain")
	}
	if !g.hasVIP() {
		t.Fatal("an impatient stop removed the VIP (teardown-on-stop is off)")
	}
}

func TestSIGTERMWithoutOnStopStopsAtOnce(t *testing.T) {
	g := startDrainRig(t, testDrain)
	g.socks.Set(vip4, 1)
	g.d.Terminate()
	select {
	case err := <-g.done:
		g.done <- err
	case <-time.After(5 * time.Second):
		t.Fatal("SIGTERM without drain.on-stop did not stop")
	}
	if g.d.phase() != Serving {
		t.Fatal("drained without drain.on-stop")
	}
}

func TestDrainConfigValidation(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{DrainTimeout: Value{S: "soon", Where: "f.yaml:3"}}, `f.yaml:3: drain timeout "soon" is not a duration`},
		{Config{DrainTimeout: Value{S: "0s", Where: "--drain-timeout"}}, `--drain-timeout: drain timeout 0s must be above 0`},
		{Config{DrainMinWait: Value{S: "-1s", Where: "LVSNODE_DRAIN_MIN_WAIT"}}, `LVSNODE_DRAIN_MIN_WAIT: drain min-wait -1s must be above 0`},
		{Config{DrainTimeout: Value{S: "1s", Where: "f.yaml:4"}, DrainMinWait: Value{S: "5s", Where: "f.yaml:5"}}, `f.yaml:5: drain min-wait 5s is above the drain timeout 1s`},
	} {
		c.cfg.VIPs = []Value{{S: "10.0.0.100", Where: "test"}}
		_, err := c.cfg.Options()
		if err == nil || !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("got %v, want %q", err, c.want)
		}
	}
	o := opts(t, "10.0.0.100")
	if o.Drain.Timeout != DefaultDrainTimeout || o.Drain.MinWait != DefaultDrainMinWait || o.Drain.OnStop {
		t.Fatalf("defaults: %+v", o.Drain)
	}
}
