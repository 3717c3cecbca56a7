package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/internal/netnstest"
)

func TestAgentBadInputChangesNothing(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	malformed := filepath.Join(dir, "bad.yaml")
	os.WriteFile(malformed, []byte("vips:\n  - 10.0.0.100\n  - [oops\n"), 0o644)
	badVIP := filepath.Join(dir, "badvip.yaml")
	os.WriteFile(badVIP, []byte("mode: dr\nvips:\n  - 10.0.0.100\n  - 10.0.0.256\n"), 0o644)
	unreadable := filepath.Join(dir, "missing.yaml")

	cases := []struct {
		name  string
		args  []string
		code  int
		want  string
		verbs []string // default apply and run
	}{
		{"address out of range", []string{"--vip", "10.0.0.300"}, 2, `--vip: VIP "10.0.0.300" is not an IP address`, nil},
		{"prefix", []string{"--vip", "10.0.0.0/24"}, 2, `is a prefix: give a single address`, nil},
		{"limited broadcast", []string{"--vip", "255.255.255.255"}, 2, `--vip: VIP "255.255.255.255" is in 240.0.0.0/4`, nil},
		{"this network", []string{"--vip", "0.0.0.1"}, 2, `--vip: VIP "0.0.0.1" is in 0.0.0.0/8`, nil},
		{"unknown mode", []string{"--vip", "10.0.0.100", "--mode", "fullnat"}, 2, `--mode: unknown mode "fullnat"`, nil},
		{"unreadable config", []string{"--config", unreadable}, 2, "no such file", nil},
		{"malformed config", []string{"--config", malformed}, 2, "bad.yaml:3:", nil},
		{"bad VIP in config", []string{"--config", badVIP}, 2, `badvip.yaml:4: VIP "10.0.0.256"`, nil},
		{"good VIP after a bad one", []string{"--vip", "10.0.0.100", "--vip", "nope"}, 2, `VIP "nope"`, nil},
		// The daemon waits for a missing NIC (not ready, retrying); apply refuses.
		{"missing interface", []string{"--vip", "10.0.0.100", "--interface", "eth9"}, 1, "eth9", []string{"apply"}},
	}
	before := snapshot(t, state)
	for _, tc := range cases {
		verbs := tc.verbs
		if verbs == nil {
			verbs = []string{"apply", "run"}
		}
		for _, verb := range verbs {
			args := append([]string{"agent", verb, "--state-file", state}, tc.args...)
			r := run(t, nil, args...)
			if r.code != tc.code {
				t.Errorf("%s/%s: exit %d, want %d (stderr %q)", tc.name, verb, r.code, tc.code, r.stderr)
			}
			lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "lvsnode: ") || !strings.Contains(lines[0], tc.want) {
				t.Errorf("%s/%s: stderr %q, want one line with %q", tc.name, verb, r.stderr, tc.want)
			}
			if after := snapshot(t, state); after != before {
				t.Fatalf("%s/%s changed the system:\nbefore:\n%s\nafter:\n%s", tc.name, verb, before, after)
			}
		}
	}
}

func TestAgentRefusesWithoutNetAdmin(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	dir, _ := os.MkdirTemp("", "lvsnode-nobody-")
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o777)
	state := filepath.Join(dir, "state.json")
	before := snapshot(t, state)
	cmd := commandAs(t, 65534, "agent", "apply", "--vip", "10.0.0.100", "--state-file", state)
	out, err := cmd.CombinedOutput()
	if err == nil || cmd.ProcessState.ExitCode() != 2 {
		t.Fatalf("as nobody: err %v, output %q", err, out)
	}
	if !strings.Contains(string(out), "needs CAP_NET_ADMIN") {
		t.Fatalf("output %q does not say CAP_NET_ADMIN is needed", out)
	}
	if snapshot(t, state) != before {
		t.Fatal("changed the system without privileges")
	}
}

func TestAgentApplyStatusTeardownAsAUserWould(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	state := filepath.Join(t.TempDir(), "state.json")
	sf := "--state-file=" + state
	// The environment carries the VIPs, as cloud-init's unit would.
	if r := run(t, []string{"LVSNODE_VIP=10.0.0.100,fd00::100"}, "agent", "apply", sf); r.code != 0 {
		t.Fatalf("apply: %d %s", r.code, r.stderr)
	}
	if r := run(t, nil, "agent", "apply", sf, "--vip", "10.0.0.100", "--vip", "fd00::100"); r.code != 0 || !strings.Contains(r.stdout, "nothing to change") {
		t.Fatalf("second apply: %d %q", r.code, r.stdout)
	}
	r := run(t, nil, "agent", "status", sf, "--json")
	var st struct {
		OK    bool `json:"ok"`
		Items []struct {
			Kind, Name string
			OK         bool
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil || r.code != 0 || !st.OK || len(st.Items) != 8 {
		t.Fatalf("status --json: %d %v %q", r.code, err, r.stdout)
	}
	ip(t, "addr", "del", "10.0.0.100/32", "dev", "lo")
	if r := run(t, nil, "agent", "status", sf); r.code != 1 || !strings.Contains(r.stdout, "DRIFT") {
		t.Fatalf("status after drift: %d %q", r.code, r.stdout)
	}
	if r := run(t, nil, "agent", "apply", sf, "--vip", "10.0.0.100", "--vip", "fd00::100"); r.code != 0 || !strings.Contains(r.stdout, "added address 10.0.0.100/32") {
		t.Fatalf("repairing apply: %d %q", r.code, r.stdout)
	}
	if r := run(t, nil, "agent", "teardown", sf); r.code != 0 || !strings.Contains(r.stdout, "restored net.ipv4.conf.all.arp_ignore=0") {
		t.Fatalf("teardown: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if got := ip(t, "addr", "show", "dev", "lo"); strings.Contains(got, "10.0.0.100") || strings.Contains(got, "fd00::100") {
		t.Fatalf("teardown left VIPs:\n%s", got)
	}
	if r := run(t, nil, "agent", "status", sf); r.code != 1 || !strings.Contains(r.stderr, "no state file") {
		t.Fatalf("status after teardown: %d %q", r.code, r.stderr)
	}
}

// Fault 10 of issue 7: a bad flag or environment value printed a 28-line
// help dump and exited 1; the README promises one line and exit 2.
func TestAgentBadFlagOrEnvIsOneLineExit2(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	state := filepath.Join(t.TempDir(), "state.json")
	before := snapshot(t, state)
	sf := "--state-file=" + state
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"agent", "apply", sf, "--bogus"}, "flag provided but not defined: -bogus"},
		{nil, []string{"agent", "run", sf, "--vip", "10.0.0.1", "--resync-interval", "soon"}, "invalid value"},
		{[]string{"LVSNODE_RESYNC_INTERVAL=abc"}, []string{"agent", "run", sf, "--vip", "10.0.0.1"}, "LVSNODE_RESYNC_INTERVAL"},
		{[]string{"LVSNODE_TEARDOWN_ON_STOP=maybe"}, []string{"agent", "run", sf, "--vip", "10.0.0.1"}, "LVSNODE_TEARDOWN_ON_STOP"},
		{nil, []string{"agent", "run", sf, "--vip", "10.0.0.1", "--resync-interval", "1ns"}, "--resync-interval: 1ns is below"},
		{[]string{"LVSNODE_RESYNC_INTERVAL=50ms"}, []string{"agent", "run", sf, "--vip", "10.0.0.1"}, "50ms is below"},
		{[]string{"LVSNODE_VIP=10.0.0.1,255.255.255.255"}, []string{"agent", "apply", sf}, "LVSNODE_VIP: "},
		{[]string{"LVSNODE_MODE=nat", "LVSNODE_GATEWAY=10.0.0.2,10.0.0.3"}, []string{"agent", "apply", sf}, "LVSNODE_GATEWAY: "},
		{[]string{"LVSNODE_MODE=dr", "LVSNODE_TUN_TYPE=gue"}, []string{"agent", "apply", sf, "--vip", "10.0.0.1"}, "LVSNODE_TUN_TYPE: tun-type \"gue\" applies to mode tun only"},
		{[]string{"LVSNODE_MODE=tunnel"}, []string{"agent", "apply", sf, "--vip", "10.0.0.1"}, "LVSNODE_MODE: "},
		{nil, []string{"agent", "status", sf, "--json=perhaps"}, "invalid"},
		{nil, []string{"agent", "--bogus"}, "flag provided but not defined"},
		{nil, []string{"--bogus"}, "flag provided but not defined"},
		{nil, []string{"controller", "list", "--bogus"}, "flag provided but not defined"},
		// etcd refuses these transactions: refused at start, not retried for ever (issue 12 review)
		{nil, []string{"agent", "run", sf, "--vip", "10.0.0.1", "--register-endpoint", "http://127.0.0.1:1", "--register-address", "10.0.1.11",
			"--register-service", "tcp 10.0.0.1:80", "--register-service", "tcp 10.0.0.1:80 weight=3"}, `--register-service: register.services "tcp 10.0.0.1:80 weight=3": the same registration as "tcp 10.0.0.1:80"`},
		{[]string{"LVSNODE_REGISTER_SERVICE=" + manyServices(129)}, []string{"agent", "run", sf, "--vip", "10.0.0.1", "--register-endpoint", "http://127.0.0.1:1",
			"--register-address", "10.0.1.11"}, "LVSNODE_REGISTER_SERVICE: register.services: 129 services, at most 128"},
	} {
		r := runBounded(t, tc.env, tc.args...)
		lines := strings.Split(strings.TrimRight(r.stderr+r.stdout, "\n"), "\n")
		if r.code != 2 || len(lines) != 1 || !strings.HasPrefix(lines[0], "lvsnode: ") || !strings.Contains(lines[0], tc.want) {
			t.Errorf("%v %v: exit %d, output %q; want exit 2 and one line with %q", tc.env, tc.args, r.code, r.stderr+r.stdout, tc.want)
		}
	}
	if after := snapshot(t, state); after != before {
		t.Fatalf("changed the system:\n%s\n%s", before, after)
	}
	help := run(t, nil, "agent", "run", "--help").stdout
	if strings.Count(help, "default") == 0 || strings.Contains(help, "(default 10s) (default:") {
		t.Errorf("help repeats the default:\n%s", help)
	}
	if !strings.Contains(help, "(default: 10s)") {
		t.Errorf("help does not give the resync default once:\n%s", help)
	}
}

// runBounded is run with a deadline, for commands that must refuse at once
// (before a fix, `agent run` would start the daemon and never return). The
// bound catches a daemon that started; it is generous because a loaded CI
// machine running every package at once took over 5 s to exec one command.
func runBounded(t *testing.T, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, lvsnodeBin(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		e.WriteString(" (killed after 5s: did not refuse at once)")
	}
	return result{code, o.String(), e.String()}
}

// manyServices is n distinct register services, comma-separated.
func manyServices(n int) string {
	var s []string
	for i := range n {
		s = append(s, fmt.Sprintf("tcp 10.0.0.1:%d", 1000+i))
	}
	return strings.Join(s, ",")
}
