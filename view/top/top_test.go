package top

import (
	"context"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/lvsnode/lvsnode/controller"
	"github.com/lvsnode/lvsnode/director"
	"github.com/lvsnode/lvsnode/ipvs"
)

func node(addr string, cps, conns uint32, bps uint64, health string) director.NodeStatus {
	return director.NodeStatus{NodeRef: director.NodeRef{Service: "tcp 10.0.0.100:80", Address: addr, Port: 80}, Method: "dr",
		Weight: 1, ConfiguredWeight: 1, Health: health, Drain: director.DrainNone, Agent: director.AgentUnknown,
		ActiveConn: conns, Stats: ipvs.Stats{CPS: uint64(cps), InBPS: bps}}
}

func sample() director.Status {
	return director.Status{Ready: true, Services: []director.ServiceStatus{
		{Service: "tcp 10.0.0.100:80", Scheduler: "wlc", Managed: true, Up: 2, Stats: ipvs.Stats{CPS: 75}, Nodes: []director.NodeStatus{
			node("10.0.0.11", 5, 300, 9000, director.HealthUp),
			node("10.0.0.12", 50, 10, 1000, director.HealthUp),
			node("10.0.0.13", 20, 100, 500000, director.HealthDown),
		}},
		{Service: "udp 10.0.0.100:53", Scheduler: "rr", Managed: true, Up: 1, Stats: ipvs.Stats{CPS: 900}, Nodes: []director.NodeStatus{
			node("10.0.0.21", 900, 0, 0, director.HealthUp),
		}},
	}}
}

var addrRE = regexp.MustCompile(`10\.0\.0\.\d+:\d+|^(tcp|udp) \S+`)

// order lists the services and real servers of a frame, top to bottom.
func order(frame string) string {
	var out []string
	for _, l := range strings.Split(frame, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, "tcp ") || strings.HasPrefix(l, "udp ") {
			out = append(out, strings.Fields(l)[0]+" "+strings.Fields(l)[1])
		} else if strings.HasPrefix(l, "10.0.0.") {
			out = append(out, strings.Fields(l)[0])
		}
	}
	return strings.Join(out, " ")
}

func frame(m tea.Model) string { return stripANSI(m.View()) }

// Each key sorts services and their real servers, highest first; a as
// the status lists them; q quits.
func TestSortKeysAndQuit(t *testing.T) {
	var m tea.Model = New(Options{From: "test", Source: func(context.Context) (director.Status, error) { return sample(), nil }})
	m, cmd := m.Update(m.(Model).fetch())
	if cmd == nil {
		t.Fatal("no next read scheduled after an answer")
	}
	for _, c := range []struct{ key, want string }{
		{"", "udp 10.0.0.100:53 10.0.0.21:80 tcp 10.0.0.100:80 10.0.0.12:80 10.0.0.13:80 10.0.0.11:80"}, // rate, the default
		{"c", "tcp 10.0.0.100:80 10.0.0.11:80 10.0.0.13:80 10.0.0.12:80 udp 10.0.0.100:53 10.0.0.21:80"},
		{"b", "tcp 10.0.0.100:80 10.0.0.13:80 10.0.0.11:80 10.0.0.12:80 udp 10.0.0.100:53 10.0.0.21:80"},
		{"a", "tcp 10.0.0.100:80 10.0.0.11:80 10.0.0.12:80 10.0.0.13:80 udp 10.0.0.100:53 10.0.0.21:80"},
		{"r", "udp 10.0.0.100:53 10.0.0.21:80 tcp 10.0.0.100:80 10.0.0.12:80 10.0.0.13:80 10.0.0.11:80"},
		{"p", "tcp 10.0.0.100:80 10.0.0.13:80"}, // only problems
	} {
		if c.key != "" {
			m, _ = m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(c.key)})
		}
		if got := order(frame(m)); got != c.want {
			t.Errorf("after %q: %s\nwant %s\n%s", c.key, got, c.want, frame(m))
		}
	}
	_, cmd = m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("q")})
	if cmd == nil || cmd() != tea.Quit() {
		t.Error("q does not quit")
	}
}

// A row carries what the page shows: weights, health, last check, drain
// with the connections left, connections, rates, agent.
func TestRow(t *testing.T) {
	n := node("10.0.0.13", 20, 100, 1_500_000, director.HealthDraining)
	n.Drain, n.InactConn, n.Weight, n.ConfiguredWeight, n.Agent = director.DrainDraining, 7, 0, 3, director.AgentDraining
	n.LastCheck = director.Check{OK: true, LatencyMS: 1.25, At: time.Now().Add(-2 * time.Second)}
	got := strings.Join(strings.Fields(nodeLine(n, time.Now(), 28)), " ")
	want := "10.0.0.13:80 draining dr 0 3 ok 1.2ms 2s draining 107 left 100 7 20 1.5M 0 draining"
	if got != want {
		t.Errorf("row\n%s\nwant\n%s", got, want)
	}
	n.LastCheck = director.Check{Reason: "connection refused", At: time.Now()}
	if !strings.Contains(nodeLine(n, time.Now(), 28), "FAIL connection refused") {
		t.Error("a failed check's reason is not shown")
	}
}

// Scrolling keeps the frame within the terminal and shows where it is.
func TestScroll(t *testing.T) {
	st := director.Status{Ready: true}
	s := director.ServiceStatus{Service: "tcp 10.0.0.100:80", Scheduler: "rr"}
	for i := range 100 {
		s.Nodes = append(s.Nodes, node(netip.AddrFrom4([4]byte{10, 0, 1, byte(i)}).String(), uint32(i), 0, 0, director.HealthUp))
	}
	st.Services = []director.ServiceStatus{s}
	var m tea.Model = New(Options{Source: func(context.Context) (director.Status, error) { return st, nil }})
	m, _ = m.Update(m.(Model).fetch())
	m, _ = m.Update(tea.WindowSizeMsg{Width: 100, Height: 20})
	if f := frame(m); strings.Count(f, "\n") > 20 || !strings.Contains(f, "lines 1-16 of 101") {
		t.Errorf("frame of a 20-line terminal:\n%s", f)
	}
	m, _ = m.Update(tea.KeyMsg{Type: tea.KeyEnd})
	if f := frame(m); !strings.Contains(f, "lines 86-101 of 101") || !strings.Contains(f, "10.0.1.0:80") {
		t.Errorf("after End:\n%s", f)
	}
	// One up after End (G then k) moves at once: the offset was clamped.
	m, _ = m.Update(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune("k")})
	if f := frame(m); !strings.Contains(f, "lines 85-100 of 101") {
		t.Errorf("after End then k:\n%s", f)
	}
}

// Without a daemon: the kernel's table, health and drain unknown.
func TestFromTable(t *testing.T) {
	k := ipvs.ServiceKey{Protocol: ipvs.TCP, Addr: netip.MustParseAddr("10.0.0.100"), Port: 80}
	tab := controller.Table{Services: []controller.Entry{{
		Service: ipvs.Service{ServiceKey: k, Scheduler: "sh", Flags: ipvs.FlagSched2, Stats: ipvs.Stats{CPS: 4}},
		Dests: []ipvs.Destination{
			{DestKey: ipvs.DestKey{Addr: netip.MustParseAddr("10.0.0.11"), Port: 8080}, Forward: ipvs.Masq, Weight: 2, ActiveConns: 3, Stats: ipvs.Stats{CPS: 4}},
			{DestKey: ipvs.DestKey{Addr: netip.MustParseAddr("10.0.0.12"), Port: 8080}, Forward: ipvs.Tunnel, Weight: 0},
		}}}}
	st := FromTable(tab)
	s := st.Services[0]
	if s.Service != "tcp 10.0.0.100:80" || s.Flags != "(sh-port)" || s.Up != 1 || s.Managed || s.Stats.CPS != 4 {
		t.Errorf("service %+v", s)
	}
	n := s.Nodes[0]
	if n.Address != "10.0.0.11" || n.Port != 8080 || n.Method != "nat" || n.Weight != 2 || n.Health != "unknown" || n.ActiveConn != 3 || n.Stats.CPS != 4 {
		t.Errorf("node %+v", n)
	}
	if s.Nodes[1].Method != "tun" {
		t.Errorf("tunnel real server's method %q", s.Nodes[1].Method)
	}
	out := Text(Options{From: "kernel", Kernel: true}, st, 200)
	if !strings.Contains(out, "tcp 10.0.0.100:80 sh (sh-port) · 2 real servers") || strings.Contains(out, "up 1/2") {
		t.Errorf("kernel frame:\n%s", out)
	}
}

// --once keeps stable columns: every address whole (a long IPv6 one is not
// cut) and the health right after it, as $1 and $2 on every line (issue 13
// review: the address was cut to 28 columns, losing the port).
func TestOnceColumnsAddressAndHealthFirst(t *testing.T) {
	st := director.Status{Ready: true, Services: []director.ServiceStatus{{Service: "tcp [2001:db8::100]:443", Scheduler: "wlc", Managed: true,
		Nodes: []director.NodeStatus{
			{NodeRef: director.NodeRef{Address: "2001:db8:aaaa:bbbb:cccc:dddd:eeee:1", Port: 8443}, Method: "dr", Health: "down",
				LastCheck: director.Check{At: time.Now(), Reason: "connect: no route to host"}},
			{NodeRef: director.NodeRef{Address: "10.0.0.2", Port: 8443}, Method: "dr", Health: "up", Drain: "draining",
				LastCheck: director.Check{At: time.Now(), OK: true, LatencyMS: 1.5}},
		}}}}
	got := map[string]string{}
	col := -1
	for _, l := range strings.Split(Text(Options{From: "x"}, st, 300), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "REAL SERVER") {
			col = strings.Index(l, "HEALTH")
		}
		if f := strings.Fields(l); len(f) > 1 && (strings.HasPrefix(f[0], "[") || strings.HasPrefix(f[0], "10.")) {
			got[f[0]] = f[1]
			if col < 0 || len(l) <= col || !strings.HasPrefix(l[col:], f[1]) {
				t.Errorf("health not under HEALTH (column %d) in %q", col, l)
			}
		}
	}
	if got["[2001:db8:aaaa:bbbb:cccc:dddd:eeee:1]:8443"] != "down" || got["10.0.0.2:8443"] != "up" {
		t.Errorf("address and health columns: %v", got)
	}
}

// Ages are the director's now (Status.Now) minus its check times, not this
// machine's clock: a director an hour ahead still reads 5s.
func TestAgesUseTheDirectorsClock(t *testing.T) {
	now := time.Now().Add(time.Hour)
	st := director.Status{Ready: true, Now: now, Services: []director.ServiceStatus{{Service: "tcp 10.0.0.100:80", Scheduler: "wlc",
		Nodes: []director.NodeStatus{{NodeRef: director.NodeRef{Address: "10.0.0.11", Port: 80}, Health: "up",
			LastCheck: director.Check{At: now.Add(-5 * time.Second), OK: true, LatencyMS: 1}}}}}}
	if out := Text(Options{From: "x"}, st, 200); !strings.Contains(out, "ok 1.0ms 5s ") {
		t.Errorf("want a 5s age by the director's clock:\n%s", out)
	}
}
