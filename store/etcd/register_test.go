package etcdstore

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/lvsnode/lvsnode/internal/etcdtest"
)

// run starts reg (Serving) and waits until it wrote it.
func run(t *testing.T, reg *Registrar) {
	t.Helper()
	wrote := make(chan State, 8)
	reg.OnChange = func(s State) { wrote <- s }
	if reg.Log == nil {
		reg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	states := make(chan State, 1)
	states <- Serving
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = reg.Run(ctx, states) }()
	t.Cleanup(func() { cancel(); <-done })
}

func until(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !ok(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// A registration deleted by someone else (etcdctl del, a director's
// remove-node), or taken over by another lease that is then revoked (a
// second agent registering the same address, then stopping), is written
// again by its live agent; an operator's edit under its lease is kept
// (issue 12 review: the real server left every director for good).
func TestRegistrarTakesBackItsKeys(t *testing.T) {
	srv := etcdtest.Start(t)
	w := uint32(2)
	reg := &Registrar{Config: Config{Endpoints: []string{srv.Endpoint}, Prefix: "/t/", Timeout: 2 * time.Second}, TTL: 3 * time.Second,
		Services: []Service{{Service: "tcp 10.0.0.100:80", Node: Node{Address: "10.0.0.12", Weight: &w, Method: "dr"}}}}
	run(t, reg)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{srv.Endpoint}})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	k := NodeKey("/t/", "tcp 10.0.0.100:80", "10.0.0.12:80")
	get := func() (n Node, lease int64, ok bool) {
		resp, err := cli.Get(context.Background(), k)
		if err != nil || len(resp.Kvs) != 1 {
			return n, 0, false
		}
		if err := json.Unmarshal(resp.Kvs[0].Value, &n); err != nil {
			t.Fatal(err)
		}
		return n, resp.Kvs[0].Lease, true
	}
	ours := func() bool {
		_, l, ok := get()
		return ok && fmt.Sprintf("%x", l) == reg.Status().Lease && reg.Status().Registered
	}
	until(t, "the registration", ours)

	if _, err := cli.Delete(context.Background(), k); err != nil {
		t.Fatal(err)
	}
	until(t, "the deleted key written again under the agent's lease", ours)

	// another agent registers the same address: its key while its lease
	// lives (no tug of war), written again when it stops (revoked)
	other, err := cli.Grant(context.Background(), 30)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(Node{Address: "10.0.0.12", Method: "dr"})
	if _, err := cli.Put(context.Background(), k, string(b), clientv3.WithLease(other.ID)); err != nil {
		t.Fatal(err)
	}
	until(t, "the status to say the key is held by another lease", func() bool { st := reg.Status(); return st.Reason == "held" && !st.Registered })
	time.Sleep(2 * reg.Check)
	if _, l, _ := get(); l != int64(other.ID) {
		t.Fatalf("the key's lease %x, want the other agent's %x while it lives", l, other.ID)
	}
	if _, err := cli.Revoke(context.Background(), other.ID); err != nil {
		t.Fatal(err)
	}
	until(t, "the key taken by another lease, then revoked, written again", ours)
	if n, _, _ := get(); n.Weight == nil || *n.Weight != 2 {
		t.Fatalf("rewritten as %+v, want the agent's weight 2", n)
	}
	// a key written over without a lease (by hand): taken back
	if _, err := cli.Put(context.Background(), k, string(b)); err != nil {
		t.Fatal(err)
	}
	until(t, "the key written without a lease taken back", ours)

	var lease int64
	fmt.Sscanf(reg.Status().Lease, "%x", &lease)
	b, _ = json.Marshal(Node{Address: "10.0.0.12", Method: "dr", Weight: new(uint32)}) // an operator's edit: weight 0
	if _, err := cli.Put(context.Background(), k, string(b), clientv3.WithLease(clientv3.LeaseID(lease))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * reg.Check)
	if n, l, ok := get(); !ok || l != lease || n.Weight == nil || *n.Weight != 0 {
		t.Fatalf("after an operator's edit: %+v lease %x (ok %v), want weight 0 kept under lease %x", n, l, ok, lease)
	}
	st := reg.Status()
	if st.Rewrites["deleted"] != 2 || st.Rewrites["taken"] != 1 || !st.Registered || st.State != "serving" || st.Error != "" {
		t.Fatalf("status %+v", st)
	}
}

// etcd's refusals are said for what they are (auth, permission), not
// "etcd unreachable"; the registrar keeps retrying (credentials may be
// fixed) and registers once they are.
func TestRegistrarAuthReasons(t *testing.T) {
	srv := etcdtest.Start(t)
	root, err := clientv3.New(clientv3.Config{Endpoints: []string{srv.Endpoint}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, step := range []func() error{
		func() error { _, err := root.UserAdd(ctx, "root", "rootpw"); return err },
		func() error { _, err := root.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := root.UserAdd(ctx, "rs", "rspw"); return err },
		func() error { _, err := root.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	root.Close()
	dir := t.TempDir()
	pw := func(s string) string {
		p := filepath.Join(dir, s)
		os.WriteFile(p, []byte(s+"\n"), 0o600)
		return p
	}
	svc := []Service{{Service: "tcp 10.0.0.100:80", Node: Node{Address: "10.0.0.12", Method: "dr"}}}
	for _, c := range []struct {
		name, user, pw, want string
	}{
		{"no user", "", "", "auth"},
		{"wrong password", "rs", pw("wrong"), "auth"},
		{"no role", "rs", pw("rspw"), "permission"},
	} {
		t.Run(c.name, func(t *testing.T) {
			reg := &Registrar{Config: Config{Endpoints: []string{srv.Endpoint}, Prefix: "/t/", Timeout: 2 * time.Second, User: c.user, PasswordFile: c.pw},
				TTL: 3 * time.Second, Services: svc}
			run(t, reg)
			until(t, "reason "+c.want, func() bool { st := reg.Status(); return st.Reason == c.want && st.Errors[c.want] > 0 && !st.Registered })
		})
	}
}

// etcd gone while registered: the status says not registered and why
// (unreachable), and registered again once etcd is back, with no state
// change to prompt a write.
func TestRegistrarStatusFollowsEtcd(t *testing.T) {
	srv := etcdtest.Start(t)
	reg := &Registrar{Config: Config{Endpoints: []string{srv.Endpoint}, Prefix: "/t/", Timeout: time.Second}, TTL: 30 * time.Second, Check: 500 * time.Millisecond, // the lease outlives the outage
		Services: []Service{{Service: "tcp 10.0.0.100:80", Node: Node{Address: "10.0.0.12", Method: "dr"}}}}
	var logs syncBuffer
	reg.Log = slog.New(slog.NewTextHandler(&logs, nil))
	run(t, reg)
	until(t, "registered", func() bool { return reg.Status().Registered })
	srv.Stop()
	// lab/scenarios/fleet-basic.sh waits for these words
	until(t, `the log to say "etcd unreachable, retrying"`, func() bool { return strings.Contains(logs.String(), "etcd unreachable, retrying") })
	until(t, "not registered: unreachable", func() bool { st := reg.Status(); return !st.Registered && st.Reason == "unreachable" })
	srv.Start()
	until(t, "registered again", func() bool { st := reg.Status(); return st.Registered && st.Error == "" })
}

// syncBuffer is a log sink safe for the registrar's goroutine and the test's.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// An agent started while etcd is down says so in the words
// lab/scenarios/fleet-basic.sh waits for, and registers once etcd is back.
func TestRegistrarStartsWhileEtcdIsDown(t *testing.T) {
	srv := etcdtest.Start(t)
	srv.Stop()
	reg := &Registrar{Config: Config{Endpoints: []string{srv.Endpoint}, Prefix: "/t/", Timeout: time.Second}, TTL: 3 * time.Second,
		Services: []Service{{Service: "tcp 10.0.0.100:80", Node: Node{Address: "10.0.0.12", Method: "dr"}}}}
	var logs syncBuffer
	reg.Log = slog.New(slog.NewTextHandler(&logs, nil))
	run(t, reg)
	until(t, `the log to say "etcd unreachable, retrying"`, func() bool { return strings.Contains(logs.String(), "etcd unreachable, retrying") })
	if st := reg.Status(); st.Registered || st.Reason != "unreachable" || st.Errors["unreachable"] == 0 {
		t.Fatalf("status while etcd is down: %+v", st)
	}
	srv.Start()
	until(t, "registered once etcd is back", func() bool { st := reg.Status(); return st.Registered && st.Error == "" })
}

// An agent restarted after a crash (SIGKILL: its old lease still lives,
// the key under it) writes its own settings over the earlier run's key,
// as after a clean stop (whose revoke deleted the key); before, it took
// the old value for an operator's edit and kept the earlier weight.
func TestRegistrarRestartAfterCrashWritesItsSettings(t *testing.T) {
	srv := etcdtest.Start(t)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{srv.Endpoint}})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	k := NodeKey("/t/", "tcp 10.0.0.100:80", "10.0.0.12:80")
	crashed, err := cli.Grant(context.Background(), 30) // the killed run's lease, alive
	if err != nil {
		t.Fatal(err)
	}
	two := uint32(2)
	b, _ := json.Marshal(Node{Address: "10.0.0.12", Method: "dr", Weight: &two})
	if _, err := cli.Put(context.Background(), k, string(b), clientv3.WithLease(crashed.ID)); err != nil {
		t.Fatal(err)
	}
	five := uint32(5)
	reg := &Registrar{Config: Config{Endpoints: []string{srv.Endpoint}, Prefix: "/t/", Timeout: 2 * time.Second}, TTL: 3 * time.Second,
		Services: []Service{{Service: "tcp 10.0.0.100:80", Node: Node{Address: "10.0.0.12", Weight: &five, Method: "dr"}}}}
	run(t, reg)
	until(t, "the restarted agent's registration", func() bool { return reg.Status().Registered })
	resp, err := cli.Get(context.Background(), k)
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("get: %v %v", err, resp)
	}
	var n Node
	json.Unmarshal(resp.Kvs[0].Value, &n)
	if n.Weight == nil || *n.Weight != 5 || fmt.Sprintf("%x", resp.Kvs[0].Lease) != reg.Status().Lease {
		t.Fatalf("key %s lease %x, want weight 5 under the new lease %s", resp.Kvs[0].Value, resp.Kvs[0].Lease, reg.Status().Lease)
	}
}
