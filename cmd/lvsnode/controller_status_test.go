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

// The shared store is in the human status too, not only in --json (issue
// 12 review: `controller status` said nothing when etcd was unreachable,
// when another director held another table, or when keys were ignored).
func TestStatusPrintsTheStore(t *testing.T) {
	now := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	st := director.Status{Ready: true, Store: &director.StoreStatus{Backend: "etcd", Reachable: false, Since: now.Add(-90 * time.Second),
		Error: "context deadline exceeded", Revision: 21, Digest: "904896349e97",
		Directors: map[string]director.DirectorReport{"lb2": {Revision: 19, Digest: "0123456789ab"}, "lb1": {Revision: 21, Digest: "904896349e97"}},
		Invalid:   map[string]string{"nodes/tcp/10.0.0.100:80/10.0.0.51:80": `method "route"`}}}
	var out strings.Builder
	if err := ctlPrintStatus(&out, st, now); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Director ready, generation 0, 0 services, store etcd UNREACHABLE\n",
		"Store: etcd UNREACHABLE for 1m30s, revision 21, digest 904896349e97\n",
		"Store error (serving the last known table): context deadline exceeded\n",
		"Directors: lb1 at 21; lb2 at 19 (OTHER TABLE: digest 0123456789ab)\n",
		`Store key IGNORED nodes/tcp/10.0.0.100:80/10.0.0.51:80: method "route"` + "\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := ctlPrintStatus(&out, director.Status{Ready: true}, now); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "Store") {
		t.Errorf("a file store printed a store line:\n%s", out.String())
	}
}
