package agent

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/tunnel"
)

// Fault 9 of issue 7: a SIGHUP that changed state-file or listen was
// logged as reloaded while both were ignored. Such a reload is refused as
// a whole, said in STATUS= and /readyz, and the running set is kept.
func TestReloadChangingStateFileOrListenIsRefusedAndSaid(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"state-file", func(o *Options) { o.StateFile = "/elsewhere/state.json" }, "state-file"},
		{"listen", func(o *Options) { o.Listen = "127.0.0.1:9999" }, "listen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t)
			o := opts(t, "10.0.0.100")
			o.ResyncInterval = time.Hour
			r := startReady(t, h, o)
			r.d.Reload = func() (Options, error) {
				n := opts(t, "10.0.0.200")
				n.ResyncInterval = time.Hour
				tc.change(&n)
				return n, nil
			}
			r.reload <- struct{}{}
			waitFor(t, "READY=1 after RELOADING=1", func() bool { return r.sent("RELOADING=1") == 1 && r.sent("READY=1") == 2 })
			waitFor(t, "STATUS=reload refused", func() bool { return r.sent("STATUS=reload refused") == 1 })
			if st := strings.Join(r.rec.Sent(), "\n"); !strings.Contains(st, tc.want) || !strings.Contains(st, "restart") {
				t.Fatalf("STATUS does not say %s needs a restart:\n%s", tc.want, st)
			}
			if hasVIP(h, "10.0.0.200/32")() || !hasVIP(h, "10.0.0.100/32")() {
				t.Fatal("half-applied: the VIPs of the refused reload were applied")
			}
			srv := httptest.NewServer(r.d.Handler())
			defer srv.Close()
			resp, err := http.Get(srv.URL + "/readyz")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(body), "reload refused") {
				t.Fatalf("/readyz %d %q does not say the reload was refused", resp.StatusCode, body)
			}
		})
	}
}

// A reload to a NAT gateway the host cannot use is refused as a whole:
// applying it would fail on every retry while the host kept waiting.
func TestReloadToABadGatewayIsRefused(t *testing.T) {
	h := newHost(t)
	tun := tunnel.NewFake("lo", "eth0")
	tun.Gets[netip.MustParseAddr("10.0.0.255")] = tunnel.Route{Dev: "eth0", Type: 3}
	h.agent.Tun = tun
	o := opts(t, "10.0.0.100")
	o.ResyncInterval = time.Hour
	r := startReady(t, h, o)
	r.d.Reload = func() (Options, error) {
		n := modeOpts(t, "mode", "nat", "gateway", "10.0.0.255")
		n.ResyncInterval = time.Hour
		return n, nil
	}
	r.reload <- struct{}{}
	waitFor(t, "STATUS=reload refused", func() bool { return r.sent("STATUS=reload refused") == 1 })
	if st := strings.Join(r.rec.Sent(), "\n"); !strings.Contains(st, "broadcast") {
		t.Fatalf("STATUS does not say why:\n%s", st)
	}
	if !hasVIP(h, "10.0.0.100/32")() || len(tun.Log) != 0 {
		t.Fatalf("the refused reload changed something: %q", tun.Log)
	}
}
