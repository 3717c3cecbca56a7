package examples_test

import (
	"os"
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
	if !cfg.Sync.Enabled() {
		t.Error("the example has no sync: block")
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
	if strings.Contains(string(unit), "\nProtectKernelTunables=yes") {
		t.Error("ProtectKernelTunables=yes makes /proc/sys read-only: the daemon could not set net.ipv4.vs.* and accept_local")
	}
	checkPathsMayBeMissing(t, string(unit))
	verifyUnit(t, "lvsnode-controller.service", unit)
}
