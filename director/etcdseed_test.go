package director

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/internal/etcdtest"
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
