package main

import (
	"os"
	"strings"
	"testing"
)

// `make pkgtools` installs every tool these tests and the examples' unit
// checks need (need(...) and examples' verifyUnit: systemd-analyze).
func TestPkgtoolsInstallsEveryTool(t *testing.T) {
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	_, rule, ok := strings.Cut(string(mk), "\npkgtools:\n")
	if !ok {
		t.Fatal("Makefile has no pkgtools rule")
	}
	rule, _, _ = strings.Cut(rule, "\n\n")
	_, install, _ := strings.Cut(rule, "apt-get install")
	install, _, _ = strings.Cut(install, ">")
	for tool, pkg := range map[string]string{"lintian": "lintian", "man": "man-db", "zsh": "zsh", "systemd-analyze": "systemd"} {
		if !strings.Contains(rule, "command -v "+tool+" ") {
			t.Errorf("make pkgtools does not check for %s", tool)
		}
		if !strings.Contains(" "+install+" ", " "+pkg+" ") {
			t.Errorf("make pkgtools does not install %s (for %s)", pkg, tool)
		}
	}
}
