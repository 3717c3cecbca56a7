package director

import (
	"context"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	clientv3 "go.etcd.io/etcd/client/v3"

	etcdstore "github.com/lvsnode/lvsnode/store/etcd"

	"github.com/lvsnode/lvsnode/internal/etcdtest"
)

// A first start while etcd is not up yet (a group booted together, its
// directors before etcd): once etcd answers, director.yaml's services are
// seeded and served (regression: the table stayed empty until a SIGHUP).
func TestEtcdSeedOnceEtcdAnswers(t *testing.T) {
	srv := etcdtest.Start(t)
	srv.Stop()
	file := `services:
  - service: tcp 10.0.0.100:80
    nodes: [{address: 10.0.0.11, weight: 1}]
`
	a := startEtcdDirectorFile(t, "a", srv.Endpoint, file)
	if got := a.weights(); got != "" {
		t.Fatalf("a first start while etcd is down serves %q: nothing is known yet", got)
	}
	srv.Start()
	within15s(t, "the file's service once etcd answers", func() bool { return a.weights() == "tcp 10.0.0.100:80 10.0.0.11:80 w=1\n" })
	if got := a.d.Status().Store.FileConflicts; len(got) != 0 {
		t.Fatalf("store.file_conflicts %v after the seed", got)
	}
}

// A conflict the shared state settles since (here edit-node gives the
// file's weight) leaves store.file_conflicts and the metric at once
// (regression: both reported it until the next reload).
func TestEtcdFileConflictSettled(t *testing.T) {
	srv := etcdtest.Start(t)
	a := startEtcdDirectorFile(t, "a", srv.Endpoint, `services:
  - service: tcp 10.0.0.100:80
    nodes: [{address: 10.0.0.11, weight: 1}]
`)
	within15s(t, "A seeded", func() bool { return a.weights() == "tcp 10.0.0.100:80 10.0.0.11:80 w=1\n" })
	b := startEtcdDirectorFile(t, "b", srv.Endpoint, `services:
  - service: tcp 10.0.0.100:80
    nodes: [{address: 10.0.0.11, weight: 5}]
`)
	if fc := b.d.Status().Store.FileConflicts; len(fc) != 1 {
		t.Fatalf("B's store.file_conflicts %v, want its 10.0.0.11", fc)
	}
	five := uint32(5)
	if err := a.d.EditNode(context.Background(), NodePatch{NodeRef: NodeRef{Service: "tcp 10.0.0.100:80", Address: "10.0.0.11"}, Weight: &five}); err != nil {
		t.Fatal(err)
	}
	within15s(t, "B holds the weight its file gives", func() bool { return b.weights() == "tcp 10.0.0.100:80 10.0.0.11:80 w=5\n" })
	if fc := b.d.Status().Store.FileConflicts; len(fc) != 0 {
		t.Fatalf("settled, yet B reports store.file_conflicts %v", fc)
	}
	ch := make(chan prometheus.Metric, 16)
	collectStore(b.d.Status(), ch)
	close(ch)
	for m := range ch {
		var x dto.Metric
		if _ = m.Write(&x); m.Desc() == descStoreConflicts && x.GetGauge().GetValue() != 0 {
			t.Fatalf("lvsnode_store_file_conflicts %v after the conflict was settled", x.GetGauge().GetValue())
		}
	}
}

// Two directors with the same file starting together: a key the other
// created meanwhile with the file's own value is no conflict (regression:
// it was warned and reported as one, "created by another director").
func TestEtcdSeedRaceSameValueNoConflict(t *testing.T) {
	srv, cfg, s, cur := loadSeedStore(t)
	cli := etcdClient(t, srv.Endpoint)
	k := etcdstore.NodeKey("/t/", "tcp 10.0.0.100:80", "10.0.0.11:80")
	if _, err := cli.Put(context.Background(), k, `{"address":"10.0.0.11","weight":5}`); err != nil { // the other director, same file
		t.Fatal(err)
	}
	next, err := s.SeedFile(context.Background(), cur, cfg.Services)
	if err != nil {
		t.Fatal(err)
	}
	if fc := s.StoreStatus().FileConflicts; len(fc) != 0 {
		t.Fatalf("the same value created by another director is reported as a conflict: %v", fc)
	}
	if got := mustJSON(next.Services); got != `[{"service":"tcp 10.0.0.100:80","nodes":[{"address":"10.0.0.11","weight":5},{"address":"10.0.0.12"}]}]` {
		t.Fatalf("seeded services %s: want both real servers", got)
	}
}

// An edit of a registered real server whose lease ended before the watch
// said so (here: the watch stalled, then the lease revoked) is refused as
// not found, and etcd, which answered, is not reported unreachable
// (regression: "shared store unreachable", store.reachable false).
func TestEtcdEditOfEndedRegistrationIsNoOutage(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := etcdClient(t, srv.Endpoint)
	seam, log := &watchSeam{}, &lockedBuf{}
	a := startEtcdDirector(t, "a", srv.Endpoint, seamed(seam, log))
	l, err := cli.Grant(context.Background(), 30)
	if err != nil {
		t.Fatal(err)
	}
	k := etcdstore.NodeKey("/t/", "tcp 10.0.0.100:80", "10.0.0.11:80")
	if _, err := cli.Put(context.Background(), k, `{"address":"10.0.0.11","weight":1}`, clientv3.WithLease(l.ID)); err != nil {
		t.Fatal(err)
	}
	within15s(t, "registered", func() bool { return seam.watching() && a.weights() == "tcp 10.0.0.100:80 10.0.0.11:80 w=1\n" })
	seam.stall()
	if _, err := cli.Revoke(context.Background(), l.ID); err != nil {
		t.Fatal(err)
	}
	w := uint32(4)
	err = a.d.EditNode(context.Background(), NodePatch{NodeRef: NodeRef{Service: "tcp 10.0.0.100:80", Address: "10.0.0.11"}, Weight: &w})
	if !errors.Is(err, ErrNotFound) || errors.Is(err, ErrStoreUnavailable) {
		t.Fatalf("edit-node of an ended registration: %v, want not found", err)
	}
	if st := a.d.Status().Store; !st.Reachable {
		t.Fatalf("etcd answered, yet reported unreachable: %+v", st)
	}
}
