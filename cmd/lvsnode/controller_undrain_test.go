package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/lvsnode/lvsnode/director"
	"github.com/lvsnode/lvsnode/ipvs"
)

// undrain-node sends POST /v1/undrain for one service's real server or,
// with --all-services, for every service's ("*"); the kernel is never
// written by the command itself.
func TestControllerUndrainNode(t *testing.T) {
	rt := &cliRuntime{}
	withDaemon(t, rt)
	f := ipvs.NewFake()
	for _, args := range [][]string{
		{"undrain-node", "-t", "10.0.0.100:80", "-r", "10.0.0.11"},
		{"undrain-node", "--all-services", "-r", "10.0.0.11:8080"},
	} {
		if out, rc := ctlRun(t, f, args...); rc != 0 || !strings.HasPrefix(out, "undrained ") {
			t.Errorf("%v: rc %d: %s", args, rc, out)
		}
	}
	got, _ := json.Marshal(rt.bodies)
	want := `[{"service":"tcp 10.0.0.100:80","address":"10.0.0.11","port":80},{"service":"*","address":"10.0.0.11","port":8080}]`
	if fmt.Sprint(rt.calls) != "[Undrain Undrain]" || string(got) != want {
		t.Errorf("calls %v, bodies %s; want %s", rt.calls, got, want)
	}
	if len(f.Log) != 0 {
		t.Errorf("kernel written: %q", f.Log)
	}
}

// Bad input is exit 2 before the daemon is asked (and with none); no
// daemon, or a real server the daemon does not have, is exit 1; one line.
func TestControllerUndrainNodeErrors(t *testing.T) {
	f := ipvs.NewFake()
	for _, c := range []struct {
		args   []string
		daemon bool
		err    error
		rc     int
		want   string
	}{
		{[]string{"undrain-node", "-t", "10.0.0.100:80", "-r", "10.0.0.11"}, false, nil, 1, "no director daemon answers"},
		{[]string{"undrain-node", "-t", "10.0.0.100:80"}, false, nil, 2, "needs a real server"},
		{[]string{"undrain-node", "-t", "10.0.0.100:80"}, true, nil, 2, "needs a real server"},
		{[]string{"undrain-node", "--all-services", "-t", "10.0.0.100:80", "-r", "10.0.0.11"}, true, nil, 2, "no service"},
		{[]string{"undrain-node", "--api", "none", "-t", "10.0.0.100:80", "-r", "10.0.0.11"}, true, nil, 2, "needs the director daemon"},
		{[]string{"undrain-node", "-t", "10.0.0.100:80", "-r", "10.0.0.19"}, true, fmt.Errorf("real server 10.0.0.19:80: %w", director.ErrNotFound), 1, "10.0.0.19:80: not found"},
	} {
		rt := &cliRuntime{errs: map[string]error{"Undrain": c.err}}
		if c.daemon {
			withDaemon(t, rt)
		}
		out, rc := ctlRun(t, f, c.args...)
		if rc != c.rc || !strings.Contains(out, c.want) || strings.Count(out, "\n") != 1 {
			t.Errorf("%v: rc %d, out %q; want rc %d, %q", c.args, rc, out, c.rc, c.want)
		}
		if c.rc == 2 && len(rt.calls) != 0 {
			t.Errorf("%v: bad input reached the daemon: %v", c.args, rt.calls)
		}
	}
	if len(f.Log) != 0 {
		t.Errorf("kernel written: %q", f.Log)
	}
}
