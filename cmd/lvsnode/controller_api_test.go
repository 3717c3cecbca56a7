package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/director"
	"github.com/lvsnode/lvsnode/ipvs"
)

// Unit tests never look for a daemon on /run/lvsnode: a developer's running
// director must not receive their requests.
func init() { ctlAPIDefault = "/nonexistent/lvsnode-test/director.sock" }

// cliRuntime is a director.Runtime for the CLI tests: it records calls,
// answers with errs[call] and, for status, walks through statuses (the
// last one repeats).
type cliRuntime struct {
	mu       sync.Mutex
	calls    []string
	bodies   []any
	errs     map[string]error
	statuses []director.Status
}

var _ director.Runtime = (*cliRuntime)(nil)

func (r *cliRuntime) rec(name string, body any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, name)
	r.bodies = append(r.bodies, body)
	return r.errs[name]
}

func (r *cliRuntime) Status() director.Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, "Status")
	if len(r.statuses) == 0 {
		return director.Status{}
	}
	s := r.statuses[0]
	if len(r.statuses) > 1 {
		r.statuses = r.statuses[1:]
	}
	return s
}
func (r *cliRuntime) AddNode(_ context.Context, n director.Node) error { return r.rec("AddNode", n) }
func (r *cliRuntime) EditNode(_ context.Context, n director.NodePatch) error {
	return r.rec("EditNode", n)
}
func (r *cliRuntime) RemoveNode(_ context.Context, n director.NodeRef) error {
	return r.rec("RemoveNode", n)
}
func (r *cliRuntime) Drain(_ context.Context, n director.NodeRef, o director.DrainOptions) error {
	return r.rec("Drain", director.DrainRequest{NodeRef: n, DrainOptions: o})
}
func (r *cliRuntime) Undrain(_ context.Context, n director.NodeRef) error {
	return r.rec("Undrain", n)
}

// withDaemon serves rt on a temp socket and makes it the CLI's default.
func withDaemon(t *testing.T, rt director.Runtime) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "director.sock")
	s, err := director.NewAPIServer(rt, director.APIOptions{Socket: sock})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() { s.Close() })
	old := ctlAPIDefault
	ctlAPIDefault = sock
	t.Cleanup(func() { ctlAPIDefault = old })
	return sock
}

func TestControllerAPIRouting(t *testing.T) {
	rt := &cliRuntime{}
	withDaemon(t, rt)
	f := ipvs.NewFake()
	for _, args := range [][]string{
		{"add-node", "-t", "10.0.0.100:80", "-r", "10.0.0.11", "-w", "3", "-i", "--tun-type", "gue", "--tun-port", "6080", "--tun-csum"},
		{"edit-node", "-t", "10.0.0.100:80", "-r", "10.0.0.11", "-w", "0"},
		{"remove-node", "-u", "[fd00::100]:53", "-r", "[fd00::11]:5353"},
		{"drain-node", "-f", "7", "-6", "-r", "fd00::11", "--no-wait", "--keep", "--timeout", "90s"},
		{"drain-node", "--all-services", "-r", "10.0.0.11", "--no-wait"},
		{"drain-node", "-t", "10.0.0.100:80", "-r", "10.0.0.12", "--no-wait", "--timeout", "0"}, // 0: forever, not the daemon's default
	} {
		if out, rc := ctlRun(t, f, args...); rc != 0 || !strings.Contains(out, "through the director at") {
			t.Errorf("%v: rc %d: %s", args, rc, out)
		}
	}
	if len(f.Log) != 0 {
		t.Errorf("the kernel was written while a daemon answers: %q", f.Log)
	}
	got, _ := json.Marshal(rt.bodies)
	want := `[{"service":"tcp 10.0.0.100:80","address":"10.0.0.11","port":80,"weight":3,"method":"tun","tun_type":"gue","tun_port":6080,"tun_csum":"csum","u_threshold":0,"l_threshold":0,"check":null},` +
		`{"service":"tcp 10.0.0.100:80","address":"10.0.0.11","port":80,"weight":0},` +
		`{"service":"udp [fd00::100]:53","address":"fd00::11","port":5353},` +
		`{"service":"fwm 7 ipv6","address":"fd00::11","timeout":"1m30s","remove":false},` +
		`{"service":"*","address":"10.0.0.11","timeout":"5m0s","remove":true},` +
		`{"service":"tcp 10.0.0.100:80","address":"10.0.0.12","port":80,"timeout":"876000h0m0s","remove":true}]`
	if string(got) != want {
		t.Errorf("requests:\n%s\nwant\n%s", got, want)
	}
	if fmt.Sprint(rt.calls) != "[AddNode EditNode RemoveNode Drain Drain Drain]" {
		t.Errorf("calls %v", rt.calls)
	}
}

func TestControllerAPIAbsentGoesToKernel(t *testing.T) {
	dir := t.TempDir()
	ctlAPIDefault = filepath.Join(dir, "director.sock")
	defer func() { ctlAPIDefault = "/nonexistent/lvsnode-test/director.sock" }()
	f := ipvs.NewFake()
	if out, rc := ctlRun(t, f, "add-node", "-t", "10.0.0.100:80", "-r", "10.0.0.11"); rc != 0 || strings.Contains(out, "director") {
		t.Fatalf("no daemon: rc %d %s", rc, out)
	}
	// A stale socket (a killed daemon) is no daemon either.
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: ctlAPIDefault, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	if out, rc := ctlRun(t, f, "add-node", "-t", "10.0.0.100:80", "-r", "10.0.0.12"); rc != 0 {
		t.Fatalf("stale socket: rc %d %s", rc, out)
	}
	if len(f.Log) != 3 {
		t.Errorf("kernel writes %q, want the service and two real servers", f.Log)
	}
	// --api=none programs the kernel even while a daemon answers.
	rt := &cliRuntime{}
	withDaemon(t, rt)
	if out, rc := ctlRun(t, f, "remove-node", "--api", "none", "-t", "10.0.0.100:80", "-r", "10.0.0.12"); rc != 0 || len(f.Log) != 4 || len(rt.calls) != 0 {
		t.Errorf("--api=none: rc %d %s, kernel %q, daemon %v", rc, out, f.Log, rt.calls)
	}
	// A daemon named with --api that does not answer is an error, not the kernel.
	out, rc := ctlRun(t, f, "add-node", "--api", filepath.Join(dir, "nope.sock"), "-t", "10.0.0.100:80", "-r", "10.0.0.13")
	if rc != 1 || !strings.Contains(out, "no director daemon answers") || len(f.Log) != 4 {
		t.Errorf("--api to nothing: rc %d %q, kernel %q", rc, out, f.Log)
	}
}

func TestControllerAPIErrors(t *testing.T) {
	f := ipvs.NewFake()
	for _, c := range []struct {
		args  []string
		errs  map[string]error
		rc    int
		want  string
		calls string
	}{
		{[]string{"add-node", "-t", "10.0.0.100:80", "-r", "10.0.0.11", "-w", "70000"}, nil, 2, "weight (-w)", "[]"},
		{[]string{"add-node", "-t", "10.0.0.100:80", "-r", "10.0.0.11", "-s", "rr"}, nil, 2, "service options", "[]"},
		{[]string{"add-node", "-t", "10.0.0.100:80"}, nil, 2, "needs a real server", "[]"},
		{[]string{"add-node", "-t", "10.0.0.100:80", "-r", "10.0.0.11"}, map[string]error{"AddNode": fmt.Errorf("%w: check.port: 0", director.ErrInvalid)}, 2, "check.port", "[AddNode]"},
		{[]string{"add-node", "-t", "10.0.0.100:80", "-r", "10.0.0.11"}, map[string]error{"AddNode": fmt.Errorf("tcp 10.0.0.100:80: %w", director.ErrNotManaged)}, 1, "--api=none", "[AddNode]"},
		{[]string{"add-node", "-t", "10.0.0.100:80", "-r", "10.0.0.11", "-w", "2"}, map[string]error{"AddNode": fmt.Errorf("10.0.0.11: %w", director.ErrExists)}, 0, "edited", "[AddNode EditNode]"},
		{[]string{"add-node", "-t", "10.0.0.100:80", "-r", "10.0.0.11"}, map[string]error{"AddNode": fmt.Errorf("10.0.0.11: %w", director.ErrExists)}, 0, "unchanged", "[AddNode]"},
		{[]string{"edit-node", "-t", "10.0.0.100:80", "-r", "10.0.0.11", "-w", "2"}, map[string]error{"EditNode": fmt.Errorf("10.0.0.11: %w", director.ErrNotFound)}, 1, "10.0.0.11: not found", "[EditNode]"},
		{[]string{"remove-node", "-t", "10.0.0.100:80", "-r", "10.0.0.11"}, map[string]error{"RemoveNode": fmt.Errorf("10.0.0.11: %w", director.ErrNotFound)}, 1, "not found", "[RemoveNode]"},
		{[]string{"drain-node", "--all-services", "-t", "10.0.0.100:80", "-r", "10.0.0.11"}, nil, 2, "no service", "[]"},
	} {
		rt := &cliRuntime{errs: c.errs}
		withDaemon(t, rt)
		out, rc := ctlRun(t, f, c.args...)
		if rc != c.rc || !strings.Contains(out, c.want) || (rc != 0 && strings.Count(out, "\n") != 1) || fmt.Sprint(rt.calls) != c.calls {
			t.Errorf("%v: rc %d, out %q, calls %v; want rc %d, %q, calls %s", c.args, rc, out, rt.calls, c.rc, c.want, c.calls)
		}
	}
	if len(f.Log) != 0 {
		t.Errorf("kernel written: %q", f.Log)
	}
}

func drainStatus(drain string, active uint32) director.Status {
	return director.Status{Ready: true, Services: []director.ServiceStatus{{Service: "tcp 10.0.0.100:80", Managed: true, Nodes: []director.NodeStatus{
		{NodeRef: director.NodeRef{Service: "tcp 10.0.0.100:80", Address: "10.0.0.11", Port: 80}, Drain: drain, ActiveConn: active},
		{NodeRef: director.NodeRef{Service: "tcp 10.0.0.100:80", Address: "10.0.0.12", Port: 80}, Drain: director.DrainNone, ActiveConn: 9},
	}}}}
}

func TestControllerAPIDrainWaits(t *testing.T) {
	rt := &cliRuntime{statuses: []director.Status{
		drainStatus(director.DrainDraining, 2), drainStatus(director.DrainDraining, 2),
		drainStatus(director.DrainDraining, 1), drainStatus(director.DrainParked, 0),
	}}
	withDaemon(t, rt)
	out, rc := ctlRun(t, ipvs.NewFake(), "drain-node", "-t", "10.0.0.100:80", "-r", "10.0.0.11", "--keep", "--interval", "10ms")
	want := "draining 10.0.0.11 of tcp 10.0.0.100:80 port 80 (through the director at " + ctlAPIDefault + ")\n" +
		"waiting for 10.0.0.11 of tcp 10.0.0.100:80 port 80: ActiveConn 2, InActConn 0, PersistConn 0\n" +
		"waiting for 10.0.0.11 of tcp 10.0.0.100:80 port 80: ActiveConn 1, InActConn 0, PersistConn 0\n" +
		"drained 10.0.0.11 of tcp 10.0.0.100:80 port 80: parked at weight 0\n"
	if rc != 0 || out != want {
		t.Errorf("rc %d:\n%s\nwant\n%s", rc, out, want)
	}
	if fmt.Sprint(rt.calls) != "[Drain Status Status Status Status]" {
		t.Errorf("calls %v", rt.calls)
	}
	// Removed (gone from the status) is done too.
	rt = &cliRuntime{statuses: []director.Status{drainStatus(director.DrainDraining, 1), {Ready: true}}}
	withDaemon(t, rt)
	if out, rc := ctlRun(t, ipvs.NewFake(), "drain-node", "-t", "10.0.0.100:80", "-r", "10.0.0.11", "--interval", "10ms"); rc != 0 || !strings.HasSuffix(out, "drained 10.0.0.11 of tcp 10.0.0.100:80 port 80\n") {
		t.Errorf("removed: rc %d %s", rc, out)
	}
}

func TestControllerStatus(t *testing.T) {
	at := time.Now().Add(-3 * time.Second)
	st := drainStatus(director.DrainDraining, 2)
	st.Generation = 4
	st.Services[0].Scheduler, st.Services[0].Up = "wlc", 1
	st.Services[0].Nodes[0].DrainSince = at
	st.Services[0].Nodes[1].LastCheck = director.Check{OK: false, Reason: "connection refused", LatencyMS: 0.4, At: at}
	st.Services[0].Nodes[1].Health, st.Services[0].Nodes[1].Method = "down", "dr"
	rt := &cliRuntime{statuses: []director.Status{st}}
	withDaemon(t, rt)
	out, rc := ctlRun(t, ipvs.NewFake(), "status")
	for _, w := range []string{"Director ready, generation 4, 1 service\n", "tcp 10.0.0.100:80  wlc  up 1/2\n",
		"REAL SERVER", "10.0.0.11:80", "draining 3s ago", "FAIL connection refused 0.4ms 3s ago"} {
		if rc != 0 || !strings.Contains(out, w) {
			t.Errorf("status: rc %d, no %q in\n%s", rc, w, out)
		}
	}
	out, rc = ctlRun(t, ipvs.NewFake(), "status", "--json")
	var back director.Status
	if err := json.Unmarshal([]byte(out), &back); rc != 0 || err != nil || back.Generation != 4 || back.Services[0].Nodes[1].LastCheck.Reason != "connection refused" {
		t.Errorf("status --json: rc %d %v\n%s", rc, err, out)
	}
	ctlAPIDefault = filepath.Join(t.TempDir(), "none.sock")
	if out, rc := ctlRun(t, ipvs.NewFake(), "status"); rc != 1 || !strings.Contains(out, "no director daemon answers") {
		t.Errorf("status without daemon: rc %d %s", rc, out)
	}
}
