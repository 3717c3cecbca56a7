// Package examples_test keeps the shipped examples true: the cloud-init
// user data parses, installs the lvsnode package and then enables its
// unit, its agent config is valid, and systemd accepts the units.
package examples_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/lvsnode/lvsnode/agent"

	"github.com/lvsnode/lvsnode/internal/testcert"
)

// cloudConfigKeys are the top-level cloud-config keys this example may use
// (cloud-init's modules cc_write_files and cc_runcmd).
var cloudConfigKeys = map[string]bool{"write_files": true, "runcmd": true}

type userData struct {
	WriteFiles []struct {
		Path        string `yaml:"path"`
		Permissions string `yaml:"permissions"`
		Content     string `yaml:"content"`
	} `yaml:"write_files"`
	RunCmd [][]string `yaml:"runcmd"`
}

func TestCloudInitUserData(t *testing.T) {
	for _, name := range []string{"cloud-init.yaml", "cloud-init-tun.yaml", "cloud-init-register.yaml"} {
		t.Run(name, func(t *testing.T) { checkUserData(t, name) })
	}
}

func checkUserData(t *testing.T, name string) {
	raw, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(raw), "#cloud-config\n") {
		t.Fatal("cloud-init only treats user data as cloud-config with a #cloud-config first line")
	}
	var top map[string]any
	if err := yaml.Unmarshal(raw, &top); err != nil {
		t.Fatalf("%s does not parse: %v", name, err)
	}
	for k := range top {
		if !cloudConfigKeys[k] {
			t.Errorf("unexpected top-level key %q", k)
		}
	}
	var ud userData
	if err := yaml.Unmarshal(raw, &ud); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	files := map[string]string{}
	for _, f := range ud.WriteFiles {
		files[f.Path] = f.Content
	}
	if _, ok := files["/etc/systemd/system/lvsnode-agent.service"]; ok {
		t.Errorf("%s writes the unit: the package ships it in /lib/systemd/system, and a copy in /etc would override it and go stale", name)
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(cfg, []byte(secretsIn(t, dir, files["/etc/lvsnode/agent.yaml"])), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := agent.LoadFile(cfg)
	var o agent.Options
	if err == nil {
		o, err = c.Options()
	}
	if err != nil {
		t.Errorf("embedded agent.yaml: %v", err)
	}
	if strings.Contains(name, "-tun") && (o.Mode != agent.ModeTUN || o.TunType != agent.TunGUE || o.TunPort == 0) {
		t.Errorf("%s: want a TUN (gue) real server, got mode %q type %q port %d", name, o.Mode, o.TunType, o.TunPort)
	}
	if strings.Contains(name, "-register") && (o.Register == nil || len(o.Register.Services) == 0 || !o.Drain.OnStop) {
		t.Errorf("%s: want a real server that registers itself (register:) and drains on stop, got %+v", name, o.Register)
	}
	install, enable := -1, -1
	for i, cmd := range ud.RunCmd {
		switch {
		case strings.Join(cmd, " ") == "systemctl enable --now lvsnode-agent.service":
			enable = i
		case len(cmd) == 3 && cmd[0] == "sh" && cmd[1] == "-c" && strings.Contains(cmd[2], "apt-get install"):
			install = i
			checkInstallScript(t, cmd[2])
		}
	}
	if install < 0 {
		t.Error("runcmd does not install the lvsnode package")
	}
	if enable < 0 {
		t.Error("runcmd does not enable the unit")
	} else if enable < install {
		t.Error("runcmd enables the unit before the package that ships it is installed")
	}
}

// checkInstallScript runs the user data's install script with stand-ins
// for curl, dpkg and apt-get on PATH (and a scratch directory for /run):
// it must fetch lvsnode_VERSION_ARCH.deb, the name `make deb` gives the
// package, from the URL the user names, and install that file with apt-get.
func checkInstallScript(t *testing.T, script string) {
	t.Helper()
	dir := t.TempDir()
	stub := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	log := filepath.Join(dir, "log")
	stub("dpkg", `[ "$1" = --print-architecture ] && echo arm64`)
	stub("curl", `while [ $# -gt 1 ]; do [ "$1" = -o ] && out=$2; shift; done; echo "curl $1" >>`+log+`; echo deb > "$out"`)
	stub("apt-get", `echo "apt-get $*" >>`+log+`; [ -f "$3" ] || echo "apt-get: $3 is missing" >>`+log)
	cmd := exec.Command("sh", "-c", strings.ReplaceAll(script, "/run/", dir+"/"))
	cmd.Env = append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("install script: %v\n%s", err, out)
	}
	got, _ := os.ReadFile(log)
	want := "curl https://artifacts.example.internal/lvsnode/lvsnode_0.1.0_arm64.deb\n" +
		"apt-get install -y " + dir + "/lvsnode_0.1.0_arm64.deb\n"
	if string(got) != want {
		t.Errorf("install script ran\n%swant\n%s", got, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "lvsnode_0.1.0_arm64.deb")); err == nil {
		t.Error("install script leaves the .deb behind")
	}
}

func TestSystemdAcceptsTheUnit(t *testing.T) {
	unit, err := os.ReadFile("lvsnode-agent.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Type=notify", "WatchdogSec=", "Restart=on-failure", "CapabilityBoundingSet=CAP_NET_ADMIN", "ProtectSystem=strict"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %s", want)
		}
	}
	if strings.Contains(string(unit), "\nProtectKernelTunables=yes") {
		t.Error("ProtectKernelTunables=yes makes /proc/sys read-only: the agent could not set the ARP sysctls")
	}
	checkStopCoversDrain(t, string(unit))
	checkPathsMayBeMissing(t, string(unit))
	verifyUnit(t, "lvsnode-agent.service", unit)
}

// verifyUnit runs systemd-analyze verify on a shipped unit. verify checks
// that ExecStart exists: point it at a stand-in binary (only the path
// changes; every other line is checked as shipped). The man pages of
// Documentation= are the package's: --man=no here, and packaging's test
// verifies the installed units with those pages.
func verifyUnit(t *testing.T, name string, unit []byte) {
	t.Helper()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatal("systemd-analyze is needed to check the unit (Debian: apt-get install systemd)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "lvsnode")
	os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755)
	path := filepath.Join(dir, name)
	os.WriteFile(path, []byte(strings.ReplaceAll(string(unit), "/usr/bin/lvsnode", bin)), 0o644)
	out, err := exec.Command(analyze, "verify", "--man=no", path).CombinedOutput()
	if err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify %s: %v\n%s", name, err, out)
	}
}

// checkPathsMayBeMissing: a path in ReadWritePaths= (and the other
// namespace path lists) that does not exist fails the start with
// 226/NAMESPACE unless it has the "-" prefix (systemd.exec(5)); only the
// directories systemd itself creates for the unit (StateDirectory=,
// RuntimeDirectory=, ConfigurationDirectory=) always exist. Example:
// /proc/sys/net/ipv4/vs exists only once ip_vs is loaded.
func checkPathsMayBeMissing(t *testing.T, unit string) {
	t.Helper()
	made := map[string]bool{}
	base := map[string]string{"StateDirectory": "/var/lib/", "RuntimeDirectory": "/run/", "ConfigurationDirectory": "/etc/",
		"CacheDirectory": "/var/cache/", "LogsDirectory": "/var/log/"}
	for _, l := range strings.Split(unit, "\n") {
		k, v, _ := strings.Cut(l, "=")
		if b, ok := base[k]; ok {
			for _, d := range strings.Fields(v) {
				made[b+d] = true
			}
		}
	}
	for _, l := range strings.Split(unit, "\n") {
		k, v, _ := strings.Cut(l, "=")
		switch k {
		case "ReadWritePaths", "ReadOnlyPaths", "InaccessiblePaths", "ExecPaths", "NoExecPaths":
		default:
			continue
		}
		for _, p := range strings.Fields(v) {
			if !strings.HasPrefix(p, "-") && !made[p] {
				t.Errorf("%s=%s: without \"-\" a missing %s fails the start (226/NAMESPACE)", k, p, p)
			}
		}
	}
}

// checkStopCoversDrain: with drain.on-stop, SIGTERM drains for up to
// drain.timeout; systemd kills the service at TimeoutStopSec, VIPs bound
// and clients cut, unless that is longer (examples/agent.yaml's timeout).
func checkStopCoversDrain(t *testing.T, unit string) {
	t.Helper()
	c, err := agent.LoadFile("agent.yaml")
	var o agent.Options
	if err == nil {
		o, err = c.Options()
	}
	if err != nil {
		t.Fatalf("agent.yaml: %v", err)
	}
	if !o.Drain.OnStop {
		return
	}
	var stop string
	for _, l := range strings.Split(unit, "\n") {
		if v, ok := strings.CutPrefix(l, "TimeoutStopSec="); ok {
			stop = v
		}
	}
	if stop == "" {
		t.Fatalf("agent.yaml drains on stop for up to %s, but the unit has no TimeoutStopSec (systemd's default is 90s)", o.Drain.Timeout)
	}
	d, err := systemdSpan(stop)
	if err != nil {
		t.Fatalf("TimeoutStopSec=%s: %v", stop, err)
	}
	if d <= o.Drain.Timeout {
		t.Errorf("TimeoutStopSec=%s does not cover agent.yaml's drain timeout %s: systemd would kill the agent mid-drain", stop, o.Drain.Timeout)
	}
}

// systemdSpan parses the time spans this unit uses (systemd.time(7)):
// "90", "90s", "6min", "1h 30min".
func systemdSpan(s string) (time.Duration, error) {
	var total time.Duration
	for _, f := range strings.Fields(s) {
		num := strings.TrimRightFunc(f, func(r rune) bool { return r < '0' || r > '9' })
		unit := f[len(num):]
		mult := map[string]time.Duration{"": time.Second, "s": time.Second, "sec": time.Second, "m": time.Minute, "min": time.Minute, "h": time.Hour, "hr": time.Hour}[unit]
		var n int
		if _, err := fmt.Sscan(num, &n); err != nil || mult == 0 {
			return 0, fmt.Errorf("unsupported time span %q", f)
		}
		total += time.Duration(n) * mult
	}
	return total, nil
}

// secretsIn stands in for the files an agent.yaml names that the operator
// provides on the machine (the etcd CA, the password file): the agent
// checks them at start, so each /etc/lvsnode/*.pem or *.password the
// config names is made in dir (a real self-signed CA, a 0600 password)
// and the config is pointed at it.
func secretsIn(t *testing.T, dir, conf string) string {
	t.Helper()
	for _, f := range strings.Fields(conf) {
		if !strings.HasPrefix(f, "/etc/lvsnode/") || f == "/etc/lvsnode/agent.yaml" {
			continue
		}
		local := filepath.Join(dir, filepath.Base(f))
		switch {
		case strings.HasSuffix(f, ".pem"):
			ca, _ := testcert.SelfSigned(t, "etcd-ca")
			os.WriteFile(local, ca, 0o644)
		case strings.HasSuffix(f, ".password"):
			os.WriteFile(local, []byte("secret\n"), 0o600)
		default:
			continue
		}
		conf = strings.ReplaceAll(conf, f, local)
	}
	return conf
}
