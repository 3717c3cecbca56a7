package director

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// apiServe starts an API server on a socket in a temp dir (and TCP on
// loopback when tcp), serving rt. The token file, when wanted, is 0600.
func apiServe(t *testing.T, rt Runtime, tcp bool, token string) *APIServer {
	t.Helper()
	dir := t.TempDir()
	o := APIOptions{Socket: filepath.Join(dir, "director.sock")}
	if token != "" {
		o.TokenFile = filepath.Join(dir, "token")
		if err := os.WriteFile(o.TokenFile, []byte(token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if tcp {
		o.TCP = "127.0.0.1:0"
	}
	s, err := NewAPIServer(rt, o)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	t.Cleanup(func() {
		s.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return s
}

// rawCall sends one request over the socket and returns the status and body.
func rawCall(t *testing.T, s *APIServer, method, path, body string) (int, string) {
	t.Helper()
	c, err := NewAPIClient(s.SocketPath(), APIClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
	resp, err := c.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

const testToken = "0123456789abcdef-test-token"

func TestAPIEndpoints(t *testing.T) {
	ref := `"service":"tcp 10.0.0.100:80","address":"10.0.0.11"`
	for _, c := range []struct {
		name, method, path, body string
		err                      error // the Runtime's answer
		status                   int
		code, call               string // body's code; the Runtime call made ("" none)
	}{
		{"status", "GET", "/v1/status", "", nil, 200, "", "Status"},
		{"add", "POST", "/v1/nodes", `{` + ref + `,"weight":3,"method":"dr"}`, nil, 200, "", "AddNode"},
		{"add exists", "POST", "/v1/nodes", `{` + ref + `}`, fmt.Errorf("real server 10.0.0.11: %w", ErrExists), 409, "exists", "AddNode"},
		{"add unmanaged", "POST", "/v1/nodes", `{` + ref + `}`, fmt.Errorf("tcp 10.0.0.100:80: %w", ErrNotManaged), 409, "not_managed", "AddNode"},
		{"add invalid (runtime)", "POST", "/v1/nodes", `{` + ref + `,"method":"xx"}`, fmt.Errorf("%w: method \"xx\"", ErrInvalid), 400, "invalid", "AddNode"},
		{"add unknown field", "POST", "/v1/nodes", `{` + ref + `,"wieght":3}`, nil, 400, "invalid", ""},
		{"add no service", "POST", "/v1/nodes", `{"address":"10.0.0.11"}`, nil, 400, "invalid", ""},
		{"add star", "POST", "/v1/nodes", `{"service":"*","address":"10.0.0.11"}`, nil, 400, "invalid", ""},
		{"add no address", "POST", "/v1/nodes", `{"service":"fwm 7"}`, nil, 400, "invalid", ""},
		{"add empty body", "POST", "/v1/nodes", ``, nil, 400, "invalid", ""},
		{"add two values", "POST", "/v1/nodes", `{` + ref + `}{}`, nil, 400, "invalid", ""},
		{"add bad json", "POST", "/v1/nodes", `{` + ref, nil, 400, "invalid", ""},
		{"add too large", "POST", "/v1/nodes", `{` + ref + `,"method":"` + strings.Repeat("x", maxAPIBody) + `"}`, nil, 413, "too_large", ""},
		{"add internal", "POST", "/v1/nodes", `{` + ref + `}`, errors.New("netlink: boom\nsecond line"), 500, "internal", "AddNode"},
		{"edit", "PATCH", "/v1/nodes", `{` + ref + `,"weight":0}`, nil, 200, "", "EditNode"},
		{"edit missing", "PATCH", "/v1/nodes", `{` + ref + `,"weight":0}`, fmt.Errorf("edit: %w", ErrNotFound), 404, "not_found", "EditNode"},
		{"remove", "DELETE", "/v1/nodes", `{` + ref + `}`, nil, 200, "", "RemoveNode"},
		{"remove missing", "DELETE", "/v1/nodes", `{` + ref + `}`, fmt.Errorf("x: %w", ErrNotFound), 404, "not_found", "RemoveNode"},
		{"drain", "POST", "/v1/drain", `{` + ref + `,"timeout":"2m","remove":true}`, nil, 200, "", "Drain"},
		{"drain star", "POST", "/v1/drain", `{"service":"*","address":"10.0.0.11"}`, nil, 200, "", "Drain"},
		{"drain bad timeout", "POST", "/v1/drain", `{` + ref + `,"timeout":"soon"}`, nil, 400, "invalid", ""},
		{"undrain", "POST", "/v1/undrain", `{` + ref + `}`, nil, 200, "", "Undrain"},
		{"undrain unmanaged", "POST", "/v1/undrain", `{` + ref + `}`, fmt.Errorf("x: %w", ErrNotManaged), 409, "not_managed", "Undrain"},
		{"wrong method", "PUT", "/v1/nodes", `{}`, nil, 405, "method", ""},
		{"no endpoint", "GET", "/v1/nodez", ``, nil, 404, "not_found", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			rt := &apiFakeRuntime{err: c.err}
			s := apiServe(t, rt, false, "")
			code, body := rawCall(t, s, c.method, c.path, c.body)
			if code != c.status {
				t.Errorf("status %d, want %d (body %s)", code, c.status, body)
			}
			if strings.Count(body, "\n") != 1 {
				t.Errorf("body is not one line: %q", body)
			}
			if c.code != "" {
				var eb apiErrorBody
				if err := json.Unmarshal([]byte(body), &eb); err != nil || eb.Code != c.code || eb.Error == "" {
					t.Errorf("error body %q: want code %q and a message", body, c.code)
				}
			}
			want := []string(nil)
			if c.call != "" {
				want = []string{c.call}
			}
			if fmt.Sprint(rt.calls) != fmt.Sprint(want) {
				t.Errorf("runtime calls %v, want %v", rt.calls, want)
			}
		})
	}
}

// The request bodies reach the Runtime whole: fields given, and NodePatch
// leaving out what was not sent.
func TestAPIBodiesReachRuntime(t *testing.T) {
	rt := &apiFakeRuntime{}
	s := apiServe(t, rt, false, "")
	c, err := NewAPIClient("unix:"+s.SocketPath(), APIClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	w := uint32(5)
	ref := NodeRef{Service: "udp [fd00::100]:53", Address: "fd00::11", Port: 5353}
	if err := c.AddNode(ctx, Node{NodeRef: ref, Weight: &w, Method: "nat"}); err != nil {
		t.Fatal(err)
	}
	if err := c.EditNode(ctx, NodePatch{NodeRef: ref, Weight: &w}); err != nil {
		t.Fatal(err)
	}
	if err := c.Drain(ctx, ref, DrainOptions{Timeout: Duration(90 * time.Second), Remove: true}); err != nil {
		t.Fatal(err)
	}
	n, p := rt.nodes[0], rt.patch[0]
	if n.NodeRef != ref || n.Weight == nil || *n.Weight != 5 || n.Method != "nat" {
		t.Errorf("AddNode got %+v", n)
	}
	if p.NodeRef != ref || p.Weight == nil || *p.Weight != 5 || p.Method != nil || p.Upper != nil || p.Check != nil {
		t.Errorf("EditNode got %+v: only the weight was given", p)
	}
	if d := rt.drains[0]; d.Timeout != Duration(90*time.Second) || !d.Remove || rt.refs[0] != ref {
		t.Errorf("Drain got %+v %+v", rt.refs[0], d)
	}
}

// The client turns the daemon's answers back into the Runtime's sentinels.
func TestAPIClientErrors(t *testing.T) {
	for _, want := range []error{ErrInvalid, ErrNotFound, ErrExists, ErrNotManaged} {
		rt := &apiFakeRuntime{err: fmt.Errorf("real server 10.0.0.11: %w", want)}
		s := apiServe(t, rt, false, "")
		c, _ := NewAPIClient(s.SocketPath(), APIClientOptions{})
		err := c.RemoveNode(context.Background(), NodeRef{Service: "fwm 7", Address: "10.0.0.11"})
		if !errors.Is(err, want) || !strings.Contains(err.Error(), "real server 10.0.0.11") {
			t.Errorf("client error %v (%T): want one wrapping %v with the daemon's message", err, err, want)
		}
		for _, other := range []error{ErrInvalid, ErrNotFound, ErrExists, ErrNotManaged} {
			if other != want && errors.Is(err, other) {
				t.Errorf("client error for %v also matches %v", want, other)
			}
		}
	}
	rt := &apiFakeRuntime{status: Status{Generation: 7, Ready: true, Services: []ServiceStatus{{Service: "fwm 7", Nodes: []NodeStatus{{NodeRef: NodeRef{Service: "fwm 7", Address: "10.0.0.11"}, Weight: 3}}}}}}
	s := apiServe(t, rt, false, "")
	c, _ := NewAPIClient(s.SocketPath(), APIClientOptions{})
	st, err := c.Status(context.Background())
	if err != nil || st.Generation != 7 || !st.Ready || st.Services[0].Nodes[0].Weight != 3 {
		t.Errorf("Status: %+v %v", st, err)
	}
}
