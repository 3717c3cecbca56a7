package examples

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lvsnode/lvsnode/director"
)

// The example config is valid as shipped (every key documented there parses).
func TestDirectorExampleIsValid(t *testing.T) {
	cfg, err := director.LoadConfig("director.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Services) == 0 {
		t.Fatal("the example has no service")
	}
}

func TestSystemdAcceptsTheControllerUnit(t *testing.T) {
	unit, err := os.ReadFile("lvsnode-controller.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Type=notify", "WatchdogSec=", "ExecReload=", "RestartPreventExitStatus=2", "controller run --config"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %s", want)
		}
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze is needed to check the unit (Debian: apt-get install systemd)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "lvsnode")
	os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755)
	path := filepath.Join(dir, "lvsnode-controller.service")
	os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/local/bin/lvsnode", bin)), 0o644)
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
