package view

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lvsnode/lvsnode/director"
	"github.com/lvsnode/lvsnode/ipvs"
)

// lockedFake lets the test set counters while the daemon reads and writes
// the fake (ipvs.Client is not safe for concurrent use).
type lockedFake struct {
	mu sync.Mutex
	*ipvs.Fake
}

func (l *lockedFake) Services() ([]ipvs.Service, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.Fake.Services()
}

func (l *lockedFake) Destinations(k ipvs.ServiceKey) ([]ipvs.Destination, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.Fake.Destinations(k)
}

func (l *lockedFake) Apply(ops []ipvs.Op) []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.Fake.Apply(ops)
}

func (l *lockedFake) setCounters(k ipvs.ServiceKey, d ipvs.DestKey, active uint32, st ipvs.Stats) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.Fake.SetCounters(k, d, active, 0, st)
}

func (l *lockedFake) setServiceStats(k ipvs.ServiceKey, st ipvs.Stats) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.Fake.SetServiceStats(k, st)
}

// realServer is an HTTP server on its own loopback address that a check
// probes; Close makes it refuse connections, as a stopped web server.
func realServer(t *testing.T, addr string) *httptest.Server {
	t.Helper()
	l, err := net.Listen("tcp", addr+":0")
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") }))
	s.Listener.Close()
	s.Listener = l
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func port(s *httptest.Server) int { return s.Listener.Addr().(*net.TCPAddr).Port }

// statusOf reads the daemon's status the way the page does.
func statusOf(t *testing.T, base string) director.Status {
	t.Helper()
	resp, err := http.Get(base + "/v1/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st director.Status
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatal(err)
	}
	return st
}

// rowsJS lists every real server row of the page as
// "service|address|port|health|weight|drain|agent" lines.
const rowsJS = `Array.from(document.querySelectorAll('tr.node')).map(r =>
	[r.dataset.service, r.dataset.address, r.dataset.port, r.dataset.health, r.dataset.weight, r.dataset.drain, r.dataset.agent].join('|')).sort().join('\n')`

// wantRows is the same lines from a Status: what the page must show.
func wantRows(st director.Status) string {
	var lines []string
	for _, s := range st.Services {
		for _, n := range s.Nodes {
			lines = append(lines, strings.Join([]string{s.Service, n.Address, fmt.Sprint(n.Port), n.Health, fmt.Sprint(n.Weight), n.Drain, n.Agent}, "|"))
		}
	}
	return strings.Join(sortStrings(lines), "\n")
}

func sortStrings(s []string) []string {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
	return s
}

// `lvsnode controller run`'s own Serve (ipvs.Fake, real HTTP checks of
// three real servers on loopback addresses) serves the page on its metrics
// listener; Chromium loads it, every real server's row shows the daemon's
// state; one real server's web server stops and its row turns down
// (weight 0, the check's failure and reason shown) while the others stay
// up; no console error at any point. The screenshot is kept.
func TestPageInBrowserFollowsHealth(t *testing.T) {
	b := newBrowser(t)
	rs := []*httptest.Server{realServer(t, "127.0.0.11"), realServer(t, "127.0.0.12"), realServer(t, "127.0.0.13")}
	metrics := freeAddr(t)
	var nodes []string
	for i, s := range rs {
		nodes = append(nodes, fmt.Sprintf("      - {address: 127.0.0.1%d, port: 80, weight: %d, check: {type: http, port: %d, interval: 200ms, rise: 1, fall: 2}}", i+1, i+1, port(s)))
	}
	conf := "metrics: " + metrics + "\napi: {socket: " + filepath.Join(t.TempDir(), "director.sock") + "}\nresync: 1s\nservices:\n" +
		"  - service: tcp 10.0.0.100:80\n    scheduler: wlc\n    quorum: 1\n    sorry: {address: 10.0.0.99, method: nat}\n    nodes:\n" + strings.Join(nodes, "\n") + "\n" +
		"  - service: tcp 10.0.0.101:443\n    scheduler: sh\n    persistent: 300\n    nodes:\n      - {address: 10.0.0.21, method: tun}\n"
	cfg, err := director.ParseConfig("view-test.yaml", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	fake := &lockedFake{Fake: ipvs.NewFake()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- director.Serve(ctx, "view-test.yaml", cfg, director.Options{IPVS: fake, Store: &director.MemStore{}, NoLock: true,
			Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	base := "http://" + metrics
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		st := statusOf0(base)
		if st != nil && st.Ready && strings.Count(wantRows(*st), "|up|") == 3 {
			break
		}
		if time.Since(start) > 10*time.Second {
			t.Fatalf("the daemon's three checked real servers not up after 10 s: %+v", st)
		}
	}
	// Some traffic, so the rate columns and charts have something to draw
	// (step k of a load that grows and falls).
	vip := ipvs.ServiceKey{Protocol: ipvs.TCP, Addr: netip.MustParseAddr("10.0.0.100"), Port: 80}
	traffic := func(k int) {
		f := uint64(4 + k%4)
		var sum ipvs.Stats
		for i := range rs {
			st := ipvs.Stats{Conns: uint64(1000 * (i + 1)), CPS: 5 * f * uint64(i+1), InBPS: 37500 * f * uint64(i+1)}
			fake.setCounters(vip, ipvs.DestKey{Addr: netip.MustParseAddr(fmt.Sprintf("127.0.0.1%d", i+1)), Port: 80}, uint32(10*(i+1)), st)
			sum.CPS, sum.InBPS = sum.CPS+st.CPS, sum.InBPS+st.InBPS
		}
		fake.setServiceStats(vip, sum)
	}
	traffic(0)

	b.run(t, chromedp.Navigate(base+"/"))
	b.waitFor(t, "the first status drawn", "document.body.dataset.updates >= 1", 10*time.Second)
	var got string
	b.eval(t, rowsJS, &got)
	want := wantRows(statusOf(t, base))
	if got != want {
		t.Fatalf("rows before the change:\n%s\nthe daemon's status:\n%s", got, want)
	}
	if !strings.Contains("\n"+want+"\n", "\ntcp 10.0.0.100:80|127.0.0.12|80|up|2|none|none\n") {
		t.Fatalf("control: 127.0.0.12 is not up at weight 2 before its web server stops:\n%s", want)
	}

	// 127.0.0.12's web server stops: refused connections, fall 2 x 200 ms.
	rs[1].Close()
	stopped := time.Now()
	b.waitFor(t, "127.0.0.12's row down", `document.querySelector('tr.node[data-address="127.0.0.12"]').dataset.health === 'down'`, 10*time.Second)
	t.Logf("FIGURE view_row_down_after_stop %.1f s (check fall 2 x 200 ms, page polls every 1 s)", time.Since(stopped).Seconds())
	b.waitFor(t, "127.0.0.12's weight 0", `document.querySelector('tr.node[data-address="127.0.0.12"]').dataset.weight === '0'`, 5*time.Second)
	before := 0
	b.eval(t, "Number(document.body.dataset.updates)", &before)
	b.waitFor(t, "one more poll after the change", fmt.Sprintf("Number(document.body.dataset.updates) > %d", before), 5*time.Second)
	b.eval(t, rowsJS, &got)
	want = wantRows(statusOf(t, base))
	if got != want {
		t.Errorf("rows after the change:\n%s\nthe daemon's status:\n%s", got, want)
	}
	for _, line := range []string{"tcp 10.0.0.100:80|127.0.0.11|80|up|1|", "tcp 10.0.0.100:80|127.0.0.12|80|down|0|", "tcp 10.0.0.100:80|127.0.0.13|80|up|3|", "tcp 10.0.0.101:443|10.0.0.21|443|unknown|1|"} {
		if !strings.Contains("\n"+got, "\n"+line) {
			t.Errorf("no row %q in:\n%s", line, got)
		}
	}
	var check, svc string
	b.eval(t, `document.querySelector('tr.node[data-address="127.0.0.12"] td.check').textContent`, &check)
	if !strings.HasPrefix(check, "FAIL") || !strings.Contains(check, "ms") {
		t.Errorf("127.0.0.12's last check cell %q: want the failure, its reason and latency", check)
	}
	b.eval(t, `document.querySelector('details.svc[data-service="tcp 10.0.0.101:443"] summary').textContent`, &svc)
	if !strings.Contains(svc, "sh") || !strings.Contains(svc, "persistent 300") {
		t.Errorf("service summary %q: want its scheduler and flags", svc)
	}
	b.eval(t, `document.querySelector('tr.node[data-address="127.0.0.13"]').textContent`, &check)
	if !strings.Contains(check, "60/s") || !strings.Contains(check, "450K") {
		t.Errorf("127.0.0.13's row %q: want its rates (60/s, 450KB/s)", check)
	}

	// The filter box: "down" leaves only the failing real server.
	b.run(t, chromedp.SendKeys("#filter", "down", chromedp.ByID))
	b.waitFor(t, "the filter applied", `Array.from(document.querySelectorAll('tr.node')).filter(r => !r.hidden && !r.closest('details').hidden).length === 1`, 5*time.Second)
	b.eval(t, `(() => { const f = document.getElementById('filter'); f.value = ''; f.dispatchEvent(new Event('input')); return true })()`, nil)
	b.waitFor(t, "the filter cleared", `Array.from(document.querySelectorAll('tr.node')).filter(r => !r.hidden).length === 4`, 5*time.Second)
	// A few seconds of changing traffic for the charts, then the picture.
	for k := 1; k <= 4; k++ {
		traffic(k)
		b.eval(t, "Number(document.body.dataset.updates)", &before)
		b.waitFor(t, "the next poll", fmt.Sprintf("Number(document.body.dataset.updates) > %d", before), 5*time.Second)
	}
	b.screenshot(t, "status.png", true)
	b.noErrors(t)
}

func statusOf0(base string) *director.Status {
	resp, err := http.Get(base + "/v1/status")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var st director.Status
	if json.NewDecoder(resp.Body).Decode(&st) != nil {
		return nil
	}
	return &st
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
