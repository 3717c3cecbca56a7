package director

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/ipvs"
	"github.com/lvsnode/lvsnode/systemd"
)

// notifySocket is systemd's end of NOTIFY_SOCKET: a unixgram socket that
// keeps every datagram the daemon sends (systemd.Socket, the real path).
type notifySocket struct {
	mu   sync.Mutex
	msgs []string
}

func listenNotify(t *testing.T) *notifySocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	ns := &notifySocket{}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			ns.mu.Lock()
			ns.msgs = append(ns.msgs, string(buf[:n]))
			ns.mu.Unlock()
		}
	}()
	return ns
}

// count is how many datagrams so far start with prefix.
func (ns *notifySocket) count(prefix string) int {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	n := 0
	for _, m := range ns.msgs {
		if strings.HasPrefix(m, prefix) {
			n++
		}
	}
	return n
}

func (ns *notifySocket) has(sub string) bool {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	for _, m := range ns.msgs {
		if strings.Contains(m, sub) {
			return true
		}
	}
	return false
}

func (ns *notifySocket) last() string {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if len(ns.msgs) == 0 {
		return ""
	}
	return ns.msgs[len(ns.msgs)-1]
}

// eventually polls cond for up to 5 s of real time (a hang guard).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 5 s: %s", what)
		}
	}
}

// lockedIPVS lets the test read the fake while the daemon writes it
// (ipvs.Client is not safe for concurrent use; the daemon serializes its
// own calls, not the test's).
type lockedIPVS struct {
	mu sync.Mutex
	ipvs.Client
}

func (l *lockedIPVS) Services() ([]ipvs.Service, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.Client.Services()
}

func (l *lockedIPVS) Service(k ipvs.ServiceKey) (ipvs.Service, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.Client.Service(k)
}

func (l *lockedIPVS) Destinations(k ipvs.ServiceKey) ([]ipvs.Destination, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.Client.Destinations(k)
}

func (l *lockedIPVS) Apply(ops []ipvs.Op) []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.Client.Apply(ops)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// Serve under a faked systemd: READY=1 after the first reconcile, watchdog
// pings at half WATCHDOG_USEC, /readyz on the metrics listener (503 with
// the reason while reconciles fail), SIGHUP reloads the file (RELOADING=1
// then READY=1; a bad file is refused and the running config stays), and
// the context's end sends STOPPING=1 and returns nil.
func TestServeUnderSystemd(t *testing.T) {
	ns := listenNotify(t)
	t.Setenv("WATCHDOG_USEC", "100000") // ping every 50 ms
	t.Setenv("WATCHDOG_PID", "")
	metrics := freeAddr(t)
	path := filepath.Join(t.TempDir(), "director.yaml")
	conf := func(nodes string) string {
		return "metrics: " + metrics + "\nresync: 100ms\nservices:\n  - service: tcp 10.0.0.100:80\n    nodes: [" + nodes + "]\n"
	}
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(conf("{address: 10.0.0.11}"))
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	f := ipvs.NewFake()
	var failMu sync.Mutex
	var fail error
	f.Fail = func(string) error { failMu.Lock(); defer failMu.Unlock(); return fail }
	fake := &lockedIPVS{Client: f}
	setFail := func(err error) { failMu.Lock(); fail = err; failMu.Unlock() }
	dests := func() int {
		ds, _ := fake.Destinations(ipvs.ServiceKey{Protocol: ipvs.TCP, Addr: netip.MustParseAddr("10.0.0.100"), Port: 80})
		return len(ds)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, path, cfg, Options{IPVS: fake, Store: &MemStore{}, NoLock: true,
			Notify: systemd.Socket{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}()
	eventually(t, "READY=1", func() bool { return ns.count("READY=1") == 1 })
	if n := dests(); n != 1 {
		t.Fatalf("READY=1 before the first reconcile: %d real servers in IPVS", n)
	}
	if code, body := get("http://" + metrics + "/readyz"); code != 200 || body != "ready" {
		t.Errorf("/readyz: %d %q, want 200 ready", code, body)
	}
	eventually(t, "3 watchdog pings", func() bool { return ns.count("WATCHDOG=1") >= 3 })

	// SIGHUP: the file's new real server is applied.
	write(conf("{address: 10.0.0.11}, {address: 10.0.0.12}"))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "SIGHUP's real server in IPVS", func() bool { return dests() == 2 })
	eventually(t, "RELOADING=1 then READY=1", func() bool {
		return ns.count("RELOADING=1") == 1 && ns.count("READY=1") == 2
	})

	// A bad file is refused whole: the running config stays, READY=1 says why.
	write(conf("{address: 10.0.0.11, weight: 70000}"))
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	eventually(t, "refused reload reported", func() bool {
		return ns.count("RELOADING=1") == 2 && ns.has("reload refused") // not last(): a WATCHDOG=1 may follow
	})
	if n := dests(); n != 2 {
		t.Errorf("refused reload changed IPVS: %d real servers", n)
	}

	// Failing reconciles make /readyz 503 with the reason; it recovers.
	setFail(errors.New("injected"))
	write(conf("{address: 10.0.0.11}, {address: 10.0.0.12}, {address: 10.0.0.13}"))
	syscall.Kill(os.Getpid(), syscall.SIGHUP)
	eventually(t, "/readyz 503 while reconciles fail", func() bool {
		code, body := get("http://" + metrics + "/readyz")
		return code == 503 && strings.Contains(body, "last reconcile failed") && strings.Contains(body, "injected")
	})
	setFail(nil)
	eventually(t, "/readyz 200 again once a resync applied the change", func() bool {
		code, _ := get("http://" + metrics + "/readyz")
		return code == 200 && dests() == 3
	})

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	eventually(t, "STOPPING=1, the last notification", func() bool { return strings.HasPrefix(ns.last(), "STOPPING=1") })
	if _, err := net.Dial("tcp", metrics); err == nil {
		t.Error("metrics listener still open after Serve returned")
	}
}

// blockingIPVS holds every Apply while armed, telling entered about it.
type blockingIPVS struct {
	lockedIPVS
	armed   atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (b *blockingIPVS) Apply(ops []ipvs.Op) []error {
	if b.armed.Load() {
		b.entered <- struct{}{}
		<-b.release
	}
	return b.lockedIPVS.Apply(ops)
}

// A stopping daemon (SIGTERM, the context's end) finishes the API
// requests in flight before Serve returns (and the process exits): the
// change is answered, and in IPVS.
func TestServeFinishesRequestsInFlightOnStop(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "director.sock")
	path := filepath.Join(dir, "director.yaml")
	y := "metrics: " + freeAddr(t) + "\napi: {socket: " + sock + "}\nservices:\n  - service: tcp 10.0.0.100:80\n    nodes: [{address: 10.0.0.11}]\n"
	if err := os.WriteFile(path, []byte(y), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	k := &blockingIPVS{lockedIPVS: lockedIPVS{Client: ipvs.NewFake()}, entered: make(chan struct{}), release: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, path, cfg, Options{IPVS: k, Store: &MemStore{}, NoLock: true,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}()
	api, err := NewAPIClient(sock, APIClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the API answers", func() bool { ok, _ := api.Answers(ctx); return ok })
	k.armed.Store(true)
	answered := make(chan error, 1)
	go func() {
		answered <- api.AddNode(context.Background(), Node{NodeRef: NodeRef{Service: "tcp 10.0.0.100:80", Address: "10.0.0.12"}})
	}()
	<-k.entered // the change is writing IPVS
	cancel()
	select {
	case err := <-done:
		t.Fatalf("Serve returned (%v) with a request in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	k.armed.Store(false)
	close(k.release)
	if err := <-answered; err != nil {
		t.Fatalf("the request in flight: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	ds, _ := k.Destinations(ipvs.ServiceKey{Protocol: ipvs.TCP, Addr: netip.MustParseAddr("10.0.0.100"), Port: 80})
	if len(ds) != 2 {
		t.Errorf("%d real servers in IPVS, want 2", len(ds))
	}
}
