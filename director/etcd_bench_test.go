package director

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/lvsnode/lvsnode/internal/etcdtest"
	"github.com/lvsnode/lvsnode/ipvs"
	etcdstore "github.com/lvsnode/lvsnode/store/etcd"
)

// BenchmarkEtcdConvergence: a director following a real etcd (on
// loopback) with N real servers registered in one service, each under
// its lease as agents do. One op: one more real server registered (a put
// under a lease) until the director's IPVS (ipvs.Fake) holds it: the
// watch, the adopt (install + compile of all N), the reconcile (a read of
// the whole table, a plan, one write). sync-ms is the director's start to
// all N in its table. etcd's data and the state file are on tmpfs: the
// figure is lvsnode's, not the shared disk's fsync. Run: go test ./director -run '^$' -bench EtcdConvergence -benchtime 50x
func BenchmarkEtcdConvergence(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("rs=%d", n), func(b *testing.B) { benchConvergence(b, n) })
	}
}

func benchConvergence(b *testing.B, n int) {
	shm, err := os.MkdirTemp("/dev/shm", "lvsnode-bench-")
	if err != nil {
		b.Skip("needs a tmpfs at /dev/shm:", err)
	}
	defer os.RemoveAll(shm)
	srv := etcdtest.StartIn(b, shm)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{srv.Endpoint}})
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()
	ctx := context.Background()
	lease, err := cli.Grant(ctx, 600)
	if err != nil {
		b.Fatal(err)
	}
	const svc = "tcp 10.0.0.100:80"
	rs := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}) }
	register := func(i int) {
		a := rs(i)
		if _, err := cli.Put(ctx, etcdstore.NodeKey("/b/", svc, a.String()+":80"), fmt.Sprintf(`{"address":%q,"weight":1}`, a), clientv3.WithLease(lease.ID)); err != nil {
			b.Fatal(err)
		}
	}
	for i := range n {
		register(i)
	}
	cfg, err := ParseConfig("b.yaml", []byte(fmt.Sprintf("state_file: %s\nstore: {type: etcd, endpoints: [%s], prefix: /b/}\n",
		filepath.Join(shm, "s.json"), srv.Endpoint)))
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := OpenStore(cfg, log)
	if err != nil {
		b.Fatal(err)
	}
	defer CloseStore(st)
	fake := ipvs.NewFake()
	r := &rig{fake: fake}
	d := New(cfg, Options{IPVS: fake, Store: st, NoLock: true, Log: log, Sysctl: r.sysctls()})
	dctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	if err := d.Start(dctx); err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	go d.Run(dctx)
	go d.Follow(dctx, st.(Shared))
	k, _ := ParseService(svc)
	count := func() int {
		d.ipvsMu.Lock()
		defer d.ipvsMu.Unlock()
		ds, _ := fake.Destinations(k)
		return len(ds)
	}
	has := func(a netip.Addr) bool {
		d.ipvsMu.Lock()
		defer d.ipvsMu.Unlock()
		ds, _ := fake.Destinations(k)
		for _, x := range ds {
			if x.Addr == a {
				return true
			}
		}
		return false
	}
	wait := func(cond func() bool) {
		for deadline := time.Now().Add(60 * time.Second); !cond(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				b.Fatal("the director did not converge within 60 s")
			}
		}
	}
	wait(func() bool { return count() == n })
	sync := time.Since(start)
	b.ResetTimer()
	for i := range b.N {
		register(n + i)
		wait(func() bool { return has(rs(n + i)) })
	}
	b.StopTimer()
	b.ReportMetric(float64(sync.Microseconds())/1000, "sync-ms")
}
