package agent

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/loopback"
	"github.com/lvsnode/lvsnode/systemd"
	"github.com/lvsnode/lvsnode/tunnel"
)

type running struct {
	d      *Daemon
	rec    *systemd.Recorder
	reload chan struct{}
	cancel context.CancelFunc
	done   chan error
}

func startDaemon(t *testing.T, h *host, o Options) *running {
	t.Helper()
	rec := &systemd.Recorder{}
	d := NewDaemon(h.agent, rec, slog.New(slog.NewTextHandler(io.Discard, nil)), o)
	d.MinBackoff, d.MaxBackoff = time.Millisecond, 20*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{d: d, rec: rec, reload: make(chan struct{}, 1), cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- d.Run(ctx, r.reload) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("daemon did not stop")
		return nil
	}
}

// startReady starts the daemon and waits for its first READY=1.
func startReady(t *testing.T, h *host, o Options) *running {
	t.Helper()
	r := startDaemon(t, h, o)
	waitFor(t, "READY=1", func() bool { return r.sent("READY=1") == 1 })
	return r
}

// delVIP removes a VIP behind the daemon's back, as an outside actor would.
func delVIP(t *testing.T, h *host, prefix string) {
	t.Helper()
	if err := h.nl.DelAddr(loopback.Addr{Dev: "lo", Prefix: netip.MustParsePrefix(prefix)}); err != nil {
		t.Fatal(err)
	}
}

func (r *running) sent(prefix string) int {
	n := 0
	for _, s := range r.rec.Sent() {
		if strings.HasPrefix(s, prefix) {
			n++
		}
	}
	return n
}

func hasVIP(h *host, p string) func() bool {
	return func() bool {
		as, _ := h.nl.Addrs("lo")
		return slices.ContainsFunc(as, func(a loopback.Addr) bool { return a.Prefix.String() == p })
	}
}

func TestDaemonReadyOnlyAfterVerifiedApply(t *testing.T) {
	h := newHost(t)
	o := opts(t, "10.0.0.100")
	o.ResyncInterval = time.Hour
	h.stuck.Store(true) // sysctls never stick: never verified
	r := startDaemon(t, h, o)
	srv := httptest.NewServer(r.d.Handler())
	defer srv.Close()
	waitFor(t, "a few failed attempts", func() bool { return r.d.failures.Load() >= 3 })
	if n := r.sent("READY=1"); n != 0 {
		t.Fatalf("READY=1 sent %d times without verification", n)
	}
	resp, err := http.Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "arp_ignore") {
		t.Fatalf("/readyz = %d %q, want 503 naming the sysctl", resp.StatusCode, body)
	}
	// Whatever resets the sysctls stops; the retry loop converges.
	h.stuck.Store(false)
	waitFor(t, "READY=1", func() bool { return r.sent("READY=1") == 1 })
	resp, err = http.Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz = %d after verification", resp.StatusCode)
	}
}

func TestDaemonRepairsDeletedVIPOnEvent(t *testing.T) {
	h := newHost(t)
	o := opts(t, "10.0.0.100")
	o.ResyncInterval = time.Hour // only the event can trigger the repair
	r := startReady(t, h, o)
	delVIP(t, h, "10.0.0.100/32")
	waitFor(t, "VIP re-added", hasVIP(h, "10.0.0.100/32"))
	waitFor(t, "repair counted", func() bool { return r.d.repairs.Load() == 1 })
}

func TestDaemonResubscribesWhenTheStreamBreaks(t *testing.T) {
	h := newHost(t)
	o := opts(t, "10.0.0.100")
	o.ResyncInterval = time.Hour
	r := startReady(t, h, o)
	// The VIP vanishes while the stream is broken (its event is lost).
	h.nl.SetFail("Watch", errTest)
	h.nl.BreakWatchers()
	delVIP(t, h, "10.0.0.100/32")
	time.Sleep(10 * time.Millisecond)
	h.nl.SetFail("Watch", nil)
	waitFor(t, "resubscribed", func() bool { return h.nl.Watchers() == 1 })
	waitFor(t, "VIP re-added after re-list", hasVIP(h, "10.0.0.100/32"))
	if r.d.resubs.Load() == 0 {
		t.Fatal("resubscription not counted")
	}
}

func TestDaemonPeriodicRelistRepairsSysctls(t *testing.T) {
	h := newHost(t)
	o := opts(t, "10.0.0.100")
	o.ResyncInterval = 10 * time.Millisecond
	startReady(t, h, o)
	h.sys.Poke("net.ipv4.conf.all.arp_ignore", "0") // no event for this
	waitFor(t, "sysctl repaired", func() bool {
		v, _ := h.sys.Get([]string{"net", "ipv4", "conf", "all", "arp_ignore"})
		return v == "1"
	})
}

func TestDaemonReloadSwapsVIPs(t *testing.T) {
	h := newHost(t)
	o := opts(t, "10.0.0.100")
	o.ResyncInterval = time.Hour
	r := startReady(t, h, o)
	r.d.Reload = func() (Options, error) { n := opts(t, "10.0.0.200"); n.ResyncInterval = time.Hour; return n, nil }
	r.reload <- struct{}{}
	waitFor(t, "new VIP", hasVIP(h, "10.0.0.200/32"))
	waitFor(t, "old VIP gone", func() bool { return !hasVIP(h, "10.0.0.100/32")() })
	waitFor(t, "READY=1 after RELOADING=1", func() bool { return r.sent("RELOADING=1") == 1 && r.sent("READY=1") == 2 })
	if n := r.d.repairs.Load(); n != 0 {
		t.Fatalf("a reload's changes were counted as %d drift repairs", n)
	}
}

func TestDaemonStopSendsStoppingAndTearsDownWhenAsked(t *testing.T) {
	h := newHost(t)
	o := opts(t, "10.0.0.100")
	o.TeardownOnStop = true
	r := startReady(t, h, o)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if r.sent("STOPPING=1") != 1 {
		t.Fatalf("notifications %v", r.rec.Sent())
	}
	if hasVIP(h, "10.0.0.100/32")() || h.sys.Value("net.ipv4.conf.all.arp_ignore") != "0" {
		t.Fatal("teardown-on-stop left the VIP or the sysctl")
	}
}

var errTest = errTestT("injected failure")

type errTestT string

func (e errTestT) Error() string { return string(e) }

func TestDaemonRepairUpdatesStatusWithoutReREADY(t *testing.T) {
	h := newHost(t)
	o := opts(t, "10.0.0.100")
	o.ResyncInterval = time.Hour
	r := startReady(t, h, o)
	delVIP(t, h, "10.0.0.100/32")
	waitFor(t, "STATUS=repaired", func() bool { return r.sent("STATUS=repaired") == 1 })
	if n := r.sent("READY=1"); n != 1 {
		t.Fatalf("READY=1 sent %d times; a repair must not re-announce readiness", n)
	}
}

func TestDaemonCountsABreakAndRelistsWhatItHid(t *testing.T) {
	h := newHost(t)
	o := opts(t, "10.0.0.100")
	o.ResyncInterval = time.Hour // only the resubscription's re-list can repair
	r := startReady(t, h, o)
	h.nl.SetFail("Watch", errTest) // keep the stream down while the VIP goes
	h.nl.BreakWatchers()
	delVIP(t, h, "10.0.0.100/32")
	waitFor(t, "break counted", func() bool { return r.d.resubs.Load() == 1 })
	h.nl.SetFail("Watch", nil)
	waitFor(t, "VIP back after resubscribing", hasVIP(h, "10.0.0.100/32"))
	waitFor(t, "the repair counted", func() bool { return r.d.repairs.Load() == 1 })
}

func TestDaemonRefusedReloadEndsWithREADYAndSaysWhy(t *testing.T) {
	h := newHost(t)
	o := opts(t, "10.0.0.100")
	o.ResyncInterval = time.Hour
	r := startReady(t, h, o)
	r.d.Reload = func() (Options, error) { return Options{}, errTest }
	r.reload <- struct{}{}
	waitFor(t, "READY=1 after RELOADING=1", func() bool { return r.sent("RELOADING=1") == 1 && r.sent("READY=1") == 2 })
	waitFor(t, "STATUS=reload refused", func() bool { return r.sent("STATUS=reload refused") == 1 })
	if !hasVIP(h, "10.0.0.100/32")() {
		t.Fatal("a refused reload dropped the running VIP")
	}
}

// A broken stream (an overrun) is resubscribed at once, not after the
// back-off that paces failed subscribes: under sustained churn each pause
// left drift unseen (repairs up to 5 s). A DR plan takes no rule events.
func TestDaemonResubscribesAtOnceAfterABreak(t *testing.T) {
	h := newHost(t)
	tun := tunnel.NewFake("lo", "eth0")
	h.agent.Tun = tun
	o := opts(t, "10.0.0.100")
	o.ResyncInterval = time.Hour
	rec := &systemd.Recorder{}
	d := NewDaemon(h.agent, rec, slog.New(slog.NewTextHandler(io.Discard, nil)), o)
	d.MinBackoff, d.MaxBackoff = time.Hour, time.Hour // a pause would never end here
	stop := runDaemon(t, d)
	defer stop()
	waitFor(t, "ready", func() bool { ok, _ := d.Ready(); return ok })
	time.Sleep(50 * time.Millisecond) // the events of its own changes handled
	if n := tun.RuleWatchers(); n != 0 {
		t.Fatalf("a DR daemon watches rules (%d)", n)
	}
	h.nl.BreakWatchers()
	delVIP(t, h, "10.0.0.100/32")
	waitFor(t, "VIP back", hasVIP(h, "10.0.0.100/32"))
	if d.resubs.Load() != 1 {
		t.Fatalf("resubscriptions %d, want 1", d.resubs.Load())
	}
}
