package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/director"
	"github.com/lvsnode/lvsnode/internal/etcdtest"
	"github.com/lvsnode/lvsnode/internal/netnstest"
	"github.com/lvsnode/lvsnode/ipvs"
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
	srv := etcdtest.Start(t)
	dir := t.TempDir()
	table := startFollower(t, srv.Endpoint, filepath.Join(dir, "director.json"))
	cfg := filepath.Join(dir, "agent.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`vips: [10.0.0.100]
resync-interval: 100ms
teardown-on-stop: true
drain: {on-stop: true, min-wait: 1s, timeout: 5s}
register:
  endpoints: [%s]
  prefix: /t/
  address: 10.0.1.11
  ttl: 2s
  services:
    - {service: tcp 10.0.0.100:80, weight: 5}
`, srv.Endpoint)), 0o644)

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
