package director

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/internal/etcdtest"
	"github.com/lvsnode/lvsnode/ipvs"
)

// With user and password_file, etcd down: OpenStore returns within the
// timeout (plus a margin) instead of blocking in the client's
// authentication, and the director serves its state file (issue 12 review).
func TestEtcdAuthStartWhileDown(t *testing.T) {
	srv := etcdtest.Start(t)
	a := startEtcdDirector(t, "a", srv.Endpoint)
	if err := addNode(t, a.d, "10.0.0.11", 3); err != nil {
		t.Fatal(err)
	}
	want := "tcp 10.0.0.100:80 10.0.0.11:80 w=3\n"
	within15s(t, "A has its change", func() bool { return a.weights() == want })
	path := a.store.local.Path
	srv.Stop()

	pw := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pw, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf("state_file: %s\nstore:\n  type: etcd\n  endpoints: [%s]\n  prefix: /t/\n  timeout: 500ms\n  user: u\n  password_file: %s\n", path, srv.Endpoint, pw)
	cfg, err := ParseConfig("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	type opened struct {
		st  Store
		err error
	}
	ch := make(chan opened, 1)
	start := time.Now()
	go func() {
		st, err := OpenStore(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
		ch <- opened{st, err}
	}()
	var o opened
	select {
	case o = <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("OpenStore with user, etcd down: still blocked after 5 s (timeout 500ms)")
	}
	if o.err != nil {
		t.Fatal(o.err)
	}
	t.Logf("OpenStore returned in %v", time.Since(start))
	if took := time.Since(start); took > 2500*time.Millisecond {
		t.Fatalf("OpenStore took %v, want about the 500ms timeout", took)
	}
	defer CloseStore(o.st)
	r := &rig{t: t, fake: ipvs.NewFake()}
	r.view = &lockedIPVS{Client: r.fake}
	r.d = New(cfg, Options{IPVS: r.view, Store: o.st, NoLock: true, Sysctl: r.sysctls(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := r.d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer r.d.Close()
	r.wantWeights(want)
}

// The store's files are checked when the config is read: missing ones and
// a password file others can read are a config error naming the key
// (issue 12 review: they were found only when dialing, or never).
func TestEtcdAuthOptions(t *testing.T) {
	dir := t.TempDir()
	open, good := filepath.Join(dir, "pw-644"), filepath.Join(dir, "pw-600")
	if err := os.WriteFile(open, []byte("secret\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(good, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ extra, want string }{
		{"  user: u\n  password_file: " + good + "\n", ""},
		{"  user: u\n  password_file: " + open + "\n", "d.yaml:6: store.password_file"},
		{"  user: u\n  password_file: /nonexistent/pw\n", "store.password_file"},
		{"  ca: /nonexistent/ca.pem\n", "d.yaml:5: store.ca"},
		{"  cert: /nonexistent/c.pem\n  key: /nonexistent/k.pem\n", "store.cert"},
		{"  ca: " + good + "\n", "store.ca"}, // not PEM
	} {
		yaml := "state_file: " + filepath.Join(dir, "s.json") + "\nstore:\n  type: etcd\n  endpoints: [http://127.0.0.1:1]\n" + c.extra
		_, err := ParseConfig("d.yaml", []byte(yaml))
		t.Logf("%q: %v", c.extra, err)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: %v", c.extra, err)
		case c.want != "" && (!errors.Is(err, ErrInvalid) || !strings.Contains(fmt.Sprint(err), c.want) || !strings.Contains(fmt.Sprint(err), "d.yaml")):
			t.Errorf("%q: err %v, want ErrInvalid naming d.yaml and %s", c.extra, err, c.want)
		}
	}
}
