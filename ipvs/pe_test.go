package ipvs

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/mdlayher/netlink"
)

// A GET_SERVICE answer laid out as ip_vs_genl_fill_service writes it
// (Linux 6.1) for "-A -u 10.0.0.100:5060 -s rr -p 60 -M 0.0.0.24 --pe sip":
// the engine and a mask that is not a prefix both survive decoding (the
// decoder used to count the mask's leading ones: 0.0.0.24 read as /0).
func TestDecodeServiceOddMask(t *testing.T) {
	answer := func(mask []byte) []byte {
		ae := netlink.NewAttributeEncoder()
		ae.Nested(attrService, func(ae *netlink.AttributeEncoder) error {
			ae.Uint16(svcAF, afInet)
			ae.Uint16(svcProto, uint16(UDP))
			ae.Bytes(svcAddr, addr16(netip.MustParseAddr("10.0.0.100")))
			ae.Bytes(svcPort, be16(5060))
			ae.String(svcSched, "rr")
			ae.String(svcPEName, "sip")
			ae.Bytes(svcFlags, []byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
			ae.Uint32(svcTimeout, 60)
			ae.Bytes(svcNetmask, mask)
			return nil
		})
		return mustEncode(ae)
	}
	s, err := decodeService(answer([]byte{0, 0, 0, 24}))
	if err != nil {
		t.Fatal(err)
	}
	if s.PEName != "sip" || s.Mask4 != 24 || s.Netmask != 32 {
		t.Errorf("decoded PEName %q, Mask4 %#x, Netmask %d; want sip, 0x18, 32", s.PEName, s.Mask4, s.Netmask)
	}
	s, _ = decodeService(answer([]byte{255, 255, 255, 0}))
	if s.Mask4 != 0 || s.Netmask != 24 {
		t.Errorf("255.255.255.0 decoded as Mask4 %#x, Netmask %d", s.Mask4, s.Netmask)
	}
}

// Create and edit send Mask4 as the mask's bytes in network order, as
// libipvs sends what inet_aton made of -M.
func TestEncodeServiceOddMask(t *testing.T) {
	s := Service{ServiceKey: ServiceKey{FWMark: 3}, Scheduler: "rr", Flags: FlagPersistent, Timeout: 60, Netmask: 32, Mask4: 0xff00ff00}
	for _, op := range []Op{CreateServiceOp(s), UpdateServiceOp(s)} {
		_, b := encodeOp(op)
		ae := netlink.NewAttributeEncoder()
		ae.Bytes(svcNetmask, []byte{0xff, 0, 0xff, 0})
		if !bytes.Contains(b, mustEncode(ae)) {
			t.Errorf("%s: mask 255.0.255.0 not sent in % x", op, b)
		}
		got, err := decodeService(b)
		if err != nil || got.Mask4 != s.Mask4 {
			t.Errorf("%s: read back Mask4 %#x, %v", op, got.Mask4, err)
		}
	}
}
