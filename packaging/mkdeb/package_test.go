package main

// The packages as Debian's tools and a user see them: lintian, dpkg
// installing into a throwaway root, systemd-analyze on the installed units,
// man on the installed pages, bash and zsh on the installed completions.
// Root and the tools are needed; without them the tests skip and say why,
// and CI (LVSNODE_REQUIRE_ROOT_TESTS=1, which installs the tools) fails
// instead of skipping.

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestMain removes the packages and the throwaway root after the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	for _, d := range debs {
		os.RemoveAll(filepath.Dir(d))
		break
	}
	if rootDir != "" {
		os.RemoveAll(rootDir)
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	debs      map[string]string // arch -> .deb
	buildErr  error
)

// packages builds both packages once, as `make deb` does.
func packages(t *testing.T) map[string]string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "lvsnode-deb-")
		if err != nil {
			buildErr = err
			return
		}
		paths, err := options{Root: "../..", Out: dir, Arches: []string{"amd64", "arm64"}}.run()
		if err != nil {
			buildErr = err
			return
		}
		debs = map[string]string{"amd64": paths[0], "arm64": paths[1]}
	})
	if buildErr != nil {
		t.Fatalf("mkdeb: %v", buildErr)
	}
	return debs
}

// need skips (or, in CI, fails) when a tool is missing or we are not root.
func need(t *testing.T, root bool, tools ...string) {
	t.Helper()
	var why []string
	if root && os.Geteuid() != 0 {
		why = append(why, "root (dpkg installs files owned by root)")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			why = append(why, tool+" (Debian: apt-get install lintian man-db systemd zsh)")
		}
	}
	if len(why) == 0 {
		return
	}
	msg := "needs " + strings.Join(why, " and ")
	if os.Getenv("LVSNODE_REQUIRE_ROOT_TESTS") == "1" {
		t.Fatal(msg + "; LVSNODE_REQUIRE_ROOT_TESTS=1 forbids skipping")
	}
	t.Skip(msg)
}

func TestLintian(t *testing.T) {
	need(t, false, "lintian")
	for arch, deb := range packages(t) {
		// The verdict, then the same run showing the overridden tag too
		// (--show-overrides counts it towards the exit status).
		out, err := exec.Command("lintian", "--fail-on", "error,warning", "--display-info", "--pedantic",
			"--tag-display-limit", "0", deb).CombinedOutput()
		if err != nil {
			t.Errorf("lintian finds errors or warnings in the %s package: %v\n%s", arch, err, out)
		}
		out, _ = exec.Command("lintian", "--display-info", "--pedantic", "--show-overrides", "--tag-display-limit", "0", deb).CombinedOutput()
		t.Logf("lintian %s:\n%s", filepath.Base(deb), out)
	}
}

// installed is the file list of the package, as dpkg -L prints it.
var installed = []string{
	"/lib/systemd/system/lvsnode-agent.service",
	"/lib/systemd/system/lvsnode-controller.service",
	"/usr/bin/lvsnode",
	"/usr/share/bash-completion/completions/lvsnode",
	"/usr/share/doc/lvsnode/changelog.gz",
	"/usr/share/doc/lvsnode/copyright",
	"/usr/share/doc/lvsnode/examples/agent.yaml",
	"/usr/share/doc/lvsnode/examples/cloud-init-tun.yaml",
	"/usr/share/doc/lvsnode/examples/cloud-init.yaml",
	"/usr/share/doc/lvsnode/examples/director.yaml",
	"/usr/share/lintian/overrides/lvsnode",
	"/usr/share/man/man8/lvsnode-agent.8.gz",
	"/usr/share/man/man8/lvsnode-controller.8.gz",
	"/usr/share/man/man8/lvsnode.8.gz",
	"/usr/share/zsh/vendor-completions/_lvsnode",
}

var (
	installOnce sync.Once
	rootDir     string
	installErr  string
)

// installRoot installs the amd64 package into a throwaway root with its
// own dpkg database; maintainer scripts run outside a chroot with
// DPKG_ROOT set (they then leave this host's systemd alone).
func installRoot(t *testing.T) string {
	t.Helper()
	need(t, true, "dpkg")
	deb := packages(t)["amd64"]
	installOnce.Do(func() {
		rootDir, installErr = newRoot(deb)
	})
	if installErr != "" {
		t.Fatal(installErr)
	}
	return rootDir
}

// newRoot makes a throwaway root with its own dpkg database and installs
// deb into it (dpkg sets DPKG_ROOT for the maintainer scripts).
func newRoot(deb string) (string, string) {
	dir, err := os.MkdirTemp("", "lvsnode-root-")
	if err != nil {
		return "", err.Error()
	}
	admin := filepath.Join(dir, "var/lib/dpkg")
	for _, d := range []string{"info", "updates"} {
		os.MkdirAll(filepath.Join(admin, d), 0o755)
	}
	os.WriteFile(filepath.Join(admin, "status"), nil, 0o644)
	os.WriteFile(filepath.Join(admin, "available"), nil, 0o644)
	if out, err := dpkgIn(dir, "-i", deb); err != nil {
		return dir, "dpkg -i: " + err.Error() + "\n" + string(out)
	}
	return dir, ""
}

// dpkgIn runs dpkg on the throwaway root dir, maintainer scripts outside a
// chroot.
func dpkgIn(dir string, args ...string) ([]byte, error) {
	args = append([]string{"--root", dir, "--admindir", filepath.Join(dir, "var/lib/dpkg"), "--force-script-chrootless"}, args...)
	return exec.Command("dpkg", args...).CombinedOutput()
}

func TestInstallsTheExpectedFiles(t *testing.T) {
	dir := installRoot(t)
	out, err := exec.Command("dpkg", "--root", dir, "--admindir", filepath.Join(dir, "var/lib/dpkg"), "-L", "lvsnode").Output()
	if err != nil {
		t.Fatalf("dpkg -L: %v", err)
	}
	var files []string
	for _, p := range strings.Fields(string(out)) {
		if fi, err := os.Stat(filepath.Join(dir, p)); err == nil && fi.Mode().IsRegular() {
			files = append(files, p)
		}
	}
	slices.Sort(files)
	if !slices.Equal(files, installed) {
		t.Errorf("installed files:\n%s\nwant:\n%s", strings.Join(files, "\n"), strings.Join(installed, "\n"))
	}
	bin := filepath.Join(dir, "usr/bin/lvsnode")
	if f, err := elf.Open(bin); err != nil {
		t.Error(err)
	} else {
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Error("/usr/bin/lvsnode is dynamically linked (want CGO_ENABLED=0)")
			}
		}
		f.Close()
	}
	if v, err := exec.Command(bin, "version").Output(); err != nil || !strings.HasPrefix(string(v), "lvsnode ") {
		t.Errorf("lvsnode version: %v\n%s", err, v)
	}
	// Installed, not enabled: nothing in /etc/systemd links to the units.
	if _, err := os.Stat(filepath.Join(dir, "etc/systemd")); err == nil {
		t.Error("installing created /etc/systemd: a unit was enabled")
	}
	// No conffile: the configs are examples (no safe default VIP list).
	if c, err := os.ReadFile(filepath.Join(dir, "var/lib/dpkg/info/lvsnode.conffiles")); err == nil && len(c) > 0 {
		t.Errorf("the package has conffiles:\n%s", c)
	}
}

// The installed units, with the installed binary and man pages: only
// ExecStart's /usr/bin prefix is rewritten to the throwaway root.
func TestSystemdAcceptsTheInstalledUnits(t *testing.T) {
	need(t, true, "systemd-analyze", "man")
	dir := installRoot(t)
	for _, name := range []string{"lvsnode-agent.service", "lvsnode-controller.service"} {
		unit, err := os.ReadFile(filepath.Join(dir, "lib/systemd/system", name))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(unit), "ExecStart=/usr/bin/lvsnode ") {
			t.Errorf("%s does not run the packaged /usr/bin/lvsnode", name)
		}
		path := filepath.Join(t.TempDir(), name)
		os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/bin/lvsnode", filepath.Join(dir, "usr/bin/lvsnode"))), 0o644)
		cmd := exec.Command("systemd-analyze", "verify", path)
		cmd.Env = append(os.Environ(), "MANPATH="+filepath.Join(dir, "usr/share/man"))
		if out, err := cmd.CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", name, err, out)
		}
	}
}

func TestManRendersEachPage(t *testing.T) {
	need(t, true, "man")
	dir := installRoot(t)
	pages, _ := filepath.Glob(filepath.Join(dir, "usr/share/man/man8/*.8.gz"))
	if len(pages) != 3 {
		t.Fatalf("man pages: %v", pages)
	}
	for _, p := range pages {
		// What lintian's manpage check runs; warnings go to stderr.
		cmd := exec.Command("man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", p)
		cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "MANWIDTH=80")
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil || stderr.Len() > 0 || len(out) < 1000 {
			t.Errorf("man -l %s: %v (%d bytes)\n%s", filepath.Base(p), err, len(out), stderr.String())
		}
	}
	// Every flag of --help is on the page (spot check: the agent's last one,
	// a controller ipvsadm flag) and every section the issue asks for.
	for page, wants := range map[string][]string{
		"lvsnode-agent.8.gz":      {"drain-min-wait", "LVSNODE_DRAIN_MIN_WAIT", "CONFIGURATION FILE", "resync-interval", "EXIT STATUS", "EXAMPLES"},
		"lvsnode-controller.8.gz": {"tun-type", "persistent", "state_file", "EXIT STATUS", "EXAMPLES"},
		"lvsnode.8.gz":            {"lvsnode version", "lvsnode-agent(8)", "EXIT STATUS"},
	} {
		cmd := exec.Command("man", "-l", filepath.Join(dir, "usr/share/man/man8", page))
		cmd.Env = append(os.Environ(), "MANWIDTH=200")
		out, _ := cmd.Output()
		text := strings.NewReplacer("\u2010", "-", "\u2212", "-").Replace(string(out))
		for _, w := range wants {
			if !strings.Contains(text, w) {
				t.Errorf("%s lacks %q", page, w)
			}
		}
	}
}

// A bash started here sources the installed script and asks its
// completion function, as bash does on TAB, for `lvsnode controller add-`.
func TestBashCompletesAddNode(t *testing.T) {
	need(t, true, "bash")
	dir := installRoot(t)
	script := filepath.Join(dir, "usr/share/bash-completion/completions/lvsnode")
	complete := func(words ...string) string {
		t.Helper()
		prog := `source "$1"; shift
fn=$(complete -p lvsnode | sed -n 's/.*-F \([^ ]*\) .*/\1/p')
COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
"$fn" lvsnode "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"`
		out, err := exec.Command("bash", append([]string{"--norc", "--noprofile", "-c", prog, "bash", script}, words...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := complete("lvsnode", "controller", "add-"); got != "add-node\nadd-service" {
		t.Errorf("lvsnode controller add-<TAB>: %q, want add-node and add-service", got)
	}
	if got := complete("lvsnode", "controller", "add-n"); got != "add-node" {
		t.Errorf("lvsnode controller add-n<TAB>: %q, want add-node", got)
	}
	if got := complete("lvsnode", "agent", "apply", "--dr"); got != "--drain-min-wait\n--drain-on-stop\n--drain-timeout" {
		t.Errorf("lvsnode agent apply --dr<TAB>: %q", got)
	}
	if got := complete("lvsnode", "controller", "add-node", "-t", "10.0.0.1:80", "--tun-t"); got != "--tun-type" {
		t.Errorf("lvsnode controller add-node -t 10.0.0.1:80 --tun-t<TAB>: %q, want --tun-type", got)
	}
	// --help on a leaf command; an enumerated flag's values, not file names.
	for _, c := range []struct{ words, want string }{
		{"lvsnode agent apply --he", "--help"},
		{"lvsnode agent apply --mode ", "dr\ntun\nnat"},
		{"lvsnode agent apply --tun-type g", "gue\ngre"},
		{"lvsnode controller add-service -t 10.0.0.1:80 -s w", "wrr\nwlc"},
		{"lvsnode controller add-node -t 10.0.0.1:80 --tun-type ", "ipip\ngue\ngre"},
	} {
		words := strings.Split(c.words, " ")
		if got := complete(words...); got != c.want {
			t.Errorf("%s<TAB>: %q, want %q", c.words, got, c.want)
		}
	}
}

// zsh: the installed script, with compsys's _describe and _files replaced
// by stand-ins that print what they were offered.
func TestZshCompletesAddNode(t *testing.T) {
	need(t, true, "zsh")
	dir := installRoot(t)
	script := filepath.Join(dir, "usr/share/zsh/vendor-completions/_lvsnode")
	prog := `_describe() { print -l -- ${(P)4} }
_files() { print FILES }
words=(lvsnode controller add-) CURRENT=3
source "$1"`
	out, err := exec.Command("zsh", "-f", "-c", prog, "zsh", script).CombinedOutput()
	if err != nil {
		t.Fatalf("zsh: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "\nadd-node:") && !strings.HasPrefix(string(out), "add-node:") {
		t.Errorf("zsh offers for `lvsnode controller add-`:\n%s", out)
	}
}
