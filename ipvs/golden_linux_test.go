//go:build linux

package ipvs

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/mdlayher/netlink"
)

// Golden bytes: testdata/*.hex are what ipvsadm sent and the lab kernel
// answered for one command each (lab/capture/ipvs-golden.sh). Each test
// runs the project's client against a scripted kernel that replays the
// captured answers, and checks that every request the client sends is
// byte for byte the one ipvsadm sent (but for the family ID, sequence
// number and port ID, which differ per socket), and that the answers
// decode to the table the commands built.

// capture is one ipvsadm run: its IPVS requests (GET_INFO, which every
// ipvsadm run sends first, and the control family's traffic left out) and
// the datagrams the kernel answered to each.
type capture struct {
	cmd     string
	reqs    []netlink.Message
	answers [][][]byte
}

func loadCapture(t *testing.T, name string) capture {
	t.Helper()
	f, err := os.Open("testdata/" + name + ".hex")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var c capture
	var family netlink.HeaderType
	cur := -1 // index of the request being answered
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "# ") {
			c.cmd = line[2:]
			continue
		}
		b, err := hex.DecodeString(line)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		msgs, err := parseMessages(nil, b)
		if err != nil || len(msgs) == 0 {
			t.Fatalf("%s: %v", name, err)
		}
		m := msgs[0]
		switch {
		case m.Header.Flags&netlink.Request != 0 && m.Header.Type == 0x10: // genl control
			cur = -1
		case m.Header.Flags&netlink.Request != 0:
			family = m.Header.Type
			if m.Data[0] == cmdGetInfo {
				cur = -1
				continue
			}
			c.reqs = append(c.reqs, m)
			c.answers = append(c.answers, nil)
			cur = len(c.reqs) - 1
		case cur >= 0 && m.Header.Sequence == c.reqs[cur].Header.Sequence:
			c.answers[cur] = append(c.answers[cur], b)
		}
	}
	if family == 0 || len(c.reqs) == 0 {
		t.Fatalf("%s: no IPVS request", name)
	}
	return c
}

// restamp rewrites a captured answer for the client's request m.
func restamp(d []byte, m netlink.Message, family netlink.HeaderType) []byte {
	d = append([]byte(nil), d...)
	for b := d; len(b) >= 16; {
		l := int(binary.NativeEndian.Uint32(b))
		if typ := netlink.HeaderType(binary.NativeEndian.Uint16(b[4:])); typ == family {
			binary.NativeEndian.PutUint16(b[4:], testFamily)
		}
		binary.NativeEndian.PutUint32(b[8:], m.Header.Sequence)
		binary.NativeEndian.PutUint32(b[12:], m.Header.PID)
		b = b[min((l+3)&^3, len(b)):]
	}
	return d
}

// replay runs call on a client whose kernel replays capture name, and
// compares the requests.
func replay(t *testing.T, name string, call func(n *netlinkClient)) {
	t.Helper()
	c := loadCapture(t, name)
	family := c.reqs[0].Header.Type
	i := 0
	n, k, _ := newTestClient(t, func(_ *scriptKernel, m netlink.Message) [][]byte {
		if i >= len(c.answers) {
			return nil
		}
		var out [][]byte
		for _, d := range c.answers[i] {
			out = append(out, restamp(d, m, family))
		}
		i++
		return out
	})
	call(n)
	got, _ := k.requests()
	if len(got) != len(c.reqs) {
		t.Fatalf("%s (%s): %d requests, ipvsadm sent %d", name, c.cmd, len(got), len(c.reqs))
	}
	for j, m := range got {
		if !sameRequest(m, c.reqs[j]) {
			t.Errorf("%s (%s): request %d differs from ipvsadm's\n got %x\nwant %x", name, c.cmd, j+1, wire(m), wire(c.reqs[j]))
		}
	}
}

// wire is the message's bytes, family ID, sequence and port ID zeroed.
func wire(m netlink.Message) []byte {
	m.Header.Type, m.Header.Sequence, m.Header.PID = 0, 0, 0
	m.Header.Length = uint32(16 + len(m.Data))
	b, _ := m.MarshalBinary()
	return b
}

func sameRequest(a, b netlink.Message) bool { return bytes.Equal(wire(a), wire(b)) }

var (
	vip   = netip.MustParseAddr("10.0.0.100")
	vip6  = netip.MustParseAddr("fd00::100")
	svc80 = ServiceKey{Protocol: TCP, Addr: vip, Port: 80}
	fwm6  = ServiceKey{FWMark: 7, IPv6: true}
	svc6  = ServiceKey{Protocol: TCP, Addr: vip6, Port: 80}
)

func dest(a string, port uint16, fwd Forward, w uint32) Destination {
	return Destination{DestKey: DestKey{Addr: netip.MustParseAddr(a), Port: port}, Forward: fwd, Weight: w}
}

// goldenServices are the services the capture's commands create, by name.
var goldenServices = []struct {
	name string
	svc  Service
}{
	{"add-service-tcp", Service{ServiceKey: svc80, Scheduler: "wrr", Netmask: 32}},
	{"add-service-persistent", Service{ServiceKey: ServiceKey{Protocol: TCP, Addr: vip, Port: 443}, Scheduler: "sh", Flags: FlagPersistent | FlagSched2, Timeout: 300, Netmask: 24}},
	{"add-service-netmask0", Service{ServiceKey: ServiceKey{Protocol: TCP, Addr: vip, Port: 444}, Scheduler: "rr", Flags: FlagPersistent, Timeout: 60, Netmask: 0}},
	{"add-service-udp-ops", Service{ServiceKey: ServiceKey{Protocol: UDP, Addr: vip, Port: 53}, Scheduler: "rr", Flags: FlagOnePacket, Netmask: 32}},
	{"add-service-sctp", Service{ServiceKey: ServiceKey{Protocol: SCTP, Addr: vip, Port: 3868}, Scheduler: "lc", Netmask: 32}},
	{"add-service-fwmark6", Service{ServiceKey: fwm6, Scheduler: "mh", Flags: FlagPersistent | FlagSched1 | FlagSched2, Timeout: 60, Netmask: 64}},
	{"add-service-ipv6", Service{ServiceKey: svc6, Scheduler: "wlc", Netmask: 128}},
	{"add-service-pe-sip", Service{ServiceKey: ServiceKey{Protocol: UDP, Addr: vip, Port: 5060}, Scheduler: "rr", Flags: FlagPersistent, Timeout: 60, Netmask: 32, PEName: "sip"}},
}

// goldenDests are the real servers the capture's commands add, by name.
var goldenDests = []struct {
	name string
	svc  ServiceKey
	dest Destination
}{
	{"add-dest-dr", svc80, func() Destination {
		d := dest("10.0.0.11", 80, Route, 3)
		d.UpperThreshold, d.LowerThreshold = 100, 10
		return d
	}()},
	{"add-dest-nat", svc80, dest("10.0.0.12", 8080, Masq, 1)},
	{"add-dest-tun-gue", svc80, func() Destination {
		d := dest("10.0.0.13", 80, Tunnel, 2)
		d.TunnelType, d.TunnelPort, d.TunnelFlags = GUE, 6080, Csum
		return d
	}()},
	{"add-dest-tun-gre", svc80, func() Destination {
		d := dest("10.0.0.14", 80, Tunnel, 1)
		d.TunnelType, d.TunnelFlags = GRE, NoCsum
		return d
	}()},
	{"add-dest-ipip", svc80, dest("10.0.0.15", 80, Tunnel, 1)},
	{"add-dest-ipv6", svc6, dest("fd00::11", 80, Route, 1)},
	{"add-dest-fwmark6", fwm6, dest("fd00::12", 0, Route, 1)},
}

func wantAcked(t *testing.T, name string, errs []error) {
	t.Helper()
	for _, err := range errs {
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestGoldenChanges(t *testing.T) {
	for _, c := range goldenServices {
		replay(t, c.name, func(n *netlinkClient) { wantAcked(t, c.name, n.Apply([]Op{CreateServiceOp(c.svc)})) })
	}
	for _, c := range goldenDests {
		replay(t, c.name, func(n *netlinkClient) { wantAcked(t, c.name, n.Apply([]Op{CreateDestOp(c.svc, c.dest)})) })
	}
	edits := []struct {
		name string
		op   Op
	}{
		{"edit-service", UpdateServiceOp(Service{ServiceKey: svc80, Scheduler: "rr", Netmask: 32})},
		{"edit-dest", UpdateDestOp(svc80, dest("10.0.0.11", 80, Route, 5))},
		{"delete-dest", RemoveDestOp(svc80, DestKey{Addr: netip.MustParseAddr("10.0.0.12"), Port: 8080})},
		{"delete-service", RemoveServiceOp(svc80)},
		{"delete-service-fwmark6", RemoveServiceOp(fwm6)},
	}
	for _, c := range edits {
		replay(t, c.name, func(n *netlinkClient) { wantAcked(t, c.name, n.Apply([]Op{c.op})) })
	}
}

func TestGoldenCommands(t *testing.T) {
	ok := func(name string, err error) {
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	replay(t, "zero-service", func(n *netlinkClient) { ok("zero", n.Zero(&svc80)) })
	replay(t, "zero-all", func(n *netlinkClient) { ok("zero all", n.Zero(nil)) })
	replay(t, "flush", func(n *netlinkClient) { ok("flush", n.Flush()) })
	replay(t, "set-timeouts", func(n *netlinkClient) { ok("set", n.SetTimeouts(Timeouts{TCP: 1000, TCPFin: 110, UDP: 310})) })
	replay(t, "get-timeouts", func(n *netlinkClient) {
		if tm, err := n.Timeouts(); err != nil || tm != (Timeouts{TCP: 1000, TCPFin: 110, UDP: 310}) {
			t.Errorf("timeouts: %+v, %v", tm, err)
		}
	})
	// Sync daemons: the client's commands send ipvsadm's bytes, and the
	// kernel's lists decode to what was started.
	g82, g6 := netip.MustParseAddr("224.0.0.82"), netip.MustParseAddr("ff02::99")
	replay(t, "start-daemon", func(n *netlinkClient) {
		ok("start", n.StartDaemon(Daemon{State: DaemonMaster, Interface: "sync0", SyncID: 5}))
	})
	replay(t, "start-daemon-backup-full", func(n *netlinkClient) {
		ok("start backup", n.StartDaemon(Daemon{State: DaemonBackup, Interface: "sync0", SyncID: 7, MaxLen: 1400, Group: g82, Port: 9000, TTL: 2}))
	})
	replay(t, "start-daemon-master6", func(n *netlinkClient) {
		ok("start master6", n.StartDaemon(Daemon{State: DaemonMaster, Interface: "sync0", SyncID: 8, Group: g6}))
	})
	replay(t, "stop-daemon", func(n *netlinkClient) { ok("stop", n.StopDaemon(DaemonMaster)) })
	replay(t, "stop-daemon-backup", func(n *netlinkClient) { ok("stop backup", n.StopDaemon(DaemonBackup)) })
	for _, c := range []struct {
		name string
		want []Daemon
	}{
		{"get-daemon", []Daemon{{State: DaemonMaster, Interface: "sync0", SyncID: 5, MaxLen: 1472, Group: netip.MustParseAddr("224.0.0.81"), Port: 8848, TTL: 1}}},
		{"get-daemon-both", []Daemon{
			{State: DaemonMaster, Interface: "sync0", SyncID: 8, MaxLen: 1452, Group: g6, Port: 8848, TTL: 1},
			{State: DaemonBackup, Interface: "sync0", SyncID: 7, MaxLen: 1400, Group: g82, Port: 9000, TTL: 2},
		}},
	} {
		replay(t, c.name, func(n *netlinkClient) {
			ds, err := n.Daemons()
			if err != nil || !slices.Equal(ds, c.want) {
				t.Errorf("%s: %+v, %v\nwant %+v", c.name, ds, err, c.want)
			}
		})
	}
}

// The kernel's answers to ipvsadm -Ln, taken after the capture's adds and
// edits, decode to exactly the table those commands built.
func TestGoldenList(t *testing.T) {
	want := map[ServiceKey]Service{}
	for _, c := range goldenServices {
		want[c.svc.ServiceKey] = c.svc
	}
	s := want[svc80]
	s.Scheduler = "rr" // edit-service
	want[svc80] = s
	wantDests := map[ServiceKey]map[DestKey]Destination{}
	for _, c := range goldenDests {
		if wantDests[c.svc] == nil {
			wantDests[c.svc] = map[DestKey]Destination{}
		}
		wantDests[c.svc][c.dest.DestKey] = c.dest
	}
	d11 := dest("10.0.0.11", 80, Route, 5) // edit-dest
	wantDests[svc80][d11.DestKey] = d11
	for _, name := range []string{"list", "list-stats"} {
		// ipvsadm dumps the real servers in its sorted order of services.
		var order []ServiceKey
		for _, m := range loadCapture(t, name).reqs[1:] {
			s, err := decodeService(m.Data[4:])
			if err != nil {
				t.Fatal(err)
			}
			order = append(order, s.ServiceKey)
		}
		replay(t, name, func(n *netlinkClient) {
			svcs, err := n.Services()
			if err != nil || len(svcs) != len(want) {
				t.Fatalf("%s: %d services, %v", name, len(svcs), err)
			}
			for _, s := range svcs {
				if s != want[s.ServiceKey] {
					t.Errorf("%s: service\n got %+v\nwant %+v", name, s, want[s.ServiceKey])
				}
			}
			for _, k := range order {
				ds, err := n.Destinations(k)
				if err != nil || len(ds) != len(wantDests[k]) {
					t.Fatalf("%s: %s: %d real servers, %v", name, k, len(ds), err)
				}
				for _, d := range ds {
					if d != wantDests[k][d.DestKey] {
						t.Errorf("%s: real server\n got %+v\nwant %+v", name, d, wantDests[k][d.DestKey])
					}
				}
			}
		})
	}
	replay(t, "list-empty", func(n *netlinkClient) {
		if svcs, err := n.Services(); err != nil || len(svcs) != 0 {
			t.Errorf("empty table: %+v, %v", svcs, err)
		}
	})
}
