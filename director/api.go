package director

// The runtime API: HTTP+JSON over a root-only unix socket, and optionally
// over TCP with a bearer token. It only translates: every request becomes
// one Runtime call, every Runtime error one status code.
//
//	GET    /v1/status   -> Status
//	POST   /v1/nodes    Node        add a real server
//	PATCH  /v1/nodes    NodePatch   change the fields given
//	DELETE /v1/nodes    NodeRef     remove a real server at once
//	POST   /v1/drain    DrainRequest  start a drain (returns when started)
//	POST   /v1/undrain  NodeRef     back to the configured weight
//
// Success is 200 with {"ok":true} (status: the Status). Errors are
// {"error":"one line","code":"..."}: 400 invalid (ErrInvalid, or a body
// that does not parse), 401 unauthorized, 404 not_found (ErrNotFound, or
// no such endpoint), 405 method, 409 exists (ErrExists) or not_managed
// (ErrNotManaged), 413 too_large, 500 internal (anything else).

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"
)

// APIOptions configure the runtime API server.
type APIOptions struct {
	// Socket is the unix socket path (default DefaultSocket); "none"
	// disables it.
	Socket string
	// TCP is an optional IP:PORT. It needs TokenFile; without TLSCert and
	// TLSKey it must be a loopback address.
	TCP       string
	TokenFile string
	TLSCert   string
	TLSKey    string
	// RequestTimeout bounds each Runtime call (default 30s).
	RequestTimeout time.Duration
	// Logf reports internal errors (500s) and serve failures; nil: quiet.
	Logf func(format string, a ...any)
}

// Limits of one request.
const (
	maxAPIBody           = 64 << 10 // a Node with its check is a few hundred bytes
	defaultAPIReqTimeout = 30 * time.Second
)

// ErrUnauthorized: a TCP request without the right bearer token, or a unix
// socket peer that is neither root nor the daemon's user (401).
var ErrUnauthorized = errors.New("unauthorized")

// DrainRequest is the body of POST /v1/drain: the real server and how to
// drain it, in one flat object.
type DrainRequest struct {
	NodeRef
	DrainOptions
}

// APIServer serves the runtime API of one Runtime.
type APIServer struct {
	rt      Runtime
	o       APIOptions
	token   [sha256.Size]byte // SHA-256 of the token: compared in constant time, whatever its length
	hasTok  bool
	srv     *http.Server
	unix    net.Listener
	tcp     net.Listener
	lock    *os.File
	closing sync.Once
}

// NewAPIServer validates o and opens the listeners; nothing is served until
// Serve. It fails with an error wrapping ErrToken when TCP is asked for
// without a usable token file, ErrAPIInUse when another daemon answers on
// the socket, ErrInvalid for a bad address.
func NewAPIServer(rt Runtime, o APIOptions) (*APIServer, error) {
	if o.Socket == "" {
		o.Socket = DefaultSocket
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = defaultAPIReqTimeout
	}
	s := &APIServer{rt: rt, o: o}
	var tlsConf *tls.Config
	if o.TCP != "" {
		if o.TokenFile == "" {
			return nil, fmt.Errorf("%w: a TCP listener (%s) needs a bearer token file (--api-token-file)", ErrToken, o.TCP)
		}
		if (o.TLSCert == "") != (o.TLSKey == "") {
			return nil, fmt.Errorf("%w: give both the TLS certificate and key, or neither", ErrInvalid)
		}
		if o.TLSCert != "" {
			cert, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
			if err != nil {
				return nil, fmt.Errorf("%w: API TLS certificate: %v", ErrInvalid, err)
			}
			tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		}
	}
	if o.TokenFile != "" {
		tok, err := readToken(o.TokenFile)
		if err != nil {
			return nil, err
		}
		s.token, s.hasTok = sha256.Sum256(tok), true
	}
	if o.Socket != "none" {
		l, lock, err := listenUnix(o.Socket)
		if err != nil {
			return nil, err
		}
		s.unix, s.lock = l, lock
	}
	if o.TCP != "" {
		l, err := listenTCP(o.TCP, tlsConf)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.tcp = l
	}
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      o.RequestTimeout + 10*time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ConnContext:       connContext,
	}
	return s, nil
}

// Serve serves every listener until Shutdown or Close; it returns nil then,
// or the first listener's failure.
func (s *APIServer) Serve() error {
	ls := []net.Listener{s.unix, s.tcp}
	errc := make(chan error, len(ls))
	n := 0
	for _, l := range ls {
		if l == nil {
			continue
		}
		n++
		go func(l net.Listener) { errc <- s.srv.Serve(l) }(l)
	}
	var first error
	for range n {
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) && first == nil {
			first = err
			s.logf("API: %v", err)
			s.srv.Close()
		}
	}
	return first
}

// Shutdown stops accepting, waits for requests in flight (until ctx ends),
// and removes the socket.
func (s *APIServer) Shutdown(ctx context.Context) error {
	var err error
	if s.srv != nil {
		err = s.srv.Shutdown(ctx)
	}
	s.Close()
	return err
}

// Close stops at once and removes the socket.
func (s *APIServer) Close() error {
	s.closing.Do(func() {
		if s.srv != nil {
			s.srv.Close()
		}
		for _, l := range []net.Listener{s.unix, s.tcp} {
			if l != nil {
				l.Close()
			}
		}
		if s.unix != nil {
			os.Remove(s.o.Socket)
		}
		if s.lock != nil {
			s.lock.Close()
		}
	})
	return nil
}

// SocketPath is the unix socket served ("" when disabled).
func (s *APIServer) SocketPath() string {
	if s.unix == nil {
		return ""
	}
	return s.o.Socket
}

// TCPAddr is the TCP listener's address (nil when disabled).
func (s *APIServer) TCPAddr() net.Addr {
	if s.tcp == nil {
		return nil
	}
	return s.tcp.Addr()
}

func (s *APIServer) logf(format string, a ...any) {
	if s.o.Logf != nil {
		s.o.Logf(format, a...)
	}
}

type peerKey struct{}

// peer is who is on the other end of a connection.
type peer struct {
	unix bool
	uid  int // unix only; -1 when unknown
}

// connContext records whether a connection came over the unix socket and,
// if so, the peer's uid (SO_PEERCRED): the socket's mode already keeps
// others out; the uid check holds even if someone loosens the mode.
func connContext(ctx context.Context, c net.Conn) context.Context {
	p := peer{uid: -1}
	if uc, ok := c.(*net.UnixConn); ok {
		p.unix = true
		if raw, err := uc.SyscallConn(); err == nil {
			raw.Control(func(fd uintptr) {
				if cred, err := syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED); err == nil {
					p.uid = int(cred.Uid)
				}
			})
		}
	}
	return context.WithValue(ctx, peerKey{}, p)
}

// authorize: unix peers must be root or the daemon's own user; everything
// else (TCP) must carry "Authorization: Bearer <token>" equal to the token.
func (s *APIServer) authorize(r *http.Request) error {
	p, _ := r.Context().Value(peerKey{}).(peer)
	if p.unix {
		if p.uid == 0 || p.uid == os.Geteuid() {
			return nil
		}
		return fmt.Errorf("%w: uid %d may not use the API socket (root only)", ErrUnauthorized, p.uid)
	}
	if !s.hasTok {
		return fmt.Errorf("%w: no token configured", ErrUnauthorized)
	}
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok {
		return fmt.Errorf("%w: missing \"Authorization: Bearer <token>\"", ErrUnauthorized)
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	if subtle.ConstantTimeCompare(sum[:], s.token[:]) != 1 {
		return fmt.Errorf("%w: wrong token", ErrUnauthorized)
	}
	return nil
}

// Handler is the API's routing, with authorization; the listeners serve it
// and tests call it directly.
func (s *APIServer) Handler() http.Handler {
	return http.HandlerFunc(s.serveHTTP)
}

func (s *APIServer) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if err := s.authorize(r); err != nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="lvsnode"`)
		writeErr(w, http.StatusUnauthorized, "unauthorized", err.Error())
		return
	}
	type route struct {
		method string
		run    func(context.Context, *http.Request) (any, error)
	}
	routes := map[string][]route{
		"/v1/status": {{http.MethodGet, s.status}},
		"/v1/nodes": {
			{http.MethodPost, s.addNode},
			{http.MethodPatch, s.editNode},
			{http.MethodDelete, s.removeNode},
		},
		"/v1/drain":   {{http.MethodPost, s.drain}},
		"/v1/undrain": {{http.MethodPost, s.undrain}},
	}
	rs, ok := routes[r.URL.Path]
	if !ok {
		writeErr(w, http.StatusNotFound, "not_found", fmt.Sprintf("no endpoint %s (see GET /v1/status)", r.URL.Path))
		return
	}
	var allow []string
	for _, rt := range rs {
		allow = append(allow, rt.method)
		if rt.method != r.Method && !(r.Method == http.MethodHead && rt.method == http.MethodGet) {
			continue
		}
		ctx, cancel := context.WithTimeout(r.Context(), s.o.RequestTimeout)
		defer cancel()
		r.Body = http.MaxBytesReader(w, r.Body, maxAPIBody)
		out, err := rt.run(ctx, r)
		if err != nil {
			code, kind := statusOf(err)
			if code == http.StatusInternalServerError {
				s.logf("API %s %s: %v", r.Method, r.URL.Path, err)
			}
			writeErr(w, code, kind, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, out)
		return
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	writeErr(w, http.StatusMethodNotAllowed, "method", fmt.Sprintf("%s %s: use %s", r.Method, r.URL.Path, strings.Join(allow, " or ")))
}

var okBody = map[string]bool{"ok": true}

func (s *APIServer) status(context.Context, *http.Request) (any, error) { return s.rt.Status(), nil }

func (s *APIServer) addNode(ctx context.Context, r *http.Request) (any, error) {
	var n Node
	if err := decodeBody(r, &n); err != nil {
		return nil, err
	}
	if err := checkRef(n.NodeRef, false); err != nil {
		return nil, err
	}
	return okBody, s.rt.AddNode(ctx, n)
}

func (s *APIServer) editNode(ctx context.Context, r *http.Request) (any, error) {
	var n NodePatch
	if err := decodeBody(r, &n); err != nil {
		return nil, err
	}
	if err := checkRef(n.NodeRef, false); err != nil {
		return nil, err
	}
	return okBody, s.rt.EditNode(ctx, n)
}

func (s *APIServer) removeNode(ctx context.Context, r *http.Request) (any, error) {
	var ref NodeRef
	if err := decodeBody(r, &ref); err != nil {
		return nil, err
	}
	if err := checkRef(ref, false); err != nil {
		return nil, err
	}
	return okBody, s.rt.RemoveNode(ctx, ref)
}

func (s *APIServer) drain(ctx context.Context, r *http.Request) (any, error) {
	var d DrainRequest
	if err := decodeBody(r, &d); err != nil {
		return nil, err
	}
	if err := checkRef(d.NodeRef, true); err != nil {
		return nil, err
	}
	return okBody, s.rt.Drain(ctx, d.NodeRef, d.DrainOptions)
}

func (s *APIServer) undrain(ctx context.Context, r *http.Request) (any, error) {
	var ref NodeRef
	if err := decodeBody(r, &ref); err != nil {
		return nil, err
	}
	if err := checkRef(ref, true); err != nil {
		return nil, err
	}
	return okBody, s.rt.Undrain(ctx, ref)
}

// checkRef rejects a reference without its two required fields before the
// Runtime sees it; the Runtime validates the rest. "*" (every service) is
// only for drain and undrain.
func checkRef(ref NodeRef, star bool) error {
	switch {
	case strings.TrimSpace(ref.Service) == "":
		return fmt.Errorf("%w: \"service\" is missing (e.g. \"tcp 10.0.0.100:80\", \"fwm 7\")", ErrInvalid)
	case ref.Service == "*" && !star:
		return fmt.Errorf("%w: \"service\": \"*\" (every service) is only for drain and undrain", ErrInvalid)
	case strings.TrimSpace(ref.Address) == "":
		return fmt.Errorf("%w: \"address\" is missing (the real server's IP)", ErrInvalid)
	}
	return nil
}

// decodeBody reads exactly one JSON object with only known fields; errors
// wrap ErrInvalid (or say the body is too large).
func decodeBody(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "application/json") {
		return fmt.Errorf("%w: Content-Type %q: want application/json", ErrInvalid, ct)
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			return fmt.Errorf("%w: body larger than %d bytes", errTooLarge, maxAPIBody)
		case errors.Is(err, io.EOF):
			return fmt.Errorf("%w: empty body: want a JSON object", ErrInvalid)
		case errors.Is(err, ErrInvalid):
			return err
		}
		return fmt.Errorf("%w: body: %s", ErrInvalid, strings.TrimPrefix(err.Error(), "json: "))
	}
	if dec.More() {
		return fmt.Errorf("%w: body: more than one JSON value", ErrInvalid)
	}
	return nil
}

var errTooLarge = errors.New("request too large")

// statusOf maps an error to its HTTP status and the "code" of the body.
func statusOf(err error) (int, string) {
	switch {
	case errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge, "too_large"
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest, "invalid"
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound, "not_found"
	case errors.Is(err, ErrNotManaged):
		return http.StatusConflict, "not_managed"
	case errors.Is(err, ErrExists):
		return http.StatusConflict, "exists"
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized, "unauthorized"
	}
	return http.StatusInternalServerError, "internal"
}

// apiErrorBody is every error's body.
type apiErrorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	msg = strings.Join(strings.Fields(msg), " ") // one line, whatever the cause printed
	writeJSON(w, status, apiErrorBody{Error: msg, Code: code})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
