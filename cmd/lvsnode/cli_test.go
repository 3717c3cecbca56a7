package main

// The binary as a user runs it, in a fresh network namespace (root only).

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// lvsnodeBin builds the static binary once, into a directory anyone may
// execute from (the not-root test runs it as nobody).
func lvsnodeBin(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "lvsnode-bin-")
		if err != nil {
			buildErr = err
			return
		}
		_ = os.Chmod(dir, 0o755)
		binPath = filepath.Join(dir, "lvsnode")
		cmd := exec.Command("go", "build", "-o", binPath, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("build lvsnode: %v", buildErr)
	}
	return binPath
}

type result struct {
	code           int
	stdout, stderr string
}

func run(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := exec.Command(lvsnodeBin(t), args...)
	cmd.Env = append(os.Environ(), env...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return result{code, o.String(), e.String()}
}

func ip(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func readSys(t *testing.T, key string) string {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/net/ipv4/conf/" + strings.ReplaceAll(key, ".", "/"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// snapshot is everything the agent could change, as the oracles see it.
func snapshot(t *testing.T, stateFile string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(ip(t, "-d", "addr", "show"))
	b.WriteString(ip(t, "route", "show", "table", "all"))
	b.WriteString(ip(t, "-6", "route", "show", "table", "all"))
	b.WriteString(ip(t, "link", "show"))
	for _, k := range []string{"all.arp_ignore", "all.arp_announce", "lo.arp_ignore", "lo.arp_announce"} {
		b.WriteString(k + "=" + readSys(t, k) + "\n")
	}
	if _, err := os.Stat(stateFile); err == nil {
		b.WriteString("state file exists\n")
	}
	return b.String()
}
