package sockdiag

import (
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/lvsnode/lvsnode/internal/netnstest"
)

// ssCount is the oracle: ss(8) reads the same sock_diag dump, written in C
// by the kernel's own people; a test tool may exec it, product code never.
func ssCount(t *testing.T, vip netip.Addr) int {
	t.Helper()
	src := vip.String()
	if vip.Is6() {
		src = "[" + src + "]"
	}
	out, err := exec.Command("ss", "-Htn", "state", "established", "src", src).CombinedOutput()
	if err != nil {
		t.Fatalf("ss: %v\n%s", err, out)
	}
	return len(strings.Fields(strings.TrimSpace(string(out)))) / 4 // Recv-Q Send-Q Local Peer
}

func addLo(t *testing.T, p string) {
	t.Helper()
	lo, _ := netlink.LinkByName("lo")
	a, _ := netlink.ParseAddr(p)
	a.Flags = unix.IFA_F_NODAD // usable at once, as the agent's VIPs on lo are
	if err := netlink.AddrAdd(lo, a); err != nil {
		t.Fatalf("add %s: %v", p, err)
	}
}

// connect opens n connections from src to a listener on vip and keeps
// both ends; close ends them.
func connect(t *testing.T, network string, ln net.Listener, src string, n int) (close func()) {
	t.Helper()
	var conns []net.Conn
	for range n {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		c, err := d.Dial(network, ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c, s)
	}
	return func() {
		for _, c := range conns {
			c.Close()
		}
	}
}

// TestKernelCountsEstablishedToVIPs: IPv4, IPv6, and IPv4 clients of a
// dual-stack IPv6 listener (family AF_INET6, source ::ffff:VIP) are
// counted by local address, listeners and other addresses are not, and
// the count agrees with ss at each step.
func TestKernelCountsEstablishedToVIPs(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	addLo(t, "10.0.0.100/32")
	addLo(t, "10.0.0.5/32")
	addLo(t, "fd00::100/128")
	addLo(t, "fd00::5/128")
	v4, v6 := netip.MustParseAddr("10.0.0.100"), netip.MustParseAddr("fd00::100")
	vips := []netip.Addr{v4, v6}
	check := func(step string, want int) {
		t.Helper()
		got, err := Kernel{}.Established(vips)
		if err != nil {
			t.Fatal(err)
		}
		oracle := ssCount(t, v4) + ssCount(t, v6)
		t.Logf("%s: inet_diag %d, ss %d", step, got, oracle)
		if got != want || oracle != want {
			t.Fatalf("%s: inet_diag counts %d, ss %d, want %d", step, got, oracle, want)
		}
	}
	ln4, err := net.Listen("tcp4", "10.0.0.100:80")
	if err != nil {
		t.Fatal(err)
	}
	defer ln4.Close()
	ln6, err := net.Listen("tcp6", "[fd00::100]:80")
	if err != nil {
		t.Fatal(err)
	}
	defer ln6.Close()
	check("listeners only", 0)
	end4 := connect(t, "tcp4", ln4, "10.0.0.5", 2)
	check("two IPv4 clients", 2)
	end6 := connect(t, "tcp6", ln6, "fd00::5", 1)
	check("and one IPv6 client", 3)
	// A client socket whose local address is not a VIP, to a non-VIP
	// listener: not counted.
	other, err := net.Listen("tcp4", "10.0.0.5:81")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	endOther := connect(t, "tcp4", other, "10.0.0.5", 1)
	check("a connection between other addresses", 3)
	endOther()
	end4()
	end6()
	check("all closed", 0)

	// An IPv4 client of a dual-stack listener: AF_INET6, ::ffff:10.0.0.100.
	dual, err := net.Listen("tcp", "[::]:8080")
	if err != nil {
		t.Fatal(err)
	}
	defer dual.Close()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("10.0.0.5")}}
	c, err := d.Dial("tcp4", "10.0.0.100:8080")
	if err != nil {
		t.Fatal(err)
	}
	s, err := dual.Accept()
	if err != nil {
		t.Fatal(err)
	}
	if la := s.LocalAddr().String(); !strings.Contains(la, "10.0.0.100") {
		t.Logf("accepted local address %s", la)
	}
	check("an IPv4 client of a dual-stack listener", 1)
	c.Close()
	s.Close()
}

func TestRequestAndMessageLayout(t *testing.T) {
	r := request(10) // AF_INET6
	if len(r) != reqLen || r[0] != 10 || r[1] != 6 || r[4]|r[5]|r[6]|r[7] == 0 {
		t.Fatalf("request %x", r)
	}
	m := make([]byte, msgLen)
	m[0] = 2
	copy(m[8:], []byte{10, 0, 0, 100})
	if a, err := localAddr(m); err != nil || a != netip.MustParseAddr("10.0.0.100") {
		t.Fatalf("localAddr = %v, %v", a, err)
	}
	if _, err := localAddr(m[:10]); err == nil {
		t.Fatal("a short message must be an error, not a zero address")
	}
}
