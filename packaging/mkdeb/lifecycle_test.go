package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// An operator enables the agent (systemctl enable makes the WantedBy=
// link), then purges the package: the link must go with the unit, not
// dangle in /etc/systemd/system.
func TestPurgeRemovesEnableLinks(t *testing.T) {
	need(t, true, "dpkg", "deb-systemd-helper")
	dir, errText := newRoot(packages(t)["amd64"])
	if dir != "" {
		defer os.RemoveAll(dir)
	}
	if errText != "" {
		t.Fatal(errText)
	}
	wants := filepath.Join(dir, "etc/systemd/system/multi-user.target.wants")
	os.MkdirAll(wants, 0o755)
	var links []string
	for _, u := range []string{"lvsnode-agent.service", "lvsnode-controller.service"} {
		l := filepath.Join(wants, u)
		if err := os.Symlink("/lib/systemd/system/"+u, l); err != nil {
			t.Fatal(err)
		}
		links = append(links, l)
	}
	if out, err := dpkgIn(dir, "--purge", "lvsnode"); err != nil {
		t.Fatalf("dpkg --purge: %v\n%s", err, out)
	}
	for _, l := range links {
		if _, err := os.Lstat(l); err == nil {
			t.Errorf("after purge %s is still there (dangling)", strings.TrimPrefix(l, dir))
		}
	}
}

// README's install steps, run on a fresh install (no /etc/lvsnode yet)
// with its absolute paths moved into the throwaway root: each config
// lands in /etc/lvsnode, mode 0644.
func TestREADMEInstallSteps(t *testing.T) {
	dir := installRoot(t)
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(dir, "etc/lvsnode"))
	var steps []string
	for _, line := range strings.Split(string(readme), "\n") {
		if strings.Contains(line, "/usr/share/doc/lvsnode/examples/") && strings.Contains(line, " /etc/lvsnode/") {
			line = strings.NewReplacer(" /usr/", " "+dir+"/usr/", " /etc/", " "+dir+"/etc/").Replace(line)
			steps = append(steps, line)
		}
	}
	if len(steps) < 2 {
		t.Fatalf("README has %d steps copying an example to /etc/lvsnode, want agent.yaml and director.yaml", len(steps))
	}
	for _, s := range steps {
		if out, err := exec.Command("sh", "-ec", s).CombinedOutput(); err != nil {
			t.Errorf("README step %q on a fresh install: %v\n%s", s, err, out)
		}
	}
	for _, f := range []string{"agent.yaml", "director.yaml"} {
		fi, err := os.Stat(filepath.Join(dir, "etc/lvsnode", f))
		if err != nil || fi.Mode().Perm() != 0o644 {
			t.Errorf("/etc/lvsnode/%s after README's steps: %v", f, err)
		}
	}
}
