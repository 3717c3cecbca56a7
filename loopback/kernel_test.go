package loopback

import (
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"github.com/lvsnode/lvsnode/internal/netnstest"
)

// protoOracle dumps addresses with mdlayher/netlink, a parser independent
// of the one under test (iproute2 6.1 cannot show IFA_PROTO), and returns
// IFA_PROTO by address.
func protoOracle(t *testing.T) map[netip.Addr]int {
	t.Helper()
	c, err := netlink.Dial(unix.NETLINK_ROUTE, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := netlink.Message{
		Header: netlink.Header{Type: unix.RTM_GETADDR, Flags: netlink.Request | netlink.Dump},
		Data:   make([]byte, unix.SizeofIfAddrmsg), // family AF_UNSPEC
	}
	msgs, err := c.Execute(req)
	if err != nil {
		t.Fatal(err)
	}
	out := map[netip.Addr]int{}
	for _, m := range msgs {
		ad, err := netlink.NewAttributeDecoder(m.Data[unix.SizeofIfAddrmsg:])
		if err != nil {
			t.Fatal(err)
		}
		var ip netip.Addr
		proto := 0
		for ad.Next() {
			switch ad.Type() {
			case unix.IFA_ADDRESS:
				ip, _ = netip.AddrFromSlice(ad.Bytes())
			case ifaProto:
				proto = int(ad.Uint8())
			}
		}
		out[ip.Unmap()] = proto
	}
	return out
}

// The kernel keeps an address's protocol (IFA_PROTO) for both families and
// reports it in dumps, as the Fake does: the agent's IPv6 ownership mark.
func TestKernelAddressProtocolIsKept(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	k, err := NewKernel()
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	add := []Addr{
		{Dev: "lo", Prefix: netip.MustParsePrefix("10.0.0.1/32"), Label: "lo:lvsnode", Protocol: 76},
		{Dev: "lo", Prefix: netip.MustParsePrefix("fd00::1/128"), Protocol: 76},
		{Dev: "lo", Prefix: netip.MustParsePrefix("fd00::2/128")},
	}
	for _, a := range add {
		if err := k.AddAddr(a); err != nil {
			t.Fatal(err)
		}
	}
	got, err := k.Addrs("lo")
	if err != nil {
		t.Fatal(err)
	}
	oracle := protoOracle(t)
	for _, want := range add {
		i := -1
		for j, g := range got {
			if g.Prefix == want.Prefix {
				i = j
			}
		}
		if i < 0 || got[i] != want {
			t.Errorf("Addrs: %+v, want %+v (all: %+v)", got, want, got)
		}
		if p := oracle[want.Prefix.Addr()]; p != want.Protocol {
			t.Errorf("kernel reports proto %d for %s, want %d", p, want.Prefix, want.Protocol)
		}
	}
	out, _ := exec.Command("ip", "-4", "addr", "show", "dev", "lo").CombinedOutput()
	if !strings.Contains(string(out), "10.0.0.1/32 scope global lo:lvsnode") {
		t.Errorf("ip addr:\n%s", out)
	}
	if err := k.AddAddr(add[1]); err == nil {
		t.Error("adding an existing address did not fail")
	}
}
