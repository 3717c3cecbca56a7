package top

import (
	"strings"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/director"
	"github.com/lvsnode/lvsnode/health"
)

// hostileBodies are the readiness bodies of the issue 13 review: an OSC that
// sets the terminal's title, the escape that leaves the alternate screen and
// a \r that overwrites the line with a fake healthy row.
var hostileBodies = []string{"draining:\x1b]0;PWN\x07", "\x1b[?1049l", "draining:\r  10.6.6.6:80 ok"}

// hostileStatus carries the bodies raw (as a daemon without health's cleaning
// would): top must not pass them to the terminal either.
func hostileStatus() director.Status {
	s := director.ServiceStatus{Service: "tcp 10.0.0.100:80", Scheduler: "wlc\x1b]0;SCHED\x07", Managed: true}
	for i, b := range hostileBodies {
		s.Nodes = append(s.Nodes, director.NodeStatus{
			NodeRef: director.NodeRef{Address: "127.0.0." + string(rune('1'+i)), Port: 80}, Method: "dr", Health: "down", Agent: b,
			LastCheck: director.Check{At: time.Now(), Reason: b}})
	}
	return director.Status{Ready: true, Services: []director.ServiceStatus{s}}
}

func TestHostileTextNeverReachesTheTerminal(t *testing.T) {
	once := Text(Options{From: "x"}, hostileStatus(), 300)
	if strings.ContainsFunc(strings.ReplaceAll(once, "\n", ""), health.IsControl) {
		t.Errorf("--once printed control characters:\n%q", once)
	}
	m := New(Options{From: "x"})
	m.st, m.width, m.height = hostileStatus(), 300, 40
	for _, l := range strings.Split(m.View(), "\n") {
		for _, bad := range []string{"\x1b]", "\x07", "\r", "\x1b[?1049"} {
			if strings.Contains(l, bad) {
				t.Errorf("View printed %q in %q", bad, l)
			}
		}
	}
}
