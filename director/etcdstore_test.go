package director

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/lvsnode/lvsnode/internal/etcdtest"
	"github.com/lvsnode/lvsnode/ipvs"
	etcdstore "github.com/lvsnode/lvsnode/store/etcd"
)

// etcdDirector is a daemon on ipvs.Fake with an EtcdStore, running its
// loop and its follower as `controller run` does.
type etcdDirector struct {
	*rig
	store *EtcdStore
}

// startEtcdDirector starts it; setup (if any) runs on the store before
// the daemon starts.
func startEtcdDirector(t *testing.T, name, endpoint string, setup ...func(*EtcdStore)) *etcdDirector {
	t.Helper()
	return startEtcdDirectorFile(t, name, endpoint, "", setup...)
}

// startEtcdDirectorFile is startEtcdDirector with more of director.yaml
// (services: ...) after the store: block.
func startEtcdDirectorFile(t *testing.T, name, endpoint, more string, setup ...func(*EtcdStore)) *etcdDirector {
	t.Helper()
	cfg, st := openEtcdStore(t, fmt.Sprintf("state_file: %s\nstore:\n  type: etcd\n  name: %s\n  endpoints: [%s]\n  prefix: /t/\n  timeout: 1s\n",
		filepath.Join(t.TempDir(), "state.json"), name, endpoint)+more)
	for _, f := range setup {
		f(st)
	}
	r := &rig{t: t, fake: ipvs.NewFake()}
	r.view = &lockedIPVS{Client: r.fake} // Run writes while the test reads
	r.d = New(cfg, Options{IPVS: r.view, Store: st, NoLock: true, Sysctl: r.sysctls(),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	if err := r.d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	go r.d.Run(ctx)
	go r.d.Follow(ctx, st)
	t.Cleanup(func() { cancel(); r.d.Close() })
	return &etcdDirector{rig: r, store: st}
}

// openEtcdStore parses yaml (a director.yaml with store: type etcd) and
// opens its store, closed at cleanup.
func openEtcdStore(t *testing.T, yaml string) (Config, *EtcdStore) {
	t.Helper()
	cfg, err := ParseConfig("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	st, err := OpenStore(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { CloseStore(st) })
	return cfg, st.(*EtcdStore)
}

// within15s polls cond for up to 15 s.
func within15s(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < 15*time.Second {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("not within 15 s: %s", what)
	return 0
}

func addNode(t *testing.T, d *Daemon, addr string, w uint32) error {
	t.Helper()
	return d.AddNode(context.Background(), Node{NodeRef: NodeRef{Service: "tcp 10.0.0.100:80", Address: addr}, Weight: &w})
}

// Two directors on one etcd: an add-node on one reaches the other; a
// real server registered under a lease joins both and leaves both when
// the lease is revoked; a director cut off from etcd keeps its table,
// says so in status, and converges to what changed meanwhile once back;
// with etcd down a change is refused and both tables stay.
func TestEtcdTwoDirectors(t *testing.T) {
	srv := etcdtest.Start(t)
	proxy := etcdtest.NewProxy(t, srv)
	a := startEtcdDirector(t, "a", srv.Endpoint)
	b := startEtcdDirector(t, "b", proxy.Endpoint)

	if err := addNode(t, a.d, "10.0.0.11", 3); err != nil {
		t.Fatal(err)
	}
	want := "tcp 10.0.0.100:80 10.0.0.11:80 w=3\n"
	took := within15s(t, "B has A's add-node", func() bool { return b.weights() == want })
	t.Logf("add-node on A reached B's IPVS in %v", took)
	within15s(t, "A has its own add-node", func() bool { return a.weights() == want })

	// an agent's registration (store/etcd's layout, under a lease)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{srv.Endpoint}})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := context.Background()
	lease, err := cli.Grant(ctx, 60)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, etcdstore.NodeKey("/t/", "tcp 10.0.0.100:80", "10.0.0.12:80"), `{"address":"10.0.0.12","weight":2}`, clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
	want2 := want + "tcp 10.0.0.100:80 10.0.0.12:80 w=2\n"
	within15s(t, "both have the registered real server", func() bool { return a.weights() == want2 && b.weights() == want2 })
	if _, err := cli.Revoke(ctx, lease.ID); err != nil {
		t.Fatal(err)
	}
	took = within15s(t, "both removed it (no connections)", func() bool { return a.weights() == want && b.weights() == want })
	t.Logf("revoked registration left both directors in %v", took)

	// B cut off: keeps its table, reports it, converges when back
	proxy.Cut()
	within15s(t, "B reports etcd unreachable", func() bool { s := b.d.Status(); return s.Store != nil && !s.Store.Reachable })
	if err := addNode(t, a.d, "10.0.0.13", 1); err != nil {
		t.Fatal(err)
	}
	want3 := want + "tcp 10.0.0.100:80 10.0.0.13:80 w=1\n"
	within15s(t, "A has its change", func() bool { return a.weights() == want3 })
	time.Sleep(500 * time.Millisecond)
	b.wantWeights(want)
	proxy.Restore()
	took = within15s(t, "B converges once etcd is back", func() bool { return b.weights() == want3 })
	t.Logf("B converged %v after the partition healed", took)
	if sa, sb := a.d.Status().Store, b.d.Status().Store; !sb.Reachable || sa.Digest != sb.Digest {
		t.Fatalf("after convergence: A %+v, B %+v: want both reachable with one digest", sa, sb)
	}

	// etcd down: both keep the table; a change is refused, nothing changes
	srv.Stop()
	within15s(t, "A reports etcd unreachable", func() bool { return !a.d.Status().Store.Reachable })
	err = addNode(t, a.d, "10.0.0.14", 1)
	if !errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("add-node with etcd down: %v, want ErrStoreUnavailable", err)
	}
	time.Sleep(1500 * time.Millisecond)
	a.wantWeights(want3)
	b.wantWeights(want3)
	srv.Start()
	within15s(t, "both reachable again", func() bool { return a.d.Status().Store.Reachable && b.d.Status().Store.Reachable })
	if err := addNode(t, a.d, "10.0.0.14", 1); err != nil {
		t.Fatal(err)
	}
	want4 := want3 + "tcp 10.0.0.100:80 10.0.0.14:80 w=1\n"
	within15s(t, "both have the change made after etcd returned", func() bool { return a.weights() == want4 && b.weights() == want4 })

	// each director reports the revision it is at: both seen from either
	within15s(t, "status shows both directors at one revision", func() bool {
		sa, sb := a.d.Status().Store, b.d.Status().Store
		return len(sa.Directors) == 2 && sa.Directors["a"].Digest == sa.Digest && sa.Directors["b"].Digest == sa.Digest &&
			sb.Digest == sa.Digest && len(sb.Directors) == 2
	})
	t.Logf("store status of A: %+v", a.d.Status().Store)
}

// A director starting while etcd is down serves the table it last knew
// (the state file) and converges when etcd answers.
func TestEtcdStartWhileDown(t *testing.T) {
	srv := etcdtest.Start(t)
	a := startEtcdDirector(t, "a", srv.Endpoint)
	if err := addNode(t, a.d, "10.0.0.11", 3); err != nil {
		t.Fatal(err)
	}
	want := "tcp 10.0.0.100:80 10.0.0.11:80 w=3\n"
	within15s(t, "A has its change", func() bool { return a.weights() == want })
	path := a.store.local.Path
	srv.Stop()

	cfg, st := openEtcdStore(t, fmt.Sprintf("state_file: %s\nstore:\n  type: etcd\n  endpoints: [%s]\n  prefix: /t/\n  timeout: 500ms\n", path, srv.Endpoint))
	r := &rig{t: t, fake: ipvs.NewFake()}
	r.view = &lockedIPVS{Client: r.fake} // Run writes while the test reads
	r.d = New(cfg, Options{IPVS: r.view, Store: st, NoLock: true, Sysctl: r.sysctls(), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := r.d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer r.d.Close()
	r.wantWeights(want)
}
