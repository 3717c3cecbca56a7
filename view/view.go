// Package view owns the director's read-only status page: the HTML, script
// and style embedded in the binary (no external asset), and the handler
// that serves them with the daemon's Status on the metrics listener of
// `lvsnode controller run` ("/", beside /metrics and /readyz).
//
// The page polls GET /v1/status (the runtime API's path and JSON, so
// `controller status --api http://HOST:9110` reads it too) once a second
// and draws every service and real server from it. Nothing here changes
// anything: every route answers GET and HEAD only.
//
// Who may read it: on a loopback listener (the default 127.0.0.1:9110)
// anyone who can reach it, as /metrics; requests whose Host is not a
// loopback name are refused there, so a web page elsewhere cannot read it
// through DNS rebinding. On any other address the data needs the page's own
// read-only bearer token (view.token_file; the runtime API's token is never
// accepted here, since the page sends its token every second, in clear
// unless a TLS proxy is in front): the page asks for it and sends it as
// "Authorization: Bearer"; without a token file the data is refused with a
// message saying so. The page's own files (no data in them)
// are served to anyone.
package view

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"path"
	"strings"

	"github.com/lvsnode/lvsnode/director"
)

// Source is where the page's data comes from (a director.Runtime).
type Source interface {
	Status() director.Status
}

// Options say who may read the data.
type Options struct {
	// Loopback: the listener is on a loopback address; no token is needed
	// but the Host header must be a loopback name.
	Loopback bool
	// Token is the bearer token the data needs off loopback; nil with
	// Loopback false refuses the data (Refusal says why).
	Token   []byte
	Refusal string
}

//go:embed assets
var assetFS embed.FS

// asset is one embedded file, with its gzip form and ETag.
type asset struct {
	body, gz []byte
	ctype    string
	etag     string
}

var assets = func() map[string]asset {
	out := map[string]asset{}
	err := fs.WalkDir(assetFS, "assets", func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		b, err := assetFS.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ct := mime.TypeByExtension(path.Ext(p))
		if ct == "" {
			ct = "application/octet-stream"
		}
		out["/"+strings.TrimPrefix(p, "assets/")] = asset{body: b, gz: gzipBytes(b), ctype: ct, etag: fmt.Sprintf(`"%x"`, sum[:8])}
		return nil
	})
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	out["/"] = out["/index.html"]
	return out
}()

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// securityHeaders: the page loads only its own files and talks only to
// its own origin; no framing, no referrer, no MIME sniffing.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "+
		"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
}

// handler serves the page of one Source.
type handler struct {
	src   Source
	o     Options
	token [sha256.Size]byte
}

// New returns the page's handler: the embedded files and GET /v1/status.
func New(src Source, o Options) http.Handler {
	h := &handler{src: src, o: o}
	if o.Token != nil {
		h.token = sha256.Sum256(o.Token)
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	securityHeaders(w.Header())
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		jsonErr(w, http.StatusMethodNotAllowed, "the status page is read-only: GET only")
		return
	}
	if h.o.Loopback && !loopbackHost(r.Host) {
		jsonErr(w, http.StatusForbidden, fmt.Sprintf("Host %q is not a loopback name: this listener serves 127.0.0.1, ::1 and localhost only", r.Host))
		return
	}
	if r.URL.Path == "/v1/status" {
		h.status(w, r)
		return
	}
	a, ok := assets[r.URL.Path]
	if !ok {
		jsonErr(w, http.StatusNotFound, fmt.Sprintf("no page %s (the status page is /, its data /v1/status)", r.URL.Path))
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", a.ctype)
	hd.Set("ETag", a.etag)
	hd.Set("Cache-Control", "no-cache") // revalidated: a new binary serves new files
	hd.Set("Vary", "Accept-Encoding")
	if r.Header.Get("If-None-Match") == a.etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := a.body
	if acceptsGzip(r) {
		hd.Set("Content-Encoding", "gzip")
		body = a.gz
	}
	hd.Set("Content-Length", fmt.Sprint(len(body)))
	if r.Method == http.MethodGet {
		w.Write(body)
	}
}

// status is GET /v1/status: the Status as the runtime API answers it.
func (h *handler) status(w http.ResponseWriter, r *http.Request) {
	if !h.o.Loopback {
		if h.o.Token == nil {
			jsonErr(w, http.StatusForbidden, h.o.Refusal)
			return
		}
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
		if !ok || subtle.ConstantTimeCompare(sum[:], h.token[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="lvsnode"`)
			jsonErr(w, http.StatusUnauthorized, "this listener is not loopback: the status needs the page's read-only bearer token (view.token_file)")
			return
		}
	}
	b, err := json.Marshal(h.src.Status())
	if err != nil {
		jsonErr(w, http.StatusInternalServerError, err.Error())
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Vary", "Accept-Encoding")
	if acceptsGzip(r) {
		hd.Set("Content-Encoding", "gzip")
		zw, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
		defer zw.Close()
		if r.Method == http.MethodGet {
			zw.Write(b)
		}
		return
	}
	if r.Method == http.MethodGet {
		w.Write(b)
	}
}

func acceptsGzip(r *http.Request) bool {
	for _, e := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		if name, _, _ := strings.Cut(strings.TrimSpace(e), ";"); name == "gzip" {
			return true
		}
	}
	return false
}

func jsonErr(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// IsLoopback reports whether a listen address ("127.0.0.1:9110",
// "[::1]:9110", "localhost:9110") only accepts local connections. An empty
// host (":9110", every address) is not loopback.
func IsLoopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return false
	}
	return loopbackName(host)
}

func loopbackName(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// loopbackHost: a Host header naming this machine's loopback.
func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return loopbackName(strings.Trim(host, "[]"))
}

// fromConfig is the page of a running daemon: loopback from the metrics
// address, the read-only token from view.token_file (never the API's: the
// page sends its token every second, in clear unless a TLS proxy is in
// front, so it must not be able to change anything).
func fromConfig(rt director.Runtime, cfg director.Config) (http.Handler, error) {
	o := Options{Loopback: IsLoopback(cfg.Metrics)}
	if !o.Loopback {
		if cfg.View.TokenFile == "" {
			o.Refusal = fmt.Sprintf("the metrics listener %s is not loopback: the status page's data needs its read-only bearer token: "+
				"set view.token_file", cfg.Metrics)
		} else {
			tok, err := director.ReadTokenFile(cfg.View.TokenFile)
			if err != nil {
				return nil, fmt.Errorf("view.token_file: %w", err)
			}
			o.Token = tok
		}
	}
	return New(rt, o), nil
}

// HostGuard refuses, on a loopback metrics listener, every request (the
// page, /metrics, /readyz) whose Host is not a loopback name: a web page
// elsewhere must not read /metrics through DNS rebinding. Prometheus on the
// same machine scrapes 127.0.0.1:9110 (a loopback Host) as before; a
// listener on any other address is not wrapped.
func HostGuard(cfg director.Config, h http.Handler) http.Handler {
	if !IsLoopback(cfg.Metrics) {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			jsonErr(w, http.StatusForbidden, fmt.Sprintf("Host %q is not a loopback name: this listener serves 127.0.0.1, ::1 and localhost only", r.Host))
			return
		}
		h.ServeHTTP(w, r)
	})
}

func init() {
	director.RegisterPage(fromConfig)
	director.RegisterHostGuard(HostGuard)
}
