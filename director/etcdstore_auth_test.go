package director

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
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
