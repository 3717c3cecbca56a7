package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/agent"
	"github.com/lvsnode/lvsnode/health"
	"github.com/lvsnode/lvsnode/internal/netnstest"
)

// judge is the director's ready check (package health) against the
// agent's /readyz: "ready", "draining" or "not ready: ...".
func judge(t *testing.T) string {
	t.Helper()
	c, err := health.NewChecker(health.Definition{Type: health.Ready, Target: netip.MustParseAddr("127.0.0.1"), Port: 9109})
	if err != nil {
		t.Fatal(err)
	}
	r := c.Check(context.Background())
	switch {
	case r.OK:
		return "ready"
	case r.Draining:
		return "draining"
	case errors.Is(r.Err, health.ErrNotReady):
		return "not ready: " + r.Err.Error()
	}
	return "broken: " + r.Reason
}

// ssVIP is the oracle: ss(8)'s count of established sockets from the VIP.
func ssVIP(t *testing.T) int {
	t.Helper()
	out, err := exec.Command("ss", "-Htn", "state", "established", "src", "10.0.0.100").CombinedOutput()
	if err != nil {
		t.Fatalf("ss: %v\n%s", err, out)
	}
	return strings.Count(strings.TrimSpace(string(out)), "\n") + min(1, len(strings.TrimSpace(string(out))))
}

// vipServer accepts on the VIP and closes each connection when its
// client does, as a server that finishes its work would.
func vipServer(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp4", "10.0.0.100:8080")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	return ln
}

// vipClient connects from 127.0.0.1, so only the server's end has the
// VIP as its local address (a client on lo would pick the VIP as source).
func vipClient(t *testing.T) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)}}
	c, err := d.Dial("tcp4", "10.0.0.100:8080")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func daemonState(t *testing.T, state string) agent.DaemonState {
	t.Helper()
	r := run(t, nil, "agent", "status", "--json", "--state-file", state, "--vip", "10.0.0.100")
	var out struct {
		Daemon *agent.DaemonState `json:"daemon"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || out.Daemon == nil {
		t.Fatalf("agent status --json: no daemon state (%v):\n%s%s", err, r.stdout, r.stderr)
	}
	return *out.Daemon
}

func hasVIP(t *testing.T) bool {
	return strings.Contains(ip(t, "addr", "show", "dev", "lo"), "10.0.0.100/32")
}

// TestAgentDrainWaitsForItsVIPSockets: a TCP server bound to the VIP and a
// client holding a connection to it; `agent drain` makes /readyz say
// draining, the sock_diag count (proven against ss) is 1 and the VIP
// stays; the client closes, the VIP goes; `agent undrain` serves again;
// then SIGTERM with drain.on-stop does the same and exits.
func TestAgentDrainWaitsForItsVIPSockets(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	if r := run(t, nil, "agent", "drain", "--state-file", state); r.code != 1 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || !strings.Contains(r.stderr, "no lvsnode agent daemon answers") {
		t.Fatalf("drain without a daemon: exit %d, %q (want 1 and one line)", r.code, r.stderr)
	}
	cfg := filepath.Join(dir, "agent.yaml")
	os.WriteFile(cfg, []byte("vips: [10.0.0.100]\nresync-interval: 100ms\nlisten: 127.0.0.1:9109\n"+
		"drain:\n  on-stop: true\n  timeout: 30s\n  min-wait: 500ms\n"), 0o644)
	ns := listenNotify(t, filepath.Join(dir, "notify.sock"))
	cmd := exec.Command(lvsnodeBin(t), "agent", "run", "--config", cfg, "--state-file", state)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+ns.path)
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
		if t.Failed() {
			t.Logf("agent log:\n%s", logs.String())
		}
	}()
	until(t, "READY=1", func() bool { return ns.count("READY=1") == 1 })
	if st, err := os.Stat(agent.ControlPath(state)); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("control socket: %v %v, want mode 0600", st, err)
	}
	vipServer(t)
	client := vipClient(t)
	until(t, "the connection counted", func() bool { return ssVIP(t) == 1 })
	if v := judge(t); v != "ready" {
		t.Fatalf("before the drain: %s", v)
	}

	r := run(t, nil, "agent", "drain", "--state-file", state)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "draining") {
		t.Fatalf("agent drain: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("agent drain: %s", strings.TrimSpace(r.stdout))
	if v := judge(t); v != "draining" {
		t.Fatalf("draining: the director's check says %s", v)
	}
	st := daemonState(t, state)
	if st.VIPSockets == nil || *st.VIPSockets != 1 || ssVIP(t) != 1 || !st.Draining {
		t.Fatalf("draining with one client: daemon %+v, ss %d", st, ssVIP(t))
	}
	time.Sleep(1500 * time.Millisecond) // min-wait 500ms long past
	if !hasVIP(t) || judge(t) != "draining" {
		t.Fatal("the VIP went while a client was connected")
	}
	client.Close()
	took := until(t, "VIP removed once the client left", func() bool { return !hasVIP(t) })
	t.Logf("VIP removed %v after the client closed", took)
	if v := judge(t); !strings.HasPrefix(v, "not ready") || !strings.Contains(v, "drained") {
		t.Fatalf("drained: the director's check says %s", v)
	}
	time.Sleep(300 * time.Millisecond) // resyncs at 100ms must not bring it back
	if hasVIP(t) {
		t.Fatal("a resync re-added the drained VIP")
	}
	// A bare `agent status` after the drain: the state file went with
	// the VIPs, and the daemon says why (no "no state file" error).
	if r := run(t, nil, "agent", "status", "--state-file", state); r.code != 0 ||
		!strings.Contains(r.stdout, "drained since") || !strings.Contains(r.stdout, "agent undrain") {
		t.Fatalf("agent status when drained: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if r := run(t, nil, "agent", "status", "--json", "--state-file", state); r.code != 0 || !strings.Contains(r.stdout, `"phase": "drained"`) {
		t.Fatalf("agent status --json when drained: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	if r := run(t, nil, "agent", "undrain", "--state-file", state); r.code != 0 {
		t.Fatalf("agent undrain: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	until(t, "ready again", func() bool { return hasVIP(t) && judge(t) == "ready" })

	// SIGTERM with drain.on-stop: STOPPING=1, draining, exit once the
	// client leaves.
	client = vipClient(t)
	until(t, "the connection counted", func() bool { return ssVIP(t) == 1 })
	cmd.Process.Signal(syscall.SIGTERM)
	until(t, "STOPPING=1", func() bool { return ns.count("STOPPING=1") == 1 })
	if v := judge(t); v != "draining" {
		t.Fatalf("SIGTERM drain: the director's check says %s", v)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		t.Fatalf("exited with a client connected: %v", err)
	case <-time.After(1500 * time.Millisecond):
	}
	if !hasVIP(t) {
		t.Fatal("SIGTERM drain removed the VIP with a client connected")
	}
	client.Close()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after the drain: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not exit once drained")
	}
	if hasVIP(t) {
		t.Fatal("exited with the VIP bound")
	}
	if _, err := os.Stat(agent.ControlPath(state)); err == nil {
		t.Error("the control socket outlived the daemon")
	}
}
