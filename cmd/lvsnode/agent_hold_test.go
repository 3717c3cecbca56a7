package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lvsnode/lvsnode/internal/netnstest"
)

// Fault 7 of issue 7: with `agent run` keeping 10.0.0.100, `agent apply
// --vip 10.0.0.200` printed "verified", exited 0 and was reverted by the
// daemon within 100 ms; teardown likewise. Now both are refused, naming
// the daemon, and change nothing; the daemon's own set is still fine.
func TestAgentCLIRefusedWhileRunHoldsTheHost(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "agent.yaml")
	os.WriteFile(cfg, []byte("vips: [10.0.0.100]\nresync-interval: 100ms\n"), 0o644)
	state := filepath.Join(dir, "state.json")
	ns := listenNotify(t, filepath.Join(dir, "notify.sock"))
	cmd := exec.Command(lvsnodeBin(t), "agent", "run", "--config", cfg, "--state-file", state)
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+ns.path)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	until(t, "READY=1", func() bool { return ns.count("READY=1") == 1 })

	sf := "--state-file=" + state
	before := snapshot(t, state)
	for _, args := range [][]string{
		{"agent", "apply", sf, "--vip", "10.0.0.200"},
		{"agent", "teardown", sf},
		{"agent", "teardown", sf, "--vip", "10.0.0.100"},
	} {
		r := runBounded(t, nil, args...)
		if r.code == 0 || !strings.Contains(r.stderr, "lvsnode agent run` (pid ") || !strings.Contains(r.stderr, cfg) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, stdout %q, stderr %q: want a one-line refusal naming the daemon's pid and config", args, r.code, r.stdout, r.stderr)
		}
	}
	if after := snapshot(t, state); after != before {
		t.Fatalf("a refused command changed the host:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	if r := runBounded(t, nil, "agent", "apply", sf, "--vip", "10.0.0.100"); r.code != 0 {
		t.Fatalf("apply of the daemon's own set: %d %q", r.code, r.stderr)
	}
	if r := runBounded(t, nil, "agent", "run", sf, "--vip", "10.0.0.100"); r.code == 0 || !strings.Contains(r.stderr, "pid ") {
		t.Fatalf("a second daemon: %d %q", r.code, r.stderr)
	}
}
