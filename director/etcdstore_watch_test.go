package director

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/lvsnode/lvsnode/internal/etcdtest"
	etcdstore "github.com/lvsnode/lvsnode/store/etcd"
)

// The lag is measured from the oldest revision the watch has not reached:
// a watch that keeps up with a busy prefix a moment late is not stalled,
// one that reaches nothing for watchStallAfter is.
func TestWatchLag(t *testing.T) {
	t0 := time.Unix(0, 0)
	var l watchLag
	for i := int64(0); i < 20; i++ { // busy: always one revision behind
		if l.stalled(100+i+1, 100+i, t0.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("busy watch reported stalled at %d s", i)
		}
	}
	l = watchLag{}
	if l.stalled(10, 10, t0) || l.stalled(12, 10, t0.Add(time.Second)) || l.stalled(13, 10, t0.Add(5*time.Second)) {
		t.Fatal("stalled before watchStallAfter")
	}
	if !l.stalled(14, 10, t0.Add(6*time.Second)) {
		t.Fatal("a watch that reached nothing for 5 s is not stalled")
	}
	l = watchLag{}
	l.stalled(12, 10, t0)
	if l.stalled(20, 12, t0.Add(5*time.Second)) { // acknowledged 12: behind 20 only since now
		t.Fatal("stalled although the watch reached the revision the probe saw")
	}
}

// watchSeam wraps the store's watcher: stall makes the watches open now
// deliver nothing more (as a stream that silently hangs, or a proxy that
// drops it) while etcd answers every request; before runs once, before
// the next watch starts (after the store's read).
type watchSeam struct {
	mu     sync.Mutex
	open   []*atomic.Bool // each watch's "stalled"
	before func()
}

func (s *watchSeam) wrap(w watcher) watcher { return seamWatcher{w, s} }

func (s *watchSeam) watching() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.open) > 0
}

func (s *watchSeam) stall() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.open {
		st.Store(true)
	}
}

type seamWatcher struct {
	watcher
	seam *watchSeam
}

func (w seamWatcher) Watch(ctx context.Context, key string, opts ...clientv3.OpOption) clientv3.WatchChan {
	st := new(atomic.Bool)
	w.seam.mu.Lock()
	w.seam.open = append(w.seam.open, st)
	before := w.seam.before
	w.seam.before = nil
	w.seam.mu.Unlock()
	if before != nil {
		before()
	}
	in := w.watcher.Watch(ctx, key, opts...)
	out := make(chan clientv3.WatchResponse)
	go func() {
		defer close(out)
		for wr := range in {
			if st.Load() {
				continue // dropped, progress notifications too
			}
			select {
			case out <- wr:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// lockedBuf is a log destination the store writes while the test reads.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedBuf) count(s string) int { return strings.Count(l.String(), s) }

// seamed installs seam and a log the test reads on a director's store.
func seamed(seam *watchSeam, log *lockedBuf) func(*EtcdStore) {
	return func(s *EtcdStore) {
		s.wrapWatch = seam.wrap
		s.log = slog.New(slog.NewTextHandler(log, nil))
	}
}

func putNode(t *testing.T, cli *clientv3.Client, rs, v string) {
	t.Helper()
	if _, err := cli.Put(context.Background(), etcdstore.NodeKey("/t/", "tcp 10.0.0.100:80", rs), v); err != nil {
		t.Fatal(err)
	}
}

func etcdClient(t *testing.T, endpoint string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// A watch that stops delivering while etcd answers (regression: the
// director kept its old table forever, reporting etcd reachable) is
// replaced within watchStallAfter, counted, logged once, and etcd is
// never reported unreachable; a watch on an idle prefix, while etcd's
// revision moves on outside it, is not taken for stalled.
func TestEtcdWatchStall(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := etcdClient(t, srv.Endpoint)
	seam, log := &watchSeam{}, &lockedBuf{}
	a := startEtcdDirector(t, "a", srv.Endpoint, seamed(seam, log))

	putNode(t, cli, "10.0.0.11:80", `{"address":"10.0.0.11","weight":3}`)
	want := "tcp 10.0.0.100:80 10.0.0.11:80 w=3\n"
	within15s(t, "the key is in IPVS and a watch is open", func() bool { return a.weights() == want && seam.watching() })

	seam.stall()
	putNode(t, cli, "10.0.0.12:80", `{"address":"10.0.0.12","weight":2}`)
	want += "tcp 10.0.0.100:80 10.0.0.12:80 w=2\n"
	took := within15s(t, "converged past a stalled watch", func() bool { return a.weights() == want })
	t.Logf("converged %v after the watch stalled (bound %v + a probe period)", took, watchStallAfter)
	st := a.d.Status().Store
	if st.WatchStalls != 1 || !st.Reachable || log.count("etcd unreachable") != 0 || log.count("watch stalled") != 1 {
		t.Fatalf("store status %+v, log:\n%s", st, log.String())
	}

	// idle prefix, etcd's revision moving outside it: no restart
	for i := 0; i < 16; i++ {
		if _, err := cli.Put(context.Background(), "/other/k", "v"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	putNode(t, cli, "10.0.0.13:80", `{"address":"10.0.0.13","weight":1}`)
	want += "tcp 10.0.0.100:80 10.0.0.13:80 w=1\n"
	within15s(t, "the new watch works", func() bool { return a.weights() == want })
	if st := a.d.Status().Store; st.WatchStalls != 1 {
		t.Fatalf("an idle watch was restarted: %+v\n%s", st, log.String())
	}
}

// A watch that etcd compacted past (here: changes and a compaction land
// between the store's read and its watch, which starts behind them) is
// replaced by a new read: the director converges, and compaction is not
// an outage (regression: it reported etcd unreachable).
func TestEtcdWatchCompacted(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := etcdClient(t, srv.Endpoint)
	putNode(t, cli, "10.0.0.11:80", `{"address":"10.0.0.11","weight":3}`)
	seam, log := &watchSeam{}, &lockedBuf{}
	seam.before = func() { // on the store's goroutine: t.Error, not t.Fatal
		ctx := context.Background()
		_, err := cli.Put(ctx, etcdstore.NodeKey("/t/", "tcp 10.0.0.100:80", "10.0.0.12:80"), `{"address":"10.0.0.12","weight":2}`)
		var resp *clientv3.PutResponse
		if err == nil {
			resp, err = cli.Put(ctx, etcdstore.NodeKey("/t/", "tcp 10.0.0.100:80", "10.0.0.13:80"), `{"address":"10.0.0.13","weight":1}`)
		}
		if err == nil {
			_, err = cli.Compact(ctx, resp.Header.Revision)
		}
		if err != nil {
			t.Error(err)
		}
	}
	a := startEtcdDirector(t, "a", srv.Endpoint, seamed(seam, log))
	want := "tcp 10.0.0.100:80 10.0.0.11:80 w=3\ntcp 10.0.0.100:80 10.0.0.12:80 w=2\ntcp 10.0.0.100:80 10.0.0.13:80 w=1\n"
	within15s(t, "converged past the compaction", func() bool { return a.weights() == want })
	m := NewMetrics(a.d, nil)
	metrics := `# HELP lvsnode_store_watch_restarts_total Watches replaced by a full read while the store answers: reason stalled (the watch lagged etcd's revision for 5 s) or compacted (etcd compacted past it). Not an outage.
# TYPE lvsnode_store_watch_restarts_total counter
lvsnode_store_watch_restarts_total{backend="etcd",reason="compacted"} 1
lvsnode_store_watch_restarts_total{backend="etcd",reason="stalled"} 0
# HELP lvsnode_store_reachable 1 while the shared store (etcd) answers; 0: the director serves its last known table.
# TYPE lvsnode_store_reachable gauge
lvsnode_store_reachable{backend="etcd"} 1
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(metrics), "lvsnode_store_watch_restarts_total", "lvsnode_store_reachable"); err != nil {
		t.Error(err)
	}
	if n, c := log.count("etcd unreachable"), log.count("etcd compacted past the watch"); n != 0 || c != 1 {
		t.Fatalf("compaction logged as %d outages and %d compactions, want 0 and 1:\n%s", n, c, log.String())
	}
}
