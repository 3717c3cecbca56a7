package view

import (
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lvsnode/lvsnode/director"
)

// fakeSource is a Source that counts its calls.
type fakeSource struct {
	st    director.Status
	calls atomic.Int32
}

func (f *fakeSource) Status() director.Status { f.calls.Add(1); return f.st }

func oneNode() *fakeSource {
	return &fakeSource{st: director.Status{Ready: true, Generation: 4, Services: []director.ServiceStatus{{
		Service: "tcp 10.0.0.100:80", Scheduler: "wlc", Managed: true, Up: 1,
		Nodes: []director.NodeStatus{{NodeRef: director.NodeRef{Service: "tcp 10.0.0.100:80", Address: "10.0.0.11", Port: 80},
			Method: "dr", Weight: 1, ConfiguredWeight: 1, Health: director.HealthUp}}}}}}
}

func do(h http.Handler, method, url string, hdr ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, url, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	if r.Host == "example.com" { // httptest's default: as a browser on the loopback listener would send
		r.Host = "127.0.0.1:9110"
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// The page's files are embedded and load nothing from elsewhere: no URL
// with a scheme in them but the SVG namespace (a name, never fetched), and
// the CSP header forbids any other origin anyway.
func TestPageIsSelfContained(t *testing.T) {
	h := New(oneNode(), Options{Loopback: true})
	scheme := regexp.MustCompile(`[a-z]+://[^"' )]*`)
	for _, p := range []string{"/", "/app.js", "/app.css", "/favicon.svg"} {
		w := do(h, "GET", p)
		if w.Code != 200 {
			t.Fatalf("GET %s: %d %s", p, w.Code, w.Body)
		}
		for _, u := range scheme.FindAllString(w.Body.String(), -1) {
			if u != "http://www.w3.org/2000/svg" {
				t.Errorf("%s refers to %s: the page must not load anything from elsewhere", p, u)
			}
		}
		if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "connect-src 'self'") {
			t.Errorf("GET %s: Content-Security-Policy %q", p, csp)
		}
	}
	if ct := do(h, "GET", "/").Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("GET /: Content-Type %q", ct)
	}
	// gzip when asked, the same bytes once unpacked.
	w := do(h, "GET", "/app.js", "Accept-Encoding", "gzip, deflate")
	if w.Header().Get("Content-Encoding") != "gzip" {
		t.Fatal("app.js not gzipped for a client that accepts it")
	}
	zr, err := gzip.NewReader(w.Body)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(zr)
	if string(b) != string(assets["/app.js"].body) {
		t.Error("gzipped app.js differs from app.js")
	}
	// A revalidation of an unchanged file is 304.
	if w := do(h, "GET", "/app.js", "If-None-Match", assets["/app.js"].etag); w.Code != http.StatusNotModified {
		t.Errorf("If-None-Match with the ETag: %d, want 304", w.Code)
	}
	if w := do(h, "GET", "/nope"); w.Code != 404 {
		t.Errorf("GET /nope: %d", w.Code)
	}
}

// The page's data is the runtime API's Status at the API's path.
func TestStatusIsTheAPIsJSON(t *testing.T) {
	src := oneNode()
	h := New(src, Options{Loopback: true})
	w := do(h, "GET", "/v1/status", "Accept-Encoding", "gzip")
	zr, err := gzip.NewReader(w.Body)
	if err != nil {
		t.Fatal(err)
	}
	var st director.Status
	if err := json.NewDecoder(zr).Decode(&st); err != nil {
		t.Fatal(err)
	}
	if st.Generation != 4 || st.Services[0].Nodes[0].Health != "up" || w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("status %+v, headers %v", st, w.Header())
	}
}

// Read-only: anything but GET and HEAD is refused and never reaches the
// daemon.
func TestReadOnly(t *testing.T) {
	src := oneNode()
	h := New(src, Options{Loopback: true})
	for _, m := range []string{"POST", "PUT", "PATCH", "DELETE"} {
		for _, p := range []string{"/", "/v1/status", "/v1/nodes", "/v1/drain"} {
			if w := do(h, m, p); w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: %d, want 405", m, p, w.Code)
			}
		}
	}
	if n := src.calls.Load(); n != 0 {
		t.Errorf("refused requests asked the daemon %d times", n)
	}
	if w := do(h, "HEAD", "/v1/status"); w.Code != 200 || w.Body.Len() != 0 {
		t.Errorf("HEAD /v1/status: %d with %d bytes", w.Code, w.Body.Len())
	}
}

// Who may read the data: loopback needs a loopback Host (no DNS rebinding),
// any other listener the page's read-only bearer token, or nothing at all
// without one.
func TestAccess(t *testing.T) {
	tok := "0123456789abcdef-token"
	for _, c := range []struct {
		name string
		o    Options
		host string
		hdr  []string
		code int
		want string
	}{
		{"loopback", Options{Loopback: true}, "127.0.0.1:9110", nil, 200, ""},
		{"loopback by name", Options{Loopback: true}, "localhost:9110", nil, 200, ""},
		{"loopback v6", Options{Loopback: true}, "[::1]:9110", nil, 200, ""},
		{"rebinding", Options{Loopback: true}, "attacker.example:9110", nil, 403, "not a loopback name"},
		{"no token", Options{Token: []byte(tok)}, "10.0.0.1:9110", nil, 401, "bearer token"},
		{"wrong token", Options{Token: []byte(tok)}, "10.0.0.1:9110", []string{"Authorization", "Bearer 0123456789abcdef-nope"}, 401, "bearer token"},
		{"token", Options{Token: []byte(tok)}, "10.0.0.1:9110", []string{"Authorization", "Bearer " + tok}, 200, ""},
		{"no token file", Options{Refusal: "set view.token_file"}, "10.0.0.1:9110", []string{"Authorization", "Bearer " + tok}, 403, "view.token_file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/v1/status", nil)
			r.Host = c.host
			for i := 0; i+1 < len(c.hdr); i += 2 {
				r.Header.Set(c.hdr[i], c.hdr[i+1])
			}
			w := httptest.NewRecorder()
			New(oneNode(), c.o).ServeHTTP(w, r)
			if w.Code != c.code || !strings.Contains(w.Body.String(), c.want) {
				t.Errorf("%d %s, want %d with %q", w.Code, w.Body, c.code, c.want)
			}
			// The page itself (no data) loads anywhere but on a rebinding Host.
			r = httptest.NewRequest("GET", "/", nil)
			r.Host = c.host
			w = httptest.NewRecorder()
			New(oneNode(), c.o).ServeHTTP(w, r)
			if want := map[bool]int{true: 403, false: 200}[c.name == "rebinding"]; w.Code != want {
				t.Errorf("GET /: %d, want %d", w.Code, want)
			}
		})
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:9110": true, "127.0.0.53:1": true, "[::1]:9110": true, "localhost:9110": true,
		":9110": false, "0.0.0.0:9110": false, "[::]:9110": false, "10.0.0.1:9110": false, "director1:9110": false, "bogus": false,
	} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v, want %v", addr, got, want)
		}
	}
}

// The daemon's page: its own read-only token file (view.token_file) off
// loopback (refused like the API refuses a bad one), nothing on loopback, a
// refusal without it. The API's token is never the page's: the page sends
// it every second, in clear without a TLS proxy (issue 13 review).
func TestFromConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "token")
	os.WriteFile(good, []byte("0123456789abcdef0123\n"), 0o600)
	open := filepath.Join(dir, "open")
	os.WriteFile(open, []byte("0123456789abcdef0123\n"), 0o644)
	rt := director.Runtime(nil)
	cfg := func(metrics, tokenFile string) director.Config {
		c := director.Config{Metrics: metrics}
		c.View.TokenFile = tokenFile
		return c
	}
	apiOnly := director.Config{Metrics: "0.0.0.0:9110"}
	apiOnly.API.TokenFile = good
	if h, err := fromConfig(rt, apiOnly); err != nil || h.(*handler).o.Token != nil || !strings.Contains(h.(*handler).o.Refusal, "view.token_file") {
		t.Errorf("api.token_file alone granted the page's data: %v %+v", err, h)
	}
	if _, err := fromConfig(rt, cfg("0.0.0.0:9110", open)); err == nil || !strings.Contains(err.Error(), "readable by every user") {
		t.Errorf("a world-readable token file: %v", err)
	}
	if _, err := fromConfig(rt, cfg("0.0.0.0:9110", filepath.Join(dir, "missing"))); err == nil {
		t.Error("a missing token file was accepted")
	}
	h, err := fromConfig(rt, cfg("0.0.0.0:9110", good))
	if err != nil || h.(*handler).o.Token == nil || h.(*handler).o.Loopback {
		t.Errorf("token file off loopback: %v %+v", err, h)
	}
	h, _ = fromConfig(rt, cfg("0.0.0.0:9110", ""))
	if o := h.(*handler).o; o.Token != nil || !strings.Contains(o.Refusal, "view.token_file") {
		t.Errorf("no token file off loopback: %+v", o)
	}
	h, _ = fromConfig(rt, cfg("127.0.0.1:9110", ""))
	if !h.(*handler).o.Loopback {
		t.Error("127.0.0.1:9110 not loopback")
	}
}
