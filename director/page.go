package director

import (
	"net/http"
)

// pageFactory builds the handler of "/" on the metrics listener: the
// read-only status page (package view registers it). nil: "/" is 404.
var pageFactory func(rt Runtime, cfg Config) (http.Handler, error)

// RegisterPage sets the builder of the status page served at "/" (and
// below, except /metrics and /readyz) on the metrics listener. Serve calls
// it once, before the first reconcile; an error stops the daemon before it
// changes anything (a token file that cannot be read, say).
func RegisterPage(f func(rt Runtime, cfg Config) (http.Handler, error)) {
	hookMu.Lock()
	defer hookMu.Unlock()
	pageFactory = f
}

// hostGuard wraps the whole metrics listener (/metrics, /readyz and the
// page): package view registers one that, on a loopback listener, refuses
// requests whose Host is not a loopback name (DNS rebinding would otherwise
// let a web page read /metrics). nil: nothing wraps it.
var hostGuard func(cfg Config, h http.Handler) http.Handler

// RegisterHostGuard sets the wrapper of the metrics listener's handler.
func RegisterHostGuard(f func(cfg Config, h http.Handler) http.Handler) {
	hookMu.Lock()
	defer hookMu.Unlock()
	hostGuard = f
}

// guardMetrics is the listener's handler: mux through the registered guard.
func guardMetrics(cfg Config, mux http.Handler) http.Handler {
	hookMu.Lock()
	g := hostGuard
	hookMu.Unlock()
	if g == nil {
		return mux
	}
	return g(cfg, mux)
}

// ReadTokenFile reads a bearer token file as the runtime API does: the
// first line, trimmed, at least 16 bytes, the file not readable by every
// user. Errors wrap ErrToken. The status page asks for the same token.
func ReadTokenFile(path string) ([]byte, error) { return readToken(path) }
