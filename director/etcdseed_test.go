package director

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/lvsnode/lvsnode/internal/etcdtest"
	etcdstore "github.com/lvsnode/lvsnode/store/etcd"
)

// Two directors whose director.yaml list different services share one
// prefix: the files seed the keys the prefix lacks and never overwrite
// one (before, each start published its file and the shared table
// flipped with the last director started); the director whose file
// disagrees reports it (status store.file_conflicts); API changes and
// a file's new keys still reach the store (issue 12 review).
func TestEtcdFilesSeedNeverFlip(t *testing.T) {
	srv := etcdtest.Start(t)
	fileA := `services:
  - service: tcp 10.0.0.100:80
    nodes: [{address: 10.0.0.11, weight: 1}]
  - service: tcp 10.0.0.101:80
    nodes: [{address: 10.0.0.21, weight: 1}]
`
	fileB := `services:
  - service: tcp 10.0.0.100:80
    nodes: [{address: 10.0.0.11, weight: 5}]
  - service: tcp 10.0.0.102:80
    nodes: [{address: 10.0.0.31, weight: 1}]
`
	want := "tcp 10.0.0.100:80 10.0.0.11:80 w=1\ntcp 10.0.0.101:80 10.0.0.21:80 w=1\ntcp 10.0.0.102:80 10.0.0.31:80 w=1\n"
	a := startEtcdDirectorFile(t, "a", srv.Endpoint, fileA)
	b := startEtcdDirectorFile(t, "b", srv.Endpoint, fileB)
	within15s(t, "A and B hold A's 10.0.0.11 and each file's own service", func() bool { return a.weights() == want && b.weights() == want })
	// a third director with A's file and no state (A restarted afresh)
	c := startEtcdDirectorFile(t, "c", srv.Endpoint, fileA)
	within15s(t, "C holds the shared table", func() bool { return c.weights() == want })
	for _, d := range []*etcdDirector{a, b, c} { // reloads of the same files change nothing either
		if err := d.d.Reload(context.Background(), d.d.config()); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	for _, d := range []*etcdDirector{a, b, c} {
		if got := d.weights(); got != want {
			t.Fatalf("the shared table flipped:\n%swant:\n%s", got, want)
		}
	}
	fc := b.d.Status().Store.FileConflicts
	if why, ok := fc["nodes/tcp/10.0.0.100:80/10.0.0.11:80"]; !ok || len(fc) != 1 {
		t.Fatalf("B's store.file_conflicts = %v, want its 10.0.0.11 only", fc)
	} else {
		t.Logf("B reports: %s", why)
	}
	if fc := c.d.Status().Store.FileConflicts; len(fc) != 0 {
		t.Fatalf("C agrees with the shared state, yet reports %v", fc)
	}
	ch := make(chan prometheus.Metric, 16)
	collectStore(b.d.Status(), ch)
	close(ch)
	var conflicts dto.Metric
	for m := range ch {
		if m.Desc() == descStoreConflicts {
			_ = m.Write(&conflicts)
		}
	}
	if conflicts.GetGauge().GetValue() != 1 {
		t.Fatalf("B's lvsnode_store_file_conflicts: %v, want 1", conflicts.GetGauge())
	}

	// the API still writes the store
	w := uint32(7)
	if err := b.d.EditNode(context.Background(), NodePatch{NodeRef: NodeRef{Service: "tcp 10.0.0.100:80", Address: "10.0.0.11"}, Weight: &w}); err != nil {
		t.Fatal(err)
	}
	want7 := strings.Replace(want, "10.0.0.11:80 w=1", "10.0.0.11:80 w=7", 1)
	within15s(t, "edit-node on B reaches A and C", func() bool { return a.weights() == want7 && c.weights() == want7 })

	// a key the file adds is seeded on reload
	cfg, err := ParseConfig("test.yaml", []byte(strings.Replace(fileA, "weight: 1}]\n  - service: tcp 10.0.0.101:80",
		"weight: 1}, {address: 10.0.0.12, weight: 2}]\n  - service: tcp 10.0.0.101:80", 1)))
	if err != nil {
		t.Fatal(err)
	}
	cfg.StateFile, cfg.Store = a.d.config().StateFile, a.d.config().Store
	if err := a.d.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	want12 := "tcp 10.0.0.100:80 10.0.0.11:80 w=7\ntcp 10.0.0.100:80 10.0.0.12:80 w=2\n" + strings.SplitN(want, "\n", 2)[1]
	within15s(t, "A's new real server reaches B", func() bool { return b.weights() == want12 && a.weights() == want12 })
}

// A key created by another director after this one read the prefix (its
// cache does not have it yet) is not overwritten by the seed: the create
// compares create_revision to 0, and the loss is reported.
func TestEtcdSeedLosesRaceWithoutOverwriting(t *testing.T) {
	srv, cfg, s, cur := loadSeedStore(t)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{srv.Endpoint}})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	k := etcdstore.NodeKey("/t/", "tcp 10.0.0.100:80", "10.0.0.11:80")
	if _, err := cli.Put(context.Background(), k, `{"address":"10.0.0.11","weight":1}`); err != nil { // the other director
		t.Fatal(err)
	}
	next, err := s.SeedFile(context.Background(), cur, cfg.Services)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Get(context.Background(), k)
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != `{"address":"10.0.0.11","weight":1}` {
		t.Fatalf("the other director's key: %v %v, want it unchanged", resp.Kvs, err)
	}
	if why := s.StoreStatus().FileConflicts["nodes/tcp/10.0.0.100:80/10.0.0.11:80"]; why == "" {
		t.Fatalf("the lost race is not reported: %v", s.StoreStatus().FileConflicts)
	}
	if got := mustJSON(next.Services); got != `[{"service":"tcp 10.0.0.100:80","nodes":[{"address":"10.0.0.12"}]}]` {
		t.Fatalf("seeded services %s: want 10.0.0.12 only (10.0.0.11 comes with the watch)", got)
	}
}

// The file as last merged (Desired.Config) tells a key removed through
// the API (not added back) from a new one (seeded); a key the file drops
// is not deleted. Both are reported.
func TestEtcdSeedKeepsRemovalsAndDrops(t *testing.T) {
	srv := etcdtest.Start(t)
	cfg, s := openEtcdStore(t, "state_file: "+t.TempDir()+"/s.json\nstore:\n  type: etcd\n  endpoints: ["+srv.Endpoint+
		"]\n  prefix: /t/\n  timeout: 1s\nservices:\n  - service: tcp 10.0.0.100:80\n    nodes: [{address: 10.0.0.12}, {address: 10.0.0.13}]\n")
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{srv.Endpoint}})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	k := func(rs string) string { return etcdstore.NodeKey("/t/", "tcp 10.0.0.100:80", rs) }
	if _, err := cli.Put(context.Background(), k("10.0.0.11:80"), `{"address":"10.0.0.11"}`); err != nil {
		t.Fatal(err)
	}
	cur, err := s.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// last merged: 10.0.0.11 (now dropped from the file) and 10.0.0.12
	// (since removed through the API); 10.0.0.13 is new in the file
	cur.Config = []ServiceSpec{{Service: "tcp 10.0.0.100:80", Nodes: []NodeSpec{{Address: "10.0.0.11"}, {Address: "10.0.0.12"}}}}
	next, err := s.SeedFile(context.Background(), cur, cfg.Services)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := cli.Get(context.Background(), "/t/nodes/", clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, kv := range resp.Kvs {
		keys = append(keys, string(kv.Key))
	}
	if got := strings.Join(keys, " "); got != k("10.0.0.11:80")+" "+k("10.0.0.13:80") {
		t.Fatalf("keys %s: want 10.0.0.11 kept, 10.0.0.12 not added back, 10.0.0.13 seeded", got)
	}
	fc := s.StoreStatus().FileConflicts
	if len(fc) != 2 || !strings.Contains(fc["nodes/tcp/10.0.0.100:80/10.0.0.11:80"], "dropped") ||
		!strings.Contains(fc["nodes/tcp/10.0.0.100:80/10.0.0.12:80"], "not added back") {
		t.Fatalf("store.file_conflicts %v: want 10.0.0.11 dropped and 10.0.0.12 not added back", fc)
	}
	if got := mustJSON(next.Services); got != `[{"service":"tcp 10.0.0.100:80","nodes":[{"address":"10.0.0.11"},{"address":"10.0.0.13"}]}]` {
		t.Fatalf("services %s", got)
	}
}

// A new or rebuilt director (no state file) with the group's file does
// not put back a real server removed through the API: on a first start
// only services the shared state lacks whole are seeded, and the rest of
// the file's keys are reported.
func TestEtcdFirstStartKeepsRemovals(t *testing.T) {
	srv := etcdtest.Start(t)
	file := `services:
  - service: tcp 10.0.0.100:80
    nodes: [{address: 10.0.0.11}, {address: 10.0.0.12}]
`
	a := startEtcdDirectorFile(t, "a", srv.Endpoint, file)
	both := "tcp 10.0.0.100:80 10.0.0.11:80 w=1\ntcp 10.0.0.100:80 10.0.0.12:80 w=1\n"
	within15s(t, "A seeds its file", func() bool { return a.weights() == both })
	if err := a.d.RemoveNode(context.Background(), NodeRef{Service: "tcp 10.0.0.100:80", Address: "10.0.0.12"}); err != nil {
		t.Fatal(err)
	}
	one := "tcp 10.0.0.100:80 10.0.0.11:80 w=1\n"
	within15s(t, "A removes .12", func() bool { return a.weights() == one })
	c := startEtcdDirectorFile(t, "c", srv.Endpoint, file)
	within15s(t, "C holds the shared table", func() bool { return c.weights() == one })
	time.Sleep(500 * time.Millisecond)
	if a.weights() != one || c.weights() != one {
		t.Fatalf("a fresh director put back a removed real server:\nA:\n%sC:\n%s", a.weights(), c.weights())
	}
	if fc := c.d.Status().Store.FileConflicts; len(fc) != 1 || fc["nodes/tcp/10.0.0.100:80/10.0.0.12:80"] == "" {
		t.Fatalf("C's store.file_conflicts = %v, want .12's key", fc)
	}
}

// loadSeedStore starts etcd and loads a store (not a daemon) whose file
// has tcp 10.0.0.100:80 with 10.0.0.11 (weight 5) and 10.0.0.12.
func loadSeedStore(t *testing.T) (*etcdtest.Server, Config, *EtcdStore, Desired) {
	t.Helper()
	srv := etcdtest.Start(t)
	cfg, s := openEtcdStore(t, "state_file: "+t.TempDir()+"/s.json\nstore:\n  type: etcd\n  endpoints: ["+srv.Endpoint+
		"]\n  prefix: /t/\n  timeout: 1s\nservices:\n  - service: tcp 10.0.0.100:80\n    nodes: [{address: 10.0.0.11, weight: 5}, {address: 10.0.0.12}]\n")
	cur, err := s.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return srv, cfg, s, cur
}
