package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"
)

// The control socket: `agent drain`, `agent undrain` and `agent status`
// talk to the running daemon over HTTP on a unix socket beside its state
// file (<state>.sock), mode 0600: root (or the unit's user) only.
//
// A socket rather than a signal plus a state file: a request carries its
// arguments (--timeout) and gets an answer (the state after it, or an
// error), so the command can say what happened and --wait can follow the
// drain; a refused connection means no daemon, with no pid file to go
// stale and no pid to be reused; and status reads the live state, sockets
// counted now, not a file written some time ago.

// ErrNoDaemon is returned (wrapped) by DialControl when no `agent run`
// answers on the state file's control socket.
var ErrNoDaemon = errors.New("no lvsnode agent daemon answers")

// ControlPath is the control socket of the daemon keeping stateFile.
func ControlPath(stateFile string) string { return stateFile + ".sock" }

// controlRequest is the body of POST /v1/drain.
type controlRequest struct {
	Timeout string `json:"timeout,omitempty"` // a Go duration; "" = the config's
}

// ControlHandler serves the control API:
//
//	GET  /v1/state    the DaemonState
//	POST /v1/drain    {"timeout": "5m"} (optional): start draining; the state
//	POST /v1/undrain  end a drain or re-apply after one; the state
//
// Errors are {"error": "one line"} with 400 (bad request) or 503 (the
// daemon is stopping).
func (d *Daemon) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, s DaemonState, err error) {
		w.Header().Set("Content-Type", "application/json")
		if err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
			return
		}
		_ = json.NewEncoder(w).Encode(s)
	}
	mux.HandleFunc("GET /v1/state", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, d.State(), nil)
	})
	mux.HandleFunc("POST /v1/drain", func(w http.ResponseWriter, r *http.Request) {
		var req controlRequest
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&req); err != nil && !errors.Is(err, io.EOF) {
			badRequest(w, "drain request: "+err.Error())
			return
		}
		var timeout time.Duration
		if req.Timeout != "" {
			var err error
			if timeout, err = time.ParseDuration(req.Timeout); err != nil || timeout <= 0 {
				badRequest(w, fmt.Sprintf("timeout %q: want a duration above 0 (e.g. 5m)", req.Timeout))
				return
			}
		}
		s, err := d.Drain(r.Context(), timeout)
		reply(w, s, err)
	})
	mux.HandleFunc("POST /v1/undrain", func(w http.ResponseWriter, r *http.Request) {
		s, err := d.Undrain(r.Context())
		reply(w, s, err)
	})
	return mux
}

func badRequest(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// ServeControl listens on the control socket of stateFile and serves
// ControlHandler until the returned close is called. Call it while holding
// the state file's claim (TakeHold): a socket file left there is then a
// dead daemon's, and is replaced.
func (d *Daemon) ServeControl(stateFile string) (close func(), err error) {
	path := ControlPath(stateFile)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	srv := &http.Server{Handler: d.ControlHandler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return func() { srv.Close(); os.Remove(path) }, nil
}

// Control is a client of a running daemon's control socket.
type Control struct {
	path string
	hc   *http.Client
}

// DialControl connects to the daemon keeping stateFile. Without one it
// returns an error wrapping ErrNoDaemon that names the socket.
func DialControl(stateFile string) (*Control, error) {
	path := ControlPath(stateFile)
	conn, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w on %s: is `lvsnode agent run` running with state-file %s?", ErrNoDaemon, path, stateFile)
		}
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	conn.Close()
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}}
	return &Control{path: path, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}, nil
}

// State asks the daemon for its state.
func (c *Control) State(ctx context.Context) (DaemonState, error) {
	return c.do(ctx, http.MethodGet, "/v1/state", "")
}

// Drain starts a drain (timeout 0: the daemon's drain.timeout).
func (c *Control) Drain(ctx context.Context, timeout time.Duration) (DaemonState, error) {
	body := "{}"
	if timeout > 0 {
		body = fmt.Sprintf(`{"timeout":%q}`, timeout.String())
	}
	return c.do(ctx, http.MethodPost, "/v1/drain", body)
}

// Undrain ends a drain.
func (c *Control) Undrain(ctx context.Context) (DaemonState, error) {
	return c.do(ctx, http.MethodPost, "/v1/undrain", "{}")
}

func (c *Control) do(ctx context.Context, method, path, body string) (DaemonState, error) {
	var s DaemonState
	req, err := http.NewRequestWithContext(ctx, method, "http://agent"+path, strings.NewReader(body))
	if err != nil {
		return s, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return s, fmt.Errorf("control socket %s: %w", c.path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return s, fmt.Errorf("control socket %s: %w", c.path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
		}
		return s, fmt.Errorf("the agent daemon refused: %s", e.Error)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("control socket %s: %w", c.path, err)
	}
	return s, nil
}
