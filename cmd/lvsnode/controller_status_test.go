package main

import (
	"strings"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/director"
	"github.com/lvsnode/lvsnode/health"
)

// The hostile readiness bodies of the issue 13 review, raw in a Status (as a
// daemon without health's cleaning would send them): `controller status`
// must not pass them to the terminal.
func TestStatusNeverPrintsControlCharacters(t *testing.T) {
	s := director.ServiceStatus{Service: "tcp 10.0.0.100:80", Scheduler: "wlc", Managed: true}
	for _, b := range []string{"draining:\x1b]0;PWN\x07", "\x1b[?1049l", "draining:\r  10.6.6.6:80 ok"} {
		s.Nodes = append(s.Nodes, director.NodeStatus{NodeRef: director.NodeRef{Address: "127.0.0.31", Port: 80},
			Health: "down", Agent: b, LastCheck: director.Check{At: time.Now(), Reason: b}})
	}
	var out strings.Builder
	if err := ctlPrintStatus(&out, director.Status{Services: []director.ServiceStatus{s}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if strings.ContainsFunc(out.String(), func(r rune) bool { return r != '\n' && health.IsControl(r) }) {
		t.Errorf("status printed control characters:\n%q", out.String())
	}
}
