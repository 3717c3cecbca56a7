package main

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/lvsnode/lvsnode/ipvs"
	"github.com/lvsnode/lvsnode/sysctl"
)

// ctlRun runs "lvsnode controller ARGS..." against fake, as main would.
func ctlRun(t *testing.T, fake *ipvs.Fake, args ...string) (string, int) {
	t.Helper()
	ctlOpen = func() (ipvs.Client, error) { return fake, nil }
	ctlSysctl = sysctl.NewFake(map[string]string{"net.ipv4.ip_forward": "1", "net.ipv6.conf.all.forwarding": "1"})
	var out bytes.Buffer
	app := &cli.App{
		Name: "lvsnode", Commands: []*cli.Command{controllerCommand()},
		Writer: &out, ErrWriter: &out, ExitErrHandler: exitErrHandler,
	}
	err := app.Run(ctlPersistentArgs(append([]string{"lvsnode", "controller"}, args...)))
	if err != nil {
		if msg := err.Error(); msg != "" { // as main prints it
			out.WriteString("lvsnode: " + msg + "\n")
		}
		return out.String(), exitCode(err)
	}
	return out.String(), 0
}

func TestControllerCLIAddNodeListSave(t *testing.T) {
	f := ipvs.NewFake()
	for i := 0; i < 2; i++ {
		if out, rc := ctlRun(t, f, "add-node", "-t", "10.0.0.100:80", "-r", "10.0.0.11", "-g", "-p", "-s", "rr"); rc != 0 {
			t.Fatalf("add-node: rc %d: %s", rc, out)
		}
	}
	if len(f.Log) != 2 {
		t.Errorf("two add-node runs made %q", f.Log)
	}
	out, _ := ctlRun(t, f, "save")
	want := "-A -t 10.0.0.100:80 -s rr -p 300\n-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 1\n"
	if out != want {
		t.Errorf("save after add-node -p (bare):\n%s", out)
	}
	out, _ = ctlRun(t, f, "list", "-t", "10.0.0.100:80")
	if !strings.HasPrefix(out, "Prot LocalAddress:Port Scheduler Flags\n") || !strings.Contains(out, "TCP  10.0.0.100:80 rr persistent 300\n") {
		t.Errorf("list one service:\n%s", out)
	}
}

func TestControllerCLIEnvAndErrors(t *testing.T) {
	f := ipvs.NewFake()
	t.Setenv("LVSNODE_TCP_SERVICE", "[fd00::100]:80")
	t.Setenv("LVSNODE_WEIGHT", "7")
	if out, rc := ctlRun(t, f, "add-node", "-r", "[fd00::11]"); rc != 0 {
		t.Fatalf("add-node from env: %d %s", rc, out)
	}
	out, _ := ctlRun(t, f, "save")
	if !strings.Contains(out, "-a -t [fd00::100]:80 -r [fd00::11]:80 -g -w 7\n") {
		t.Errorf("env flags not used:\n%s", out)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"add-node", "-r", "[fd00::11]:81", "-g"}, "cannot map ports"},
		{[]string{"add-node", "--bogus"}, "flag provided but not defined"},
		{[]string{"add-service", "-s", "nope"}, "unknown scheduler"},
		{[]string{"add-node", "-r", "[fd00::12]", "-i", "--tun-type", "gue"}, "needs --tun-port"},
		{[]string{"timeouts", "1", "2"}, "three"},
	} {
		out, rc := ctlRun(t, f, c.args...)
		if rc != 2 || !strings.Contains(out, c.want) || strings.Count(out, "\n") != 1 {
			t.Errorf("%v: rc %d, output %q (want exit 2, one line with %q)", c.args, rc, out, c.want)
		}
	}
	// Kernel-side failures are exit 1.
	f.Fail = func(string) error { return errors.New("boom") }
	if out, rc := ctlRun(t, f, "add-node", "-r", "[fd00::13]"); rc != 1 {
		t.Errorf("failing kernel: rc %d %s", rc, out)
	}
}

func TestControllerCLIRestoreBadLineChangesNothing(t *testing.T) {
	f := ipvs.NewFake()
	ctlOpen = func() (ipvs.Client, error) {
		t.Fatal("restore opened IPVS before validating its input")
		return nil, nil
	}
	app := &cli.App{Name: "lvsnode", Commands: []*cli.Command{controllerCommand()}, ExitErrHandler: exitErrHandler}
	dir := t.TempDir()
	path := dir + "/rules"
	writeFile(t, path, "-A -t 10.0.0.100:80 -s rr\n-a -t 10.0.0.100:80 -r 10.0.0.11:80 -x 1 -y 2\n")
	err := app.Run([]string{"lvsnode", "controller", "restore", path})
	if exitCode(err) != 2 || !strings.HasPrefix(err.Error(), "line 2: ") {
		t.Errorf("bad restore: %v", err)
	}
	if len(f.Log) != 0 {
		t.Errorf("changes: %q", f.Log)
	}
}

// restore --dry-run exits like diff: 1 with the plan while changes are
// pending, 0 once the kernel matches; nothing on stderr either way.
func TestControllerCLIRestoreDryRunExit(t *testing.T) {
	f := ipvs.NewFake()
	path := t.TempDir() + "/rules"
	writeFile(t, path, "-A -t 10.0.0.100:80 -s rr\n-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 1\n")
	out, rc := ctlRun(t, f, "restore", "--dry-run", path)
	if rc != 1 || !strings.Contains(out, "would add service") || strings.Contains(out, "lvsnode:") || len(f.Log) != 0 {
		t.Errorf("pending: rc %d, log %q, output:\n%s", rc, f.Log, out)
	}
	if out, rc := ctlRun(t, f, "restore", path); rc != 0 {
		t.Fatalf("restore: rc %d %s", rc, out)
	}
	if out, rc := ctlRun(t, f, "restore", "--dry-run", path); rc != 0 {
		t.Errorf("matching: rc %d, output:\n%s", rc, out)
	}
}

// An exported LVSNODE_TCP_SERVICE (handy for add-node) must not pick what
// remove-service deletes or zero resets: those take their target from the
// command line only, and refuse (exit 2, nothing changed) while such a
// variable is set without the flag.
func TestControllerCLIEnvNeverPicksDestructiveTargets(t *testing.T) {
	f := ipvs.NewFake()
	for _, svc := range []string{"10.0.0.100:80", "10.0.0.100:81"} {
		if out, rc := ctlRun(t, f, "add-node", "-t", svc, "-r", "10.0.0.11"); rc != 0 {
			t.Fatalf("add-node: %d %s", rc, out)
		}
	}
	t.Setenv("LVSNODE_TCP_SERVICE", "10.0.0.100:80")
	t.Setenv("LVSNODE_REAL_SERVER", "10.0.0.11")
	before := len(f.Log)
	for _, args := range [][]string{{"remove-service"}, {"zero"}, {"remove-node", "-t", "10.0.0.100:80"}, {"drain-node", "-t", "10.0.0.100:80"}} {
		out, rc := ctlRun(t, f, args...)
		if rc != 2 || !strings.Contains(out, "takes its target from the command line only") {
			t.Errorf("%v with LVSNODE_* targets: rc %d %q", args, rc, out)
		}
	}
	if len(f.Log) != before {
		t.Fatalf("changes: %q", f.Log[before:])
	}
	// On the command line, the flag wins and the variable is not used.
	if out, rc := ctlRun(t, f, "remove-service", "-t", "10.0.0.100:81"); rc != 0 {
		t.Fatalf("remove-service -t: %d %s", rc, out)
	}
	if svcs, _ := f.Services(); len(svcs) != 1 || svcs[0].Port != 80 {
		t.Errorf("left %v", svcs)
	}
	// add-node still reads the variables.
	if out, rc := ctlRun(t, f, "add-node", "-w", "3"); rc != 0 || !strings.Contains(out, "weight 1 -> 3") {
		t.Errorf("add-node from env: %d %s", rc, out)
	}
}

// The bare -p rewrite works on a copy of the arguments, only for the
// controller, and leaves -p's own number, -p=N and anything after "--".
func TestControllerPersistentArgs(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"lvsnode controller add-service -t V:80 -p", "lvsnode controller add-service -t V:80 --persistent=300"},
		{"lvsnode controller add-service -p -t V:80", "lvsnode controller add-service --persistent=300 -t V:80"},
		{"lvsnode controller add-service --persistent 60 -t V:80", "lvsnode controller add-service --persistent 60 -t V:80"},
		{"lvsnode controller add-service -p=60", "lvsnode controller add-service -p=60"},
		{"lvsnode controller add-service -p -- -p", "lvsnode controller add-service --persistent=300 -- -p"},
		{"lvsnode agent apply -p", "lvsnode agent apply -p"},
		{"lvsnode --debug controller edit-service -persistent", "lvsnode --debug controller edit-service --persistent=300"},
	} {
		in := strings.Fields(c.in)
		orig := slices.Clone(in)
		got := strings.Join(ctlPersistentArgs(in), " ")
		if got != c.want {
			t.Errorf("%q -> %q, want %q", c.in, got, c.want)
		}
		if !slices.Equal(in, orig) {
			t.Errorf("%q: the caller's arguments were changed", c.in)
		}
	}
}

// list --nosort keeps the kernel's order (the fake, as the kernel, lists a
// service's newest real server first), list --sort is the default, and
// list --timeout prints only ipvsadm -L --timeout's line.
func TestControllerCLIListSortAndTimeout(t *testing.T) {
	f := ipvs.NewFake()
	for _, rip := range []string{"10.0.0.12", "10.0.0.11", "10.0.0.13"} {
		if out, rc := ctlRun(t, f, "add-node", "-t", "10.0.0.100:80", "-r", rip); rc != 0 {
			t.Fatalf("add-node: %d %s", rc, out)
		}
	}
	order := func(out string) string {
		var ips []string
		for _, l := range strings.Split(out, "\n") {
			if f := strings.Fields(l); len(f) > 1 && f[0] == "->" && f[1] != "RemoteAddress:Port" {
				ips = append(ips, f[1])
			}
		}
		return strings.Join(ips, " ")
	}
	sorted, _ := ctlRun(t, f, "list")
	explicit, _ := ctlRun(t, f, "list", "--sort")
	unsorted, _ := ctlRun(t, f, "list", "--nosort")
	if got := order(sorted); got != "10.0.0.11:80 10.0.0.12:80 10.0.0.13:80" || explicit != sorted {
		t.Errorf("sorted: %q (--sort same: %v)", got, explicit == sorted)
	}
	if got := order(unsorted); got != "10.0.0.13:80 10.0.0.11:80 10.0.0.12:80" {
		t.Errorf("--nosort: %q", got)
	}
	out, rc := ctlRun(t, f, "list", "--timeout")
	if rc != 0 || out != "Timeout (tcp tcpfin udp): 900 120 300\n" {
		t.Errorf("list --timeout: %d %q", rc, out)
	}
	if out, rc := ctlRun(t, f, "list", "--timeout", "--stats"); rc != 2 {
		t.Errorf("list --timeout --stats: %d %q", rc, out)
	}
}

// drain-node --all-services -r RIP takes the real server out of every
// service and fwmark; with a service flag it is a usage error.
func TestControllerCLIDrainAllServices(t *testing.T) {
	f := ipvs.NewFake()
	for _, args := range [][]string{
		{"add-node", "-t", "10.0.0.100:80", "-r", "10.0.0.11"},
		{"add-node", "-t", "10.0.0.100:443", "-r", "10.0.0.11"},
		{"add-node", "-f", "7", "-r", "10.0.0.11"},
		{"add-node", "-t", "10.0.0.100:443", "-r", "10.0.0.12"},
	} {
		if out, rc := ctlRun(t, f, args...); rc != 0 {
			t.Fatalf("%v: %d %s", args, rc, out)
		}
	}
	if out, rc := ctlRun(t, f, "drain-node", "--all-services", "-t", "10.0.0.100:80", "-r", "10.0.0.11"); rc != 2 {
		t.Errorf("--all-services with -t: %d %s", rc, out)
	}
	out, rc := ctlRun(t, f, "drain-node", "--all-services", "-r", "10.0.0.11", "--interval", "1ms")
	if rc != 0 || strings.Count(out, "drained and removed") != 3 {
		t.Fatalf("drain --all-services: %d\n%s", rc, out)
	}
	if out, _ := ctlRun(t, f, "save"); strings.Contains(out, "10.0.0.11") || !strings.Contains(out, "10.0.0.12") {
		t.Errorf("after the drain:\n%s", out)
	}
}
