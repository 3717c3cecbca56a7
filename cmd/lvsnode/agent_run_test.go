package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/internal/netnstest"
)

// notifySocket stands in for systemd: it collects sd_notify datagrams and
// closes ready at the first READY=1.
type notifySocket struct {
	path  string
	ready chan struct{}
	mu    sync.Mutex
	msgs  []string
}

func listenNotify(t testing.TB, path string) *notifySocket {
	t.Helper()
	ns := &notifySocket{path: path, ready: make(chan struct{})}
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: ns.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			msg := string(buf[:n])
			ns.mu.Lock()
			if strings.Contains(msg, "READY=1") && !slices.ContainsFunc(ns.msgs, func(m string) bool { return strings.Contains(m, "READY=1") }) {
				close(ns.ready)
			}
			ns.msgs = append(ns.msgs, msg)
			ns.mu.Unlock()
		}
	}()
	return ns
}

func (ns *notifySocket) count(s string) int {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	n := 0
	for _, m := range ns.msgs {
		if strings.Contains(m, s) {
			n++
		}
	}
	return n
}

func until(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Since(start)
}

func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAgentRunRepairsDriftAndSpeaksSdNotify(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "agent.yaml")
	os.WriteFile(cfg, []byte("vips: [10.0.0.100]\nresync-interval: 100ms\nlisten: 127.0.0.1:9109\nteardown-on-stop: true\n"), 0o644)
	ns := listenNotify(t, filepath.Join(dir, "notify.sock"))
	cmd := exec.Command(lvsnodeBin(t), "agent", "run", "--config", cfg, "--state-file", filepath.Join(dir, "state.json"))
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
	if code, body := get("http://127.0.0.1:9109/readyz"); code != 200 {
		t.Fatalf("/readyz %d %q after READY=1", code, body)
	}
	if !strings.Contains(ip(t, "addr", "show", "dev", "lo"), "10.0.0.100/32") {
		t.Fatal("READY=1 before the VIP was bound")
	}

	// Something undoes the setup; the agent puts it back.
	ip(t, "addr", "del", "10.0.0.100/32", "dev", "lo")
	d := until(t, "VIP repaired", func() bool { return strings.Contains(ip(t, "addr", "show", "dev", "lo"), "10.0.0.100/32") })
	t.Logf("VIP deleted with ip(8) was back after %v", d)
	os.WriteFile("/proc/sys/net/ipv4/conf/all/arp_ignore", []byte("0"), 0o644)
	d = until(t, "arp_ignore repaired", func() bool { return readSys(t, "all.arp_ignore") == "1" })
	t.Logf("arp_ignore reset to 0 was 1 again after %v", d)
	until(t, "/metrics to count the repairs", func() bool {
		_, body := get("http://127.0.0.1:9109/metrics")
		return strings.Contains(body, "lvsnode_agent_repairs_total") && !strings.Contains(body, "lvsnode_agent_repairs_total 0\n")
	})

	// SIGHUP reloads the file: RELOADING=1, then READY=1 for the new VIP.
	os.WriteFile(cfg, []byte("vips: [10.0.0.200]\nresync-interval: 100ms\nlisten: 127.0.0.1:9109\nteardown-on-stop: true\n"), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	until(t, "RELOADING=1 then READY=1", func() bool { return ns.count("RELOADING=1") == 1 && ns.count("READY=1") >= 2 })
	lo := ip(t, "addr", "show", "dev", "lo")
	if !strings.Contains(lo, "10.0.0.200/32") || strings.Contains(lo, "10.0.0.100/32") {
		t.Fatalf("after reload:\n%s", lo)
	}

	// SIGTERM: STOPPING=1, teardown (configured), exit 0.
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}
	if ns.count("STOPPING=1") != 1 {
		t.Fatal("no STOPPING=1")
	}
	if strings.Contains(ip(t, "addr", "show", "dev", "lo"), "10.0.0.200") || readSys(t, "all.arp_ignore") != "0" {
		t.Fatal("teardown-on-stop left the VIP or the sysctl")
	}
}
