package director

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// tcpCall sends GET /v1/status over the TCP listener with the given
// Authorization header ("" none).
func tcpCall(t *testing.T, s *APIServer, auth string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+s.TCPAddr().String()+"/v1/status", nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAPITCPToken(t *testing.T) {
	rt := &apiFakeRuntime{}
	s := apiServe(t, rt, true, testToken)
	for _, c := range []struct {
		name, auth string
		want       int
	}{
		{"no token", "", 401},
		{"wrong token", "Bearer 0123456789abcdef-test-tokeN", 401},
		{"prefix of the token", "Bearer 0123456789abcdef", 401},
		{"token plus more", "Bearer " + testToken + "x", 401},
		{"basic scheme", "Basic " + testToken, 401},
		{"right token", "Bearer " + testToken, 200},
	} {
		code, body := tcpCall(t, s, c.auth)
		if code != c.want {
			t.Errorf("%s: status %d, want %d (%s)", c.name, code, c.want, body)
		}
		if c.want == 401 && !strings.Contains(body, `"code":"unauthorized"`) {
			t.Errorf("%s: body %s", c.name, body)
		}
	}
	if len(rt.calls) != 1 {
		t.Errorf("the Runtime was called %d times; only the request with the right token may reach it", len(rt.calls))
	}
	// The Go client with the token file, and without it.
	tf := filepath.Join(t.TempDir(), "tok")
	os.WriteFile(tf, []byte(testToken), 0o600)
	c, err := NewAPIClient("http://"+s.TCPAddr().String(), APIClientOptions{TokenFile: tf})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Status(context.Background()); err != nil {
		t.Errorf("client with the token: %v", err)
	}
	c, _ = NewAPIClient("http://"+s.TCPAddr().String(), APIClientOptions{})
	if _, err := c.Status(context.Background()); !errors.Is(err, ErrUnauthorized) {
		t.Errorf("client without the token: %v, want ErrUnauthorized", err)
	}
}

func TestAPIRefusesUnsafeSetups(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "d.sock")
	readable := filepath.Join(dir, "readable")
	os.WriteFile(readable, []byte(testToken), 0o644)
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("abc\n"), 0o600)
	for _, c := range []struct {
		name string
		o    APIOptions
		want error
		msg  string
	}{
		{"tcp without token", APIOptions{Socket: sock, TCP: "127.0.0.1:0"}, ErrToken, "needs a bearer token"},
		{"world-readable token", APIOptions{Socket: sock, TCP: "127.0.0.1:0", TokenFile: readable}, ErrToken, "readable by every user"},
		{"short token", APIOptions{Socket: sock, TCP: "127.0.0.1:0", TokenFile: short}, ErrToken, "at least 16"},
		{"missing token file", APIOptions{Socket: sock, TCP: "127.0.0.1:0", TokenFile: filepath.Join(dir, "nope")}, ErrToken, "no such file"},
		{"clear text off loopback", APIOptions{Socket: sock, TCP: "0.0.0.0:0", TokenFile: short + "x"}, ErrToken, ""},
	} {
		if c.name == "clear text off loopback" {
			ok := filepath.Join(dir, "ok")
			os.WriteFile(ok, []byte(testToken), 0o600)
			c.o.TokenFile, c.want, c.msg = ok, ErrInvalid, "not loopback"
		}
		s, err := NewAPIServer(&apiFakeRuntime{}, c.o)
		if err == nil {
			s.Close()
		}
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.msg) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: %v, want one line wrapping %v with %q", c.name, err, c.want, c.msg)
		}
		if _, err := os.Lstat(sock); err == nil {
			t.Errorf("%s: the socket was left behind", c.name)
			os.Remove(sock)
		}
	}
}

func TestAPISocketLifecycle(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "run", "director.sock")
	s, err := NewAPIServer(&apiFakeRuntime{}, APIOptions{Socket: sock})
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Lstat(sock)
	if err != nil || st.Mode()&os.ModeSocket == 0 || st.Mode().Perm() != 0o600 {
		t.Fatalf("socket %v mode %v: want a socket, 0600", err, st.Mode())
	}
	go s.Serve()
	// A second daemon is refused while the first answers, and leaves it alone.
	if s2, err := NewAPIServer(&apiFakeRuntime{}, APIOptions{Socket: sock}); !errors.Is(err, ErrAPIInUse) {
		t.Errorf("second daemon: %v, want ErrAPIInUse", err)
		if s2 != nil {
			s2.Close()
		}
	}
	c, _ := NewAPIClient(sock, APIClientOptions{})
	if ok, err := c.Answers(context.Background()); !ok || err != nil {
		t.Errorf("the first daemon no longer answers: %v %v", ok, err)
	}
	s.Close()
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("Close left the socket: %v", err)
	}
	if ok, err := c.Answers(context.Background()); ok || err != nil {
		t.Errorf("no daemon: Answers %v %v, want false, nil", ok, err)
	}

	// A stale socket (its daemon killed: bound, nobody accepting) is replaced.
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	if ok, err := c.Answers(context.Background()); ok || err != nil {
		t.Errorf("stale socket: Answers %v %v, want false, nil", ok, err)
	}
	s, err = NewAPIServer(&apiFakeRuntime{}, APIOptions{Socket: sock})
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	s.Close()

	// Something else accepting on the path (no lock held: another tool,
	// or an older daemon) is not replaced either.
	other, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewAPIServer(&apiFakeRuntime{}, APIOptions{Socket: sock}); !errors.Is(err, ErrAPIInUse) {
		t.Errorf("a listener without the lock: %v, want ErrAPIInUse", err)
	}
	other.Close()

	// A file that is not a socket is never removed.
	os.WriteFile(sock, []byte("precious"), 0o600)
	if _, err := NewAPIServer(&apiFakeRuntime{}, APIOptions{Socket: sock}); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("regular file at the socket path: %v", err)
	}
	if b, _ := os.ReadFile(sock); string(b) != "precious" {
		t.Error("the regular file was replaced")
	}
	os.Remove(sock)

	// A directory others may write to is refused.
	open := filepath.Join(dir, "open")
	os.Mkdir(open, 0o777)
	os.Chmod(open, 0o777)
	if _, err := NewAPIServer(&apiFakeRuntime{}, APIOptions{Socket: filepath.Join(open, "d.sock")}); err == nil || !strings.Contains(err.Error(), "writable by others") {
		t.Errorf("world-writable directory: %v", err)
	}
}

// A user other than root cannot use the socket: the mode keeps them out,
// and if the mode is loosened the server still refuses their uid.
// The client runs as nobody in a child process (this test binary).
func TestAPIUnixSocketNotRoot(t *testing.T) {
	if os.Getenv("LVSNODE_API_CHILD") != "" {
		c, _ := NewAPIClient(os.Getenv("LVSNODE_API_CHILD"), APIClientOptions{})
		_, err := c.Status(context.Background())
		switch {
		case err == nil:
			os.Stdout.WriteString("RESULT ok\n")
		case errors.Is(err, syscall.EACCES):
			os.Stdout.WriteString("RESULT eacces\n")
		case errors.Is(err, ErrUnauthorized):
			os.Stdout.WriteString("RESULT unauthorized\n")
		default:
			os.Stdout.WriteString("RESULT " + err.Error() + "\n")
		}
		os.Exit(0)
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root: runs a client as nobody against a root daemon's socket")
	}
	dir, err := os.MkdirTemp("", "lvsnode-api-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	rt := &apiFakeRuntime{}
	s, err := NewAPIServer(rt, APIOptions{Socket: filepath.Join(dir, "d.sock")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	go s.Serve()
	// The test binary's own directory is private: run a copy nobody can read.
	self, _ := os.Executable()
	exe := filepath.Join(dir, "api.test")
	if b, err := os.ReadFile(self); err != nil || os.WriteFile(exe, b, 0o755) != nil {
		t.Fatalf("copy the test binary: %v", err)
	}
	asNobody := func() string {
		cmd := exec.Command(exe, "-test.run=^TestAPIUnixSocketNotRoot$")
		cmd.Env = append(os.Environ(), "LVSNODE_API_CHILD="+s.SocketPath())
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("child: %v: %s", err, out)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if r, ok := strings.CutPrefix(l, "RESULT "); ok {
				return r
			}
		}
		return string(out)
	}
	if r := asNobody(); r != "eacces" {
		t.Errorf("nobody on a 0600 socket: %s, want permission denied", r)
	}
	os.Chmod(s.SocketPath(), 0o666)
	if r := asNobody(); r != "unauthorized" {
		t.Errorf("nobody on a loosened socket: %s, want 401 from the uid check", r)
	}
	if len(rt.calls) != 0 {
		t.Errorf("nobody reached the Runtime: %v", rt.calls)
	}
}
