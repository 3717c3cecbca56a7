// Package netnstest runs a test in a fresh network namespace of the local
// kernel: the test binary re-executes itself for that one test with
// CLONE_NEWNET, so addresses, routes and /proc/sys/net are private to it and
// nothing leaks onto the machine running the tests.
//
//	func TestX(t *testing.T) {
//		if !netnstest.Enter(t) {
//			return // the parent: the child ran the test and reported
//		}
//		... // in the fresh namespace, lo up
//	}
//
// Without root the test skips with a message, unless
// LVSNODE_REQUIRE_ROOT_TESTS=1 (CI), where it fails instead: CI must run
// the integration tier, never skip it silently.
package netnstest

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"
)

const childEnv = "LVSNODE_NETNS_TEST"

// Enter reports whether the caller is inside the fresh namespace and should
// run the test body. In the parent it runs the child and returns false.
func Enter(t *testing.T) bool {
	t.Helper()
	if os.Getenv(childEnv) == t.Name() {
		lo, err := netlink.LinkByName("lo")
		if err == nil {
			err = netlink.LinkSetUp(lo)
		}
		if err != nil {
			t.Fatalf("bring lo up in the test namespace: %v", err)
		}
		return true
	}
	RequireRoot(t)
	if strings.Contains(t.Name(), "/") {
		t.Fatalf("netnstest: call Enter from a top-level test, not %s", t.Name())
	}
	args := []string{"-test.run=^" + t.Name() + "$", "-test.count=1", "-test.v"}
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), childEnv+"="+t.Name())
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	text := out.String()
	if err != nil {
		t.Fatalf("in a fresh netns: %v\n%s", err, text)
	}
	if !strings.Contains(text, "--- PASS: "+t.Name()) {
		t.Fatalf("the child did not run %s:\n%s", t.Name(), text)
	}
	t.Logf("ran in a fresh network namespace:\n%s", indent(text))
	return false
}

// RequireRoot skips (or, under LVSNODE_REQUIRE_ROOT_TESTS=1, fails) when
// the process cannot create network namespaces.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() == 0 {
		return
	}
	msg := "needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) to create a network namespace; run as root: sudo make test"
	if os.Getenv("LVSNODE_REQUIRE_ROOT_TESTS") == "1" {
		tb.Fatal(msg + " (LVSNODE_REQUIRE_ROOT_TESTS=1 forbids skipping)")
	}
	tb.Skip(msg)
}

// InNetns tells a benchmark whether it already runs in a private namespace
// (make bench starts it under `unshare -n`); see RequireNetnsForBench.
func InNetns() bool { return os.Getenv("LVSNODE_BENCH_NETNS") == "1" }

// RequireNetnsForBench skips a benchmark that would change the host's own
// network namespace.
func RequireNetnsForBench(b *testing.B) {
	b.Helper()
	RequireRoot(b)
	if !InNetns() {
		b.Skip("changes addresses and sysctls: run it in a fresh netns with `make bench`")
	}
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}
