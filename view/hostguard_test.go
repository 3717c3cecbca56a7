package view

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/director"
	"github.com/lvsnode/lvsnode/ipvs"
)

// On a loopback metrics listener /metrics and /readyz refuse a Host that is
// not a loopback name, as the page does (DNS rebinding could read /metrics;
// issue 13 review); Prometheus scraping 127.0.0.1 is served as before.
func TestLoopbackMetricsListenerRefusesARebindingHost(t *testing.T) {
	metrics := freeAddr(t)
	conf := "metrics: " + metrics + "\napi: {socket: " + filepath.Join(t.TempDir(), "director.sock") + "}\nservices:\n" +
		"  - service: tcp 10.0.0.100:80\n    scheduler: wlc\n    nodes:\n      - {address: 10.0.0.21}\n"
	cfg, err := director.ParseConfig("guard.yaml", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- director.Serve(ctx, "guard.yaml", cfg, director.Options{IPVS: &lockedFake{Fake: ipvs.NewFake()}, Store: &director.MemStore{}, NoLock: true,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}()
	defer func() { cancel(); <-done }()
	get := func(path, host string) int {
		req, _ := http.NewRequest("GET", "http://"+metrics+path, nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for start := time.Now(); get("/readyz", metrics) != http.StatusOK; time.Sleep(50 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatal("the daemon not ready after 10 s")
		}
	}
	// The daemon's status carries its clock (the page and top compute ages
	// from it).
	if st := statusOf0("http://" + metrics); st == nil || st.Now.IsZero() || time.Since(st.Now).Abs() > 10*time.Second {
		t.Errorf("status now: %+v", st)
	}
	for _, c := range []struct {
		path, host string
		code       int
	}{
		{"/metrics", metrics, 200}, {"/metrics", "localhost:9110", 200}, {"/readyz", "[::1]:9110", 200},
		{"/metrics", "attacker.example:9110", 403}, {"/readyz", "attacker.example", 403}, {"/", "attacker.example", 403},
	} {
		if got := get(c.path, c.host); got != c.code {
			t.Errorf("GET %s Host %s: %d, want %d", c.path, c.host, got, c.code)
		}
	}
}

// A listener on any other address is not wrapped (its /metrics is for
// remote scrapers by design).
func TestHostGuardLeavesANonLoopbackListenerAlone(t *testing.T) {
	if _, same := HostGuard(director.Config{Metrics: "10.0.0.2:9110"}, plain{}).(plain); !same {
		t.Error("a non-loopback listener was wrapped")
	}
	if _, same := HostGuard(director.Config{Metrics: "127.0.0.1:9110"}, plain{}).(plain); same {
		t.Error("a loopback listener was not wrapped")
	}
}

type plain struct{}

func (plain) ServeHTTP(http.ResponseWriter, *http.Request) {}
