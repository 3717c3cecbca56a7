package director

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/lvsnode/lvsnode/internal/etcdtest"
	etcdstore "github.com/lvsnode/lvsnode/store/etcd"
)

// An operator's edit-node of a registered real server (the director
// rewrites its key) survives the agent's next writes (draining, then
// serving again): the agent changes only the draining flag of a key
// someone else changed; before, it wrote its whole value back and the
// weight returned to the agent's (issue 12 review).
func TestEtcdEditNodeSurvivesAgentWrites(t *testing.T) {
	srv := etcdtest.Start(t)
	a := startEtcdDirector(t, "a", srv.Endpoint)
	w := uint32(2)
	wrote := make(chan etcdstore.State, 8)
	reg := &etcdstore.Registrar{Config: etcdstore.Config{Endpoints: []string{srv.Endpoint}, Prefix: "/t/", Timeout: time.Second},
		Services: []etcdstore.Service{{Service: "tcp 10.0.0.100:80", Node: etcdstore.Node{Address: "10.0.0.12", Weight: &w, Method: "dr"}}},
		Log:      slog.New(slog.NewTextHandler(io.Discard, nil)), OnChange: func(s etcdstore.State) { wrote <- s }}
	states := make(chan etcdstore.State, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = reg.Run(ctx, states) }()
	t.Cleanup(func() { cancel(); <-done })
	set := func(s etcdstore.State) {
		t.Helper()
		states <- s
		select {
		case got := <-wrote:
			if got != s {
				t.Fatalf("registrar wrote %s, want %s", got, s)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("registrar did not write %s", s)
		}
	}
	set(etcdstore.Serving)
	within15s(t, "registered at the agent's weight", func() bool { return a.weights() == "tcp 10.0.0.100:80 10.0.0.12:80 w=2\n" })

	nine := uint32(9)
	if err := a.d.EditNode(context.Background(), NodePatch{NodeRef: NodeRef{Service: "tcp 10.0.0.100:80", Address: "10.0.0.12"}, Weight: &nine}); err != nil {
		t.Fatal(err)
	}
	within15s(t, "the operator's weight", func() bool { return a.weights() == "tcp 10.0.0.100:80 10.0.0.12:80 w=9\n" })

	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{srv.Endpoint}})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	key := func() (n etcdstore.Node, lease int64) {
		t.Helper()
		resp, err := cli.Get(context.Background(), etcdstore.NodeKey("/t/", "tcp 10.0.0.100:80", "10.0.0.12:80"))
		if err != nil || len(resp.Kvs) != 1 {
			t.Fatalf("the registration's key: %v %v", resp, err)
		}
		if err := json.Unmarshal(resp.Kvs[0].Value, &n); err != nil {
			t.Fatal(err)
		}
		return n, resp.Kvs[0].Lease
	}
	_, lease := key()
	for _, s := range []etcdstore.State{etcdstore.Draining, etcdstore.Serving} {
		set(s)
		n, l := key()
		if n.Weight == nil || *n.Weight != 9 || n.Draining != (s == etcdstore.Draining) || l != lease {
			t.Fatalf("after the agent wrote %s: %s lease %x, want weight 9, draining %v, lease %x", s, mustJSON(n), l, s == etcdstore.Draining, lease)
		}
	}
	within15s(t, "back at the operator's weight", func() bool { return a.weights() == "tcp 10.0.0.100:80 10.0.0.12:80 w=9\n" })
}
