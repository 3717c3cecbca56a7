package director

import (
	"strings"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/internal/etcdtest"
)

// F10: under active_active, a director started while etcd is unreachable
// is not ready on its cached table (its mh table may differ from the
// group's); it is once it has read the shared state, and losing etcd
// afterwards does not make it unready. Without active_active (control)
// it is ready on its cached table at once.
func TestEtcdActiveActiveReadyAfterFirstRead(t *testing.T) {
	srv := etcdtest.Start(t)
	proxy := etcdtest.NewProxy(t, srv)
	proxy.Cut()
	aa := startEtcdDirectorFile(t, "aa", proxy.Endpoint, "active_active: true\nsysctls:\n  manage: false\n")
	plain := startEtcdDirectorFile(t, "plain", proxy.Endpoint, "")
	within15s(t, "the director without active_active ready on its cached table", func() bool { ok, _ := plain.d.Ready(); return ok })
	time.Sleep(1500 * time.Millisecond) // reconciled, resynced, the store still away
	if ok, why := aa.d.Ready(); ok || !strings.Contains(why, "not read since start") {
		t.Fatalf("active_active director with etcd never read: Ready() = %v, %q; want not ready, store not read", ok, why)
	}
	if aa.d.Status().Ready {
		t.Fatal("status says ready while /readyz would not")
	}
	proxy.Restore()
	within15s(t, "active_active director ready once etcd was read", func() bool { ok, _ := aa.d.Ready(); return ok })
	proxy.Cut()
	within15s(t, "etcd reported unreachable again", func() bool { return !aa.store.StoreStatus().Reachable })
	if ok, why := aa.d.Ready(); !ok {
		t.Fatalf("etcd lost after the first read made the director unready: %s", why)
	}
}
