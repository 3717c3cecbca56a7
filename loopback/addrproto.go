package loopback

// Address protocol (IFA_PROTO, Linux 5.18): who added an address, kept by
// the kernel with the address as rtm_protocol is kept with a route. It is
// the only ownership mark an IPv6 address can carry (IPv6 has no labels).
// vishvananda/netlink v1.3.1 neither sends nor parses it, so adding and
// listing addresses is done here with its nl package. An older kernel
// ignores the attribute on add (it parses RTM_NEWADDR liberally) and
// reports none: Addr.Protocol then reads 0.

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// ifaProto is IFA_PROTO from linux/if_addr.h (not in x/sys/unix).
const ifaProto = 11

// addAddr sends RTM_NEWADDR for a on the link with index idx, with its
// label (IPv4) and protocol, as `ip addr add P dev D label L proto N`.
func addAddr(idx int, a Addr) error {
	req := nl.NewNetlinkRequest(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK)
	family := unix.AF_INET6
	if a.Prefix.Addr().Is4() {
		family = unix.AF_INET
	}
	msg := nl.NewIfAddrmsg(family)
	msg.Index = uint32(idx)
	msg.Prefixlen = uint8(a.Prefix.Bits())
	req.AddData(msg)
	ip := a.Prefix.Addr().AsSlice()
	req.AddData(nl.NewRtAttr(unix.IFA_LOCAL, ip))
	req.AddData(nl.NewRtAttr(unix.IFA_ADDRESS, ip))
	if family == unix.AF_INET && a.Label != "" {
		req.AddData(nl.NewRtAttr(unix.IFA_LABEL, nl.ZeroTerminated(a.Label)))
	}
	if a.Protocol != 0 {
		req.AddData(nl.NewRtAttr(ifaProto, []byte{uint8(a.Protocol)}))
	}
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// listAddrs dumps the addresses of the link with index idx, both
// families, with label and protocol. A dump the kernel interrupted returns
// the error wrapping netlink.ErrDumpInterrupted.
func listAddrs(idx int, dev string) ([]Addr, error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETADDR, unix.NLM_F_DUMP)
	req.AddData(nl.NewIfAddrmsg(unix.AF_UNSPEC))
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWADDR)
	if err != nil {
		return nil, err
	}
	var out []Addr
	for _, m := range msgs {
		a, ok, err := parseAddr(m, idx, dev)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, a)
		}
	}
	return out, nil
}

func parseAddr(m []byte, idx int, dev string) (Addr, bool, error) {
	if len(m) < unix.SizeofIfAddrmsg {
		return Addr{}, false, errors.New("short RTM_NEWADDR message")
	}
	msg := nl.DeserializeIfAddrmsg(m)
	if int(msg.Index) != idx {
		return Addr{}, false, nil
	}
	attrs, err := nl.ParseRouteAttr(m[unix.SizeofIfAddrmsg:])
	if err != nil {
		return Addr{}, false, fmt.Errorf("parse RTM_NEWADDR: %w", err)
	}
	var local, address []byte
	a := Addr{Dev: dev}
	for _, at := range attrs {
		switch at.Attr.Type {
		case unix.IFA_LOCAL:
			local = at.Value
		case unix.IFA_ADDRESS:
			address = at.Value
		case unix.IFA_LABEL:
			if l := string(trimNUL(at.Value)); l != dev {
				a.Label = l // the kernel reports dev itself for "no label"
			}
		case ifaProto:
			if len(at.Value) > 0 {
				a.Protocol = int(at.Value[0])
			}
		}
	}
	ip := local // IPv4: IFA_LOCAL is the address, IFA_ADDRESS the peer
	if ip == nil {
		ip = address // IPv6 sends only IFA_ADDRESS
	}
	ad, ok := netip.AddrFromSlice(ip)
	if !ok {
		return Addr{}, false, nil
	}
	a.Prefix = netip.PrefixFrom(ad.Unmap(), int(msg.Prefixlen))
	if !a.Prefix.Addr().Is4() {
		a.Label = ""
	}
	return a, true, nil
}

func trimNUL(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}
