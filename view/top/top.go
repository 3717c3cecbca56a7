// Package top is `lvsnode controller top`: the status page's view of the
// director in a terminal (bubbletea), refreshed every second, sortable by
// connection rate, byte rate or connections. It reads a director.Status
// from a Source (the daemon's API, or the kernel's table without a daemon:
// FromTable) and never changes anything.
package top

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/lvsnode/lvsnode/controller"
	"github.com/lvsnode/lvsnode/director"
	"github.com/lvsnode/lvsnode/health"
	"github.com/lvsnode/lvsnode/ipvs"
)

// Source reads the status once.
type Source func(ctx context.Context) (director.Status, error)

// Sort is the order of services and of real servers within each.
type Sort string

// Orders, each highest first but Address (the status's own order).
const (
	SortRate    Sort = "rate"    // new connections per second (CPS)
	SortBytes   Sort = "bytes"   // bytes per second, in + out
	SortConns   Sort = "conns"   // ActiveConn + InActConn
	SortAddress Sort = "address" // as the status lists them
)

// Sorts are the orders and the key that picks each.
var Sorts = []struct {
	Sort Sort
	Key  string
}{{SortRate, "r"}, {SortBytes, "b"}, {SortConns, "c"}, {SortAddress, "a"}}

// ParseSort checks a --sort value.
func ParseSort(s string) (Sort, error) {
	for _, x := range Sorts {
		if string(x.Sort) == s {
			return x.Sort, nil
		}
	}
	return "", fmt.Errorf("sort %q: want rate, bytes, conns or address", s)
}

// Options of a view.
type Options struct {
	Source   Source
	From     string        // where the status comes from, for the title ("daemon /run/lvsnode/director.sock")
	Kernel   bool          // the status is the kernel's table: no health, no drain
	Interval time.Duration // between reads (default 1s)
	Sort     Sort          // first order (default SortRate)
}

// Model is the bubbletea model of the view.
type Model struct {
	o      Options
	st     director.Status
	read   time.Time
	err    error
	sort   Sort
	top    int  // first line shown of the body (scrolling)
	issues bool // only real servers not up, or draining
	width  int
	height int
}

var _ tea.Model = Model{}

// New is the view before its first read.
func New(o Options) Model {
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Sort == "" {
		o.Sort = SortRate
	}
	return Model{o: o, sort: o.Sort, width: 120, height: 40}
}

type statusMsg struct {
	st  director.Status
	err error
	at  time.Time
}

type tickMsg struct{}

func (m Model) fetch() tea.Msg {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := m.o.Source(ctx)
	return statusMsg{st: st, err: err, at: time.Now()}
}

// Init reads the status at once.
func (m Model) Init() tea.Cmd { return m.fetch }

// Update handles keys, the window's size and each read; the next read is
// due Interval after the last answer (reads never pile up).
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case statusMsg:
		m.err = msg.err
		if msg.err == nil {
			m.st, m.read = msg.st, msg.at
			m = m.clamp() // fewer lines now: the offset stays on the last page
		}
		return m, tea.Tick(m.o.Interval, func(time.Time) tea.Msg { return tickMsg{} })
	case tickMsg:
		return m, m.fetch
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
	case tea.KeyMsg:
		switch k := msg.String(); k {
		case "q", "ctrl+c", "esc":
			return m, tea.Quit
		case "p":
			m.issues, m.top = !m.issues, 0
		case "up", "k":
			m.top--
		case "down", "j":
			m.top++
		case "pgup":
			m.top -= m.bodyHeight()
		case "pgdown", " ":
			m.top += m.bodyHeight()
		case "home", "g":
			m.top = 0
		case "end", "G":
			m.top = 1 << 30
		default:
			for _, s := range Sorts {
				if k == s.Key {
					m.sort, m.top = s.Sort, 0
				}
			}
		}
	}
	return m.clamp(), nil
}

// clamp keeps the scroll offset within the body, so that after End (or
// many downs) one up moves the view at once.
func (m Model) clamp() Model {
	m.top = min(max(0, m.top), max(0, len(m.body(time.Now()))-m.bodyHeight()))
	return m
}

// bodyHeight is the lines left for services and real servers.
func (m Model) bodyHeight() int { return max(1, m.height-4) }

var (
	styleTitle = lipgloss.NewStyle().Reverse(true)
	styleHead  = lipgloss.NewStyle().Bold(true)
	styleDown  = lipgloss.NewStyle().Foreground(lipgloss.Color("1"))
	styleWarn  = lipgloss.NewStyle().Foreground(lipgloss.Color("3"))
	styleSvc   = lipgloss.NewStyle().Bold(true)
)

// header is the table's column line (the widths of nodeLine) for an
// address column aw wide.
func header(aw int) string {
	return fmt.Sprintf("  %-*s %-9s %-6s %6s %5s %-24s %-18s %6s %6s %7s %9s %9s %s", aw, "REAL SERVER", "HEALTH", "METHOD", "WEIGHT", "CONF",
		"LAST CHECK", "DRAIN", "ACTIVE", "INACT", "CONN/S", "IN B/S", "OUT B/S", "AGENT")
}

// addrWidth is the address column of a frame: every address whole (an
// IPv6 one is never cut), at least 28 wide, the same on every line.
func (m Model) addrWidth() int {
	w := 28
	for _, s := range m.st.Services {
		for _, n := range s.Nodes {
			w = max(w, len([]rune(health.CleanText(addr(n.NodeRef)))))
		}
	}
	return w
}

// View draws the title, the column header and the body from line m.top.
func (m Model) View() string {
	var b strings.Builder
	w := m.width
	now := time.Now()
	if !m.st.Now.IsZero() && !m.read.IsZero() {
		now = m.st.Now.Add(time.Since(m.read)) // ages by the director's clock (Status.Now)
	}
	nodes, up, down, draining := 0, 0, 0, 0
	for _, s := range m.st.Services {
		for _, n := range s.Nodes {
			nodes++
			switch {
			case n.Health == director.HealthUp:
				up++
			case n.Health == director.HealthDown:
				down++
			}
			if n.Health == director.HealthDraining || n.Drain == director.DrainDraining {
				draining++
			}
		}
	}
	title := fmt.Sprintf("lvsnode controller top · %s", m.o.From)
	if !m.o.Kernel {
		title += map[bool]string{true: " · ready", false: " · NOT READY"}[m.st.Ready]
	}
	title += fmt.Sprintf(" · %d services · %d real servers", len(m.st.Services), nodes)
	if !m.o.Kernel {
		title += fmt.Sprintf(": %d up, %d down, %d draining", up, down, draining)
	}
	if !m.read.IsZero() {
		title += " · " + m.read.Format("15:04:05")
	}
	b.WriteString(styleTitle.Render(pad(title, w)) + "\n")
	keys := "sort: " + string(m.sort) + " (r rate, b bytes, c conns, a address) · p only problems · ↑↓ PgUp PgDn · q quit"
	if m.issues {
		keys = "ONLY PROBLEMS · " + keys
	}
	if m.err != nil {
		keys = "read failed: " + m.err.Error() + " (showing the last answer)"
		b.WriteString(styleDown.Render(cut(keys, w)) + "\n")
	} else {
		b.WriteString(cut(keys, w) + "\n")
	}
	b.WriteString(styleHead.Render(cut(header(m.addrWidth()), w)) + "\n")

	body := m.body(now)
	h := m.bodyHeight()
	top := min(max(0, m.top), max(0, len(body)-h))
	for i := top; i < len(body) && i < top+h; i++ {
		b.WriteString(body[i].style.Render(cut(body[i].text, w)) + "\n")
	}
	if len(body) > h {
		b.WriteString(fmt.Sprintf("lines %d-%d of %d", top+1, min(top+h, len(body)), len(body)))
	}
	return b.String()
}

type line struct {
	text  string
	style lipgloss.Style
}

// body is every service line followed by its real servers, in m.sort.
func (m Model) body(now time.Time) []line {
	aw := m.addrWidth()
	svcs := slices.Clone(m.st.Services)
	key := func(st ipvs.Stats, conns uint64) uint64 {
		switch m.sort {
		case SortRate:
			return st.CPS
		case SortBytes:
			return st.InBPS + st.OutBPS
		case SortConns:
			return conns
		}
		return 0
	}
	svcConns := func(s director.ServiceStatus) uint64 {
		var n uint64
		for _, x := range s.Nodes {
			n += uint64(x.ActiveConn) + uint64(x.InactConn)
		}
		return n
	}
	if m.sort != SortAddress {
		slices.SortStableFunc(svcs, func(a, b director.ServiceStatus) int {
			return cmp.Compare(key(b.Stats, svcConns(b)), key(a.Stats, svcConns(a)))
		})
	}
	var out []line
	for _, s := range svcs {
		nodes := slices.Clone(s.Nodes)
		if m.sort != SortAddress {
			slices.SortStableFunc(nodes, func(a, b director.NodeStatus) int {
				return cmp.Compare(key(b.Stats, uint64(b.ActiveConn)+uint64(b.InactConn)), key(a.Stats, uint64(a.ActiveConn)+uint64(a.InactConn)))
			})
		}
		if m.issues {
			nodes = slices.DeleteFunc(nodes, func(n director.NodeStatus) bool {
				return n.Health == director.HealthUp && (n.Drain == "" || n.Drain == director.DrainNone)
			})
			if len(nodes) == 0 {
				continue
			}
		}
		out = append(out, line{text: m.serviceLine(s), style: styleSvc})
		for _, n := range nodes {
			st := lipgloss.NewStyle()
			switch {
			case n.Health == director.HealthDown:
				st = styleDown
			case n.Health == director.HealthDraining || (n.Drain != "" && n.Drain != director.DrainNone):
				st = styleWarn
			}
			out = append(out, line{text: nodeLine(n, now, aw), style: st})
		}
	}
	return out
}

func (m Model) serviceLine(s director.ServiceStatus) string {
	t := s.Service + " " + s.Scheduler
	if s.Flags != "" {
		t += " " + s.Flags
	}
	if m.o.Kernel {
		t += fmt.Sprintf(" · %d real servers", len(s.Nodes))
	} else {
		t += fmt.Sprintf(" · up %d/%d", s.Up, len(s.Nodes))
		if s.Quorum > 0 {
			t += fmt.Sprintf(" · quorum %d", s.Quorum)
		}
		if s.Sorry {
			t += " · SORRY SERVER " + s.SorryServer
		}
		if !s.Managed {
			t += " · not managed"
		}
	}
	return t + fmt.Sprintf(" · %s conn/s · %sB/s in · %sB/s out", human(s.Stats.CPS), human(s.Stats.InBPS), human(s.Stats.OutBPS))
}

// nodeLine is one real server under header's columns: the address (whole,
// aw wide) and its health first, so `--once | awk` finds them as $1 and $2
// on every line whatever the other columns hold.
func nodeLine(n director.NodeStatus, now time.Time, aw int) string {
	drain := n.Drain
	if drain == "" {
		drain = director.DrainNone
	}
	if drain == director.DrainDraining {
		drain += fmt.Sprintf(" %d left", uint64(n.ActiveConn)+uint64(n.InactConn)+uint64(n.PersistConn))
	}
	return fmt.Sprintf("  %-*s %-9s %-6s %6d %5d %-24s %-18s %6d %6d %7s %9s %9s %s",
		aw, health.CleanText(addr(n.NodeRef)), n.Health, n.Method, n.Weight, n.ConfiguredWeight, cut(checkText(n.LastCheck, now), 24), cut(drain, 18),
		n.ActiveConn, n.InactConn, human(n.Stats.CPS), human(n.Stats.InBPS), human(n.Stats.OutBPS), n.Agent)
}

func addr(r director.NodeRef) string {
	a, err := netip.ParseAddr(r.Address)
	if err != nil || r.Port == 0 {
		return r.Address
	}
	return netip.AddrPortFrom(a, r.Port).String()
}

func checkText(c director.Check, now time.Time) string {
	if c.At.IsZero() {
		return "-"
	}
	ago := now.Sub(c.At).Round(time.Second)
	if ago < 0 {
		ago = 0
	}
	if c.OK {
		return fmt.Sprintf("ok %.1fms %s", c.LatencyMS, ago)
	}
	return fmt.Sprintf("FAIL %s", c.Reason)
}

// human is 950, 1.2K, 34M (ipvsadm --rate's K/M/G, shorter).
func human(v uint64) string {
	f := float64(v)
	for _, u := range []string{"", "K", "M", "G", "T"} {
		if f < 1000 || u == "T" {
			if u == "" {
				return fmt.Sprintf("%d", v)
			}
			if f < 10 {
				return fmt.Sprintf("%.1f%s", f, u)
			}
			return fmt.Sprintf("%.0f%s", f, u)
		}
		f /= 1000
	}
	return ""
}

// cut shortens s to w columns (w <= 0: unchanged). Every text top prints
// passes here, so it also replaces control characters: health cleans the
// reasons a real server sends, and this is the second line of defence for
// any other text in a Status (a terminal must only ever get lipgloss's own
// escapes).
func cut(s string, w int) string {
	s = health.CleanText(s)
	r := []rune(s)
	if w <= 0 || len(r) <= w {
		return s
	}
	return string(r[:w])
}

func pad(s string, w int) string {
	s = cut(s, w)
	if n := w - len([]rune(s)); n > 0 {
		s += strings.Repeat(" ", n)
	}
	return s
}

// FromTable is the kernel's table as a Status, for top without a daemon:
// every service as unmanaged, real servers with their weight, connections
// and rates; health, drain and agent unknown.
func FromTable(t controller.Table) director.Status {
	st := director.Status{Services: []director.ServiceStatus{}}
	for _, e := range t.Services {
		name := director.ServiceName(e.Service.ServiceKey)
		s := director.ServiceStatus{Service: name, Scheduler: e.Service.Scheduler, Flags: controller.ServiceFlags(e.Service), Stats: e.Service.Stats}
		for _, d := range e.Dests {
			if d.Weight > 0 {
				s.Up++
			}
			s.Nodes = append(s.Nodes, director.NodeStatus{
				NodeRef: director.NodeRef{Service: name, Address: d.Addr.String(), Port: d.Port},
				Method:  methodName(d.Forward), ConfiguredWeight: d.Weight, Weight: d.Weight,
				Health: director.HealthUnknown, Drain: director.DrainNone, Agent: director.AgentUnknown,
				ActiveConn: d.ActiveConns, InactConn: d.InactiveConns, PersistConn: d.PersistentConns, Stats: d.Stats,
			})
		}
		st.Services = append(st.Services, s)
	}
	return st
}

func methodName(f ipvs.Forward) string {
	switch f {
	case ipvs.Tunnel:
		return "tun"
	case ipvs.Masq:
		return "nat"
	}
	return "dr"
}

// Text is one frame of the view without a terminal (--once): width
// columns, every line.
func Text(o Options, st director.Status, width int) string {
	m := New(o)
	m.st, m.read, m.width, m.height = st, time.Now(), width, 1<<20
	s := m.View()
	return stripANSI(s)
}

func stripANSI(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '[' {
			j := i + 2
			for j < len(s) && (s[j] < 0x40 || s[j] > 0x7e) {
				j++
			}
			i = j
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
