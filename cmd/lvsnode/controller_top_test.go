package main

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/director"
	"github.com/lvsnode/lvsnode/ipvs"
)

// topStatus: three real servers whose orders by rate, connections and
// address all differ; 10.0.0.13 is down.
func topStatus(downAlso string) director.Status {
	n := func(addr string, cps uint64, conns uint32, health string) director.NodeStatus {
		if addr == downAlso {
			health = director.HealthDown
		}
		return director.NodeStatus{NodeRef: director.NodeRef{Service: "tcp 10.0.0.100:80", Address: addr, Port: 80}, Method: "dr",
			Weight: 1, ConfiguredWeight: 1, Health: health, Drain: director.DrainNone, Agent: director.AgentReady,
			ActiveConn: conns, Stats: ipvs.Stats{CPS: cps, InBPS: 1000 * cps}}
	}
	return director.Status{Ready: true, Services: []director.ServiceStatus{{Service: "tcp 10.0.0.100:80", Scheduler: "wlc", Managed: true, Up: 2,
		Nodes: []director.NodeStatus{n("10.0.0.11", 5, 300, director.HealthUp), n("10.0.0.12", 50, 10, director.HealthUp), n("10.0.0.13", 20, 100, director.HealthDown)}}}}
}

// rsOrder is the real servers of a frame, top to bottom, with their health.
func rsOrder(frame string) string {
	var out []string
	for _, l := range strings.Split(frame, "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && strings.HasPrefix(f[0], "10.0.0.") {
			out = append(out, f[0]+"="+f[1])
		}
	}
	return strings.Join(out, " ")
}

func TestControllerTopOnce(t *testing.T) {
	withDaemon(t, &cliRuntime{statuses: []director.Status{topStatus("")}})
	out, rc := ctlRun(t, ipvs.NewFake(), "top", "--once")
	if want := "10.0.0.12:80=up 10.0.0.13:80=down 10.0.0.11:80=up"; rc != 0 || rsOrder(out) != want || !strings.Contains(out, "daemon ") {
		t.Errorf("top --once (by rate): rc %d %s, want %s\n%s", rc, rsOrder(out), want, out)
	}
	out, _ = ctlRun(t, ipvs.NewFake(), "top", "--once", "--sort", "conns")
	if want := "10.0.0.11:80=up 10.0.0.13:80=down 10.0.0.12:80=up"; rsOrder(out) != want {
		t.Errorf("top --once --sort conns: %s, want %s\n%s", rsOrder(out), want, out)
	}
	for _, c := range []struct{ args, want string }{
		{"--sort speed", `--sort: sort "speed": want rate, bytes, conns or address`},
		{"--interval 10ms", "--interval 10ms: want at least 100ms"},
		{"extra", `unexpected argument "extra"`},
		{"--width 0", "--width 0: want 40 to 1000 columns"},
		{"--width -5", "--width -5: want 40 to 1000 columns"},
		{"--width 100000", "--width 100000: want 40 to 1000 columns"},
	} {
		out, rc := ctlRun(t, ipvs.NewFake(), append([]string{"top", "--once"}, strings.Fields(c.args)...)...)
		if rc != 2 || !strings.Contains(out, c.want) {
			t.Errorf("top %s: rc %d %q, want 2 and %q", c.args, rc, out, c.want)
		}
	}
}

// top --api never sends a token over plain http to a host that is not
// loopback (issue 13 review): one line, exit 2, nothing dialled.
func TestControllerTopRefusesATokenOverPlainHTTP(t *testing.T) {
	tok := t.TempDir() + "/token"
	os.WriteFile(tok, []byte("api-token-0123456789\n"), 0o600)
	out, rc := ctlRun(t, ipvs.NewFake(), "top", "--once", "--api", "http://192.0.2.1:9110", "--api-token-file", tok)
	if rc != 2 || !strings.Contains(out, "refusing to send the bearer token over plain http") || strings.Count(strings.TrimSpace(out), "\n") > 0 {
		t.Errorf("top --api http://192.0.2.1:9110 with a token: rc %d %q, want 2 and one line", rc, out)
	}
}

// Without a daemon, top reads the kernel's table (as list --rate).
func TestControllerTopKernel(t *testing.T) {
	f := ipvs.NewFake()
	for _, rs := range []string{"10.0.0.11", "10.0.0.12"} {
		if out, rc := ctlRun(t, f, "add-node", "--api", "none", "-t", "10.0.0.100:80", "-r", rs, "-g"); rc != 0 {
			t.Fatal(out)
		}
	}
	k := ipvs.ServiceKey{Protocol: ipvs.TCP, Addr: netip.MustParseAddr("10.0.0.100"), Port: 80}
	f.SetCounters(k, ipvs.DestKey{Addr: netip.MustParseAddr("10.0.0.12"), Port: 80}, 9, 1, ipvs.Stats{CPS: 12})
	out, rc := ctlRun(t, f, "top", "--once")
	if want := "10.0.0.12:80=unknown 10.0.0.11:80=unknown"; rc != 0 || rsOrder(out) != want || !strings.Contains(out, "no director daemon") {
		t.Errorf("top --once without a daemon: rc %d %s, want %s\n%s", rc, rsOrder(out), want, out)
	}
}

// requireTmux is tmux's path; without it the test skips naming it, unless
// LVSNODE_REQUIRE_UI_TESTS=1 (CI installs it), where it fails.
func requireTmux(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("tmux")
	if err == nil {
		return p
	}
	msg := "tmux is not installed (apt-get install tmux): the controller top terminal test needs it"
	if os.Getenv("LVSNODE_REQUIRE_UI_TESTS") == "1" {
		t.Fatal(msg + " (LVSNODE_REQUIRE_UI_TESTS=1 forbids skipping)")
	}
	t.Skip(msg)
	return ""
}

// `controller top` in a real terminal (tmux): rows sorted by rate, then
// by connections (c), then as configured (a); a health change reaches the
// screen on the next refresh; q quits.
func TestControllerTopInTmux(t *testing.T) {
	tmux := requireTmux(t)
	bin := lvsnodeBin(t)
	// Three reads as configured, then 10.0.0.11 goes down too.
	sock := withDaemon(t, &cliRuntime{statuses: []director.Status{topStatus(""), topStatus(""), topStatus(""), topStatus("10.0.0.11")}})
	server := fmt.Sprintf("lvsnode-top-test-%d", os.Getpid())
	tm := func(args ...string) (string, error) {
		out, err := exec.Command(tmux, append([]string{"-L", server, "-f", "/dev/null"}, args...)...).CombinedOutput()
		return string(out), err
	}
	t.Cleanup(func() { tm("kill-server") })
	if out, err := tm("new-session", "-d", "-s", "top", "-x", "180", "-y", "30",
		"env", "TERM=xterm-256color", bin, "controller", "top", "--api", sock); err != nil {
		t.Fatalf("tmux new-session: %v %s", err, out)
	}
	screen := func() string { out, _ := tm("capture-pane", "-p", "-t", "top"); return out }
	waitScreen := func(what string, ok func(string) bool) string {
		t.Helper()
		var s string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if s = screen(); ok(s) {
				return s
			}
		}
		t.Fatalf("after 10 s: %s; the screen:\n%s", what, s)
		return ""
	}
	order := func(want string) func(string) bool { return func(s string) bool { return rsOrder(s) == want } }
	s := waitScreen("rows by rate", order("10.0.0.12:80=up 10.0.0.13:80=down 10.0.0.11:80=up"))
	if !strings.Contains(s, "sort: rate") || !strings.Contains(s, "REAL SERVER") || !strings.Contains(s, "tcp 10.0.0.100:80 wlc") {
		t.Errorf("screen lacks the title, header or service line:\n%s", s)
	}
	tm("send-keys", "-t", "top", "c")
	waitScreen("rows by connections after c", func(s string) bool {
		return strings.HasPrefix(rsOrder(s), "10.0.0.11:80=") && strings.HasSuffix(rsOrder(s), "10.0.0.13:80=down 10.0.0.12:80=up") && strings.Contains(s, "sort: conns")
	})
	tm("send-keys", "-t", "top", "a")
	waitScreen("rows as configured after a", func(s string) bool {
		return strings.HasPrefix(rsOrder(s), "10.0.0.11:80=") && strings.Contains(s, "sort: address")
	})
	waitScreen("10.0.0.11 down after a refresh", order("10.0.0.11:80=down 10.0.0.12:80=up 10.0.0.13:80=down"))
	tm("send-keys", "-t", "top", "q")
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if _, err := tm("has-session", "-t", "top"); err != nil {
			break // top exited, its session with it
		}
		if time.Now().After(deadline) {
			t.Fatalf("top still running 5 s after q:\n%s", screen())
		}
	}
}
