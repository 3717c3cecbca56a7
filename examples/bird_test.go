package examples_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The BIRD examples for an active-active group parse (bird -p), and keep
// what makes them safe: the VIP starts withdrawn on a director, BFD, and
// the router merges the directors' paths into one multipath route.
func TestBirdExamples(t *testing.T) {
	bird, err := exec.LookPath("bird")
	if err != nil {
		msg := "bird is not installed (Debian: apt-get install bird2): the BIRD examples are not checked"
		if os.Getenv("LVSNODE_REQUIRE_TOOLS") == "1" {
			t.Fatal(msg + " (LVSNODE_REQUIRE_TOOLS=1 forbids skipping; make pkgtools installs it)")
		}
		t.Skip(msg)
	}
	for file, wants := range map[string][]string{
		"bird/director.conf": {"protocol static vip", "disabled yes;", "bfd on;", "next hop self;"},
		"bird/router.conf":   {"merge paths on;", "bfd on;"},
	} {
		out, err := exec.Command(bird, "-p", "-c", file).CombinedOutput()
		if err != nil {
			t.Errorf("bird -p -c %s: %v: %s", file, err, out)
		}
		text := readFile(t, file)
		for _, w := range wants {
			if !strings.Contains(text, w) {
				t.Errorf("%s lacks %q", file, w)
			}
		}
	}
	if s := readFile(t, "bird/lvsnode-announce"); !strings.Contains(s, "/readyz") || !strings.Contains(s, "disable vip") {
		t.Error("lvsnode-announce does not withdraw the VIP on a failed /readyz")
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The announcer's unit is valid (systemd-analyze verify, beside a stub of
// the controller's unit it binds to) and withdraws the VIP when it stops.
func TestAnnounceUnit(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze is needed to check the unit (Debian: apt-get install systemd)")
	}
	unit := readFile(t, "bird/lvsnode-announce.service")
	for _, w := range []string{"BindsTo=lvsnode-controller.service", "ExecStopPost=-/usr/sbin/birdc", "disable vip", "/readyz"} {
		if !strings.Contains(unit, w) {
			t.Errorf("unit lacks %q", w)
		}
	}
	dir := t.TempDir()
	stub := filepath.Join(dir, "stub")
	os.WriteFile(stub, []byte("#!/bin/sh\n"), 0o755)
	unit = strings.NewReplacer("/usr/local/sbin/lvsnode-announce", stub, "/usr/sbin/birdc", stub).Replace(unit)
	os.WriteFile(filepath.Join(dir, "lvsnode-controller.service"), []byte("[Unit]\nDescription=stub\n[Service]\nExecStart="+stub+"\n"), 0o644)
	path := filepath.Join(dir, "lvsnode-announce.service")
	os.WriteFile(path, []byte(unit), 0o644)
	out, err := exec.Command(analyze, "verify", "--man=no", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
