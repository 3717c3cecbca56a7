package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/lvsnode/lvsnode/agent"
	"github.com/lvsnode/lvsnode/director"
	"github.com/lvsnode/lvsnode/internal/etcdtest"
	"github.com/lvsnode/lvsnode/internal/netnstest"
	"github.com/lvsnode/lvsnode/ipvs"
	etcdstore "github.com/lvsnode/lvsnode/store/etcd"
	"github.com/lvsnode/lvsnode/sysctl"
)

// `agent run` with register: against a real etcd, and a director (the
// daemon on ipvs.Fake with the etcd store) following it: the real server
// appears in the director's table once the agent is READY, goes to
// weight 0 while it drains (SIGTERM with drain-on-stop) and leaves when
// it stops; killed (SIGKILL), it leaves once its lease expires.
func TestAgentRegistersItself(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	_, table, dir, cfg := registerRig(t, "drain: {on-stop: true, min-wait: 1s, timeout: 5s}", "2s")

	run := func() (*exec.Cmd, *notifySocket, *bytes.Buffer) {
		ns := listenNotify(t, filepath.Join(t.TempDir(), "notify.sock"))
		cmd := exec.Command(lvsnodeBin(t), "agent", "run", "--config", cfg, "--state-file", filepath.Join(dir, "state.json"))
		cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+ns.path)
		var logs bytes.Buffer
		cmd.Stderr = &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				cmd.Process.Kill()
				cmd.Wait()
			}
			if t.Failed() {
				t.Logf("agent log:\n%s", logs.String())
			}
		})
		return cmd, ns, &logs
	}
	const rs = "tcp 10.0.0.100:80 10.0.1.11:80 w="

	cmd, ns, _ := run()
	until(t, "READY=1", func() bool { return ns.count("READY=1") == 1 })
	ready := time.Now()
	until(t, "the director to add the registered real server", func() bool { return table() == rs+"5\n" })
	t.Logf("FIGURE agent READY=1 -> the director's table (in-process director, ipvs.Fake, etcd on loopback): %v", time.Since(ready).Round(time.Millisecond))

	cmd.Process.Signal(syscall.SIGTERM) // drain-on-stop: draining first, weight 0
	until(t, "weight 0 while the agent drains", func() bool { return table() == rs+"0\n" })
	if err := cmd.Wait(); err != nil {
		t.Fatalf("agent exit: %v", err)
	}
	until(t, "the real server to leave once the agent stopped", func() bool { return table() == "" })

	cmd, ns, _ = run()
	until(t, "READY=1 again", func() bool { return ns.count("READY=1") == 1 })
	until(t, "back in the table", func() bool { return table() == rs+"5\n" })
	cmd.Process.Kill()
	cmd.Wait()
	killed := time.Now()
	until(t, "the lease to expire and the real server to leave", func() bool { return table() == "" })
	t.Logf("FIGURE agent SIGKILL -> removed from the director's table (lease ttl 2s, no connections): %v", time.Since(killed).Round(time.Millisecond))
}

// startFollower runs a director daemon on ipvs.Fake with the etcd store
// under /t/ and returns a function listing its table.
func startFollower(t *testing.T, endpoint, state string) func() string {
	t.Helper()
	cfg, err := director.ParseConfig("d.yaml", []byte(fmt.Sprintf("state_file: %s\ndrain: {interval: 100ms}\nstore: {type: etcd, endpoints: [%s], prefix: /t/}\n", state, endpoint)))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := director.OpenStore(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	fake := &lockedFake{Client: ipvs.NewFake()} // the daemon writes it while the test reads
	d := director.New(cfg, director.Options{IPVS: fake, Store: st, NoLock: true, Log: log,
		Sysctl: sysctl.NewFake(map[string]string{"net.ipv4.vs.expire_nodest_conn": "0", "net.ipv4.vs.expire_quiescent_template": "0"})})
	ctx, cancel := context.WithCancel(context.Background())
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	go d.Run(ctx)
	go d.Follow(ctx, st.(director.Shared))
	t.Cleanup(func() { cancel(); d.Close(); director.CloseStore(st) })
	return func() string {
		var b strings.Builder
		svcs, _ := fake.Services()
		for _, s := range svcs {
			ds, _ := fake.Destinations(s.ServiceKey)
			for _, x := range ds {
				fmt.Fprintf(&b, "%s %s w=%d\n", director.ServiceName(s.ServiceKey), x.DestKey, x.Weight)
			}
		}
		return b.String()
	}
}

// lockedFake serializes the test's reads of ipvs.Fake with the daemon's
// writes (an ipvs.Client is not safe for concurrent use; the daemon
// serializes only its own calls): under -race, reading the fake bare
// raced with Run's reconcile and could panic on its maps.
type lockedFake struct {
	mu sync.Mutex
	ipvs.Client
}

func (l *lockedFake) Services() ([]ipvs.Service, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.Client.Services()
}

func (l *lockedFake) Service(k ipvs.ServiceKey) (ipvs.Service, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.Client.Service(k)
}

func (l *lockedFake) Destinations(k ipvs.ServiceKey) ([]ipvs.Destination, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.Client.Destinations(k)
}

func (l *lockedFake) Apply(ops []ipvs.Op) []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.Client.Apply(ops)
}

// A registered real server is its agent's: its key deleted (etcdctl del,
// a director's remove-node) is written again by the live agent and the
// director adds it back; status --json and /metrics say it (issue 12
// review: the real server left every director for good, nothing said).
func TestAgentRegistrationComesBack(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	endpoint, table, dir, cfg := registerRig(t, "listen: 127.0.0.1:19917", "30s")
	state := filepath.Join(dir, "state.json")
	cmd := exec.Command(lvsnodeBin(t), "agent", "run", "--config", cfg, "--state-file", state)
	var logs lockedBuffer // read while the agent writes it
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("agent log:\n%s", logs.String())
		}
	})
	const rs = "tcp 10.0.0.100:80 10.0.1.11:80 w=5\n"
	until(t, "the director to add the registered real server", func() bool { return table() == rs })

	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	deleted := time.Now()
	if _, err := cli.Delete(context.Background(), "/t/", clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	// the ttl (30s) is far: only the agent's own check brings it back
	until(t, "the agent's log to say it", func() bool {
		return strings.Contains(logs.String(), "deleted by someone else: registering again")
	})
	until(t, "the real server back in the director's table", func() bool { return table() == rs })
	t.Logf("FIGURE key deleted -> written again by the agent and back in the director's table: %v", time.Since(deleted).Round(time.Millisecond))

	var st struct{ Daemon agent.DaemonState }
	out, err := exec.Command(lvsnodeBin(t), "agent", "status", "--json", "--state-file", state).Output()
	if err != nil || json.Unmarshal(out, &st) != nil || st.Daemon.Registration == nil {
		t.Fatalf("status --json: %v %s", err, out)
	}
	if r := st.Daemon.Registration; !r.Registered || r.State != "serving" || r.Rewrites["deleted"] != 1 {
		t.Fatalf("status registration %+v", r)
	}
	resp, err := http.Get("http://127.0.0.1:19917/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"lvsnode_agent_registered 1\n", `lvsnode_agent_register_rewrites_total{why="deleted"} 1` + "\n",
		`lvsnode_agent_register_errors_total{reason="auth"} 0` + "\n"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
}

// `agent status` (one line) says whether the registration is in etcd,
// and why not.
func TestStateLineSaysRegistration(t *testing.T) {
	st := agent.DaemonState{Phase: agent.Serving, Ready: true}
	if l := stateLine(st); strings.Contains(l, "regist") {
		t.Errorf("without register: %q", l)
	}
	for _, c := range []struct {
		r    etcdstore.RegisterStatus
		want string
	}{
		{etcdstore.RegisterStatus{State: "serving", Registered: true}, "; registered serving"},
		{etcdstore.RegisterStatus{State: "serving", Error: "etcd refused the user or password (register.user, register.password-file): etcdserver: authentication failed", Reason: "auth"},
			"; NOT registered: etcd refused the user or password"},
		{etcdstore.RegisterStatus{State: "absent"}, "; not registered (absent)"},
	} {
		st.Registration = &c.r
		if l := stateLine(st); !strings.Contains(l, c.want) {
			t.Errorf("%+v: %q, want %q", c.r, l, c.want)
		}
	}
}

// lockedBuffer is a bytes.Buffer a test reads while a child process's
// output is copied into it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// registerRig starts etcd and a director following it, and writes an
// agent.yaml (in dir) registering 10.0.1.11 into tcp 10.0.0.100:80 at
// weight 5 under a lease of ttl, with the line more besides.
func registerRig(t *testing.T, more, ttl string) (endpoint string, table func() string, dir, cfg string) {
	t.Helper()
	srv := etcdtest.Start(t)
	dir = t.TempDir()
	table = startFollower(t, srv.Endpoint, filepath.Join(dir, "director.json"))
	cfg = filepath.Join(dir, "agent.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`vips: [10.0.0.100]
resync-interval: 100ms
teardown-on-stop: true
%s
register:
  endpoints: [%s]
  prefix: /t/
  address: 10.0.1.11
  ttl: %s
  services:
    - {service: tcp 10.0.0.100:80, weight: 5}
`, more, srv.Endpoint, ttl)), 0o644)
	return srv.Endpoint, table, dir, cfg
}
