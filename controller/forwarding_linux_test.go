package controller

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/lvsnode/lvsnode/internal/netnstest"
	"github.com/lvsnode/lvsnode/sysctl"
)

// On the local kernel, in a fresh namespace: a router advertisement sent
// over a veth pair. A default route learnt from an RA before the switch
// survives it. With all.forwarding=1 an interface at accept_ra=1
// ignores it (the control, on pair b: what a director at the defaults
// would suffer), and after --enable-forwarding's writes the interface that
// had accept_ra=1 (now 2) still takes its default route from it.
func TestEnableIPv6ForwardingKeepsRAsInNetns(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	sc, err := sysctl.New(sysctl.DefaultRoot)
	if err != nil {
		t.Fatal(err)
	}
	conf := func(dev, name, v string) {
		t.Helper()
		if err := sc.Set(sysctl.Key{"net", "ipv6", "conf", dev, name}, v); err != nil {
			t.Fatal(err)
		}
	}
	conf("default", "accept_dad", "0") // link-local sources usable at once
	conf("default", "accept_ra", "1")  // the kernel's default, stated
	conf("all", "forwarding", "0")
	vethPair(t, "a0", "a1")
	ra0 := readSysctl(t, sc, "a0", "accept_ra")
	if ra0 != "1" {
		t.Fatalf("a0 accept_ra = %s, want the default 1", ra0)
	}
	// A director that already has its default route from an RA: turning
	// forwarding on purges RA-learnt default routes of interfaces not at
	// accept_ra=2, so the order of the writes matters (accept_ra=2 first).
	conf("a1", "accept_ra", "0") // the sender's own looped copy stays out
	sendRA(t, "a1")
	if !waitDefaultRoute(t, "a0", 3*time.Second) {
		t.Fatal("a0: no default route from the first RA")
	}

	c := &Controller{Sysctl: sc, EnableForwarding: true, Out: testWriter{t}}
	notes, changed, err := ensureForwarding(c.Sysctl, true, true, false, interfaceNames)
	if err != nil || !changed {
		t.Fatalf("ensureForwarding: %v (changed %v)", err, changed)
	}
	t.Logf("notes: %q", notes)
	if v := readSysctl(t, sc, "all", "forwarding"); v != "1" {
		t.Fatalf("all.forwarding = %s", v)
	}
	if v := readSysctl(t, sc, "a0", "accept_ra"); v != "2" {
		t.Errorf("a0 accept_ra = %s, want 2", v)
	}
	if !waitDefaultRoute(t, "a0", 100*time.Millisecond) {
		t.Errorf("a0 lost the default route it had from an RA when forwarding was turned on")
	}

	// Control: a pair created now, its receiving end forced back to 1.
	vethPair(t, "b0", "b1")
	conf("b0", "accept_ra", "1")
	for _, p := range []struct {
		rx, tx string
		want   bool
	}{{"b0", "b1", false}, {"a0", "a1", true}} {
		conf(p.tx, "accept_ra", "0") // the sender's own looped copy stays out
		sendRA(t, p.tx)
		got := waitDefaultRoute(t, p.rx, 3*time.Second)
		if got != p.want {
			t.Errorf("%s (accept_ra %s, forwarding on): default route from the RA = %v, want %v",
				p.rx, readSysctl(t, sc, p.rx, "accept_ra"), got, p.want)
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }

func readSysctl(t *testing.T, sc sysctl.Client, dev, name string) string {
	t.Helper()
	v, err := sc.Get(sysctl.Key{"net", "ipv6", "conf", dev, name})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func vethPair(t *testing.T, a, b string) {
	t.Helper()
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: a}, PeerName: b}
	if err := netlink.LinkAdd(v); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{a, b} {
		l, err := netlink.LinkByName(n)
		if err == nil {
			err = netlink.LinkSetUp(l)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// Wait for the link-local addresses (no DAD: default.accept_dad=0).
	for i := 0; i < 100; i++ {
		if ifi, err := net.InterfaceByName(b); err == nil {
			if as, _ := ifi.Addrs(); len(as) > 0 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s got no link-local address", b)
}

// sendRA multicasts a minimal router advertisement (router lifetime 1800 s,
// no options) to ff02::1 out of dev, hop limit 255 as RFC 4861 requires;
// the kernel fills in the ICMPv6 checksum.
func sendRA(t *testing.T, dev string) {
	t.Helper()
	ifi, err := net.InterfaceByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW, unix.IPPROTO_ICMPV6)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, 255); err != nil {
		t.Fatal(err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, ifi.Index); err != nil {
		t.Fatal(err)
	}
	ra := []byte{134, 0, 0, 0, 64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0}
	to := &unix.SockaddrInet6{Addr: netip.MustParseAddr("ff02::1").As16(), ZoneId: uint32(ifi.Index)}
	if err := unix.Sendto(fd, ra, 0, to); err != nil {
		t.Fatal(err)
	}
}

// waitDefaultRoute reports whether an IPv6 default route via dev appears.
func waitDefaultRoute(t *testing.T, dev string, within time.Duration) bool {
	t.Helper()
	l, err := netlink.LinkByName(dev)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		rs, err := netlink.RouteList(l, netlink.FAMILY_V6)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.Dst == nil || r.Dst.IP.IsUnspecified() {
				if ones, _ := maskOnes(r.Dst); ones == 0 {
					return true
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

func maskOnes(n *net.IPNet) (int, int) {
	if n == nil {
		return 0, 128
	}
	return n.Mask.Size()
}
