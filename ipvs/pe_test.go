package ipvs

import (
	"bytes"
	"net/netip"
	"syscall"
	"testing"
)

// A GET_SERVICE answer as ip_vs_genl_fill_service lays it out (attribute
// order and contents of Linux 6.1) for "-A -u 10.0.0.100:5060 -s rr -p 60
// -M 0.0.0.24 --pe sip": the engine and a mask that is not a prefix must
// both survive decoding.
func TestDecodeServicePEAndOddMask(t *testing.T) {
	var in []byte
	in = putAttr(in, svcAttrAF, u16(syscall.AF_INET))
	in = putAttr(in, svcAttrProto, u16(uint16(UDP)))
	in = putAttr(in, svcAttrAddr, addr16(netip.MustParseAddr("10.0.0.100")))
	in = putAttr(in, svcAttrPort, be16(5060))
	in = putAttr(in, svcAttrSched, []byte("rr\x00"))
	in = putAttr(in, svcAttrPEName, []byte("sip\x00"))
	in = putAttr(in, svcAttrFlags, []byte{1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	in = putAttr(in, svcAttrTmo, u32(60))
	in = putAttr(in, svcAttrMask, []byte{0, 0, 0, 24})
	s, err := decodeService(putAttr(nil, cmdAttrService, in))
	if err != nil {
		t.Fatal(err)
	}
	if s.PEName != "sip" || s.Mask4 != 24 || s.Netmask != 32 {
		t.Errorf("decoded PEName %q, Mask4 %#x, Netmask %d; want sip, 0x18, 32", s.PEName, s.Mask4, s.Netmask)
	}
	// A prefix mask is no Mask4.
	in2 := bytes.Replace(in, []byte{0, 0, 0, 24}, []byte{255, 255, 255, 0}, 1)
	s, _ = decodeService(putAttr(nil, cmdAttrService, in2))
	if s.Mask4 != 0 || s.Netmask != 24 {
		t.Errorf("255.255.255.0 decoded as Mask4 %#x Netmask %d", s.Mask4, s.Netmask)
	}
}

// Create and edit send the engine after the scheduler, as libipvs does
// (and "" for none, so that an edit drops an engine), and Mask4 as the
// mask's bytes in network order.
func TestEncodeServicePEAndOddMask(t *testing.T) {
	s := Service{ServiceKey: ServiceKey{FWMark: 3}, Scheduler: "rr", Flags: FlagPersistent, Timeout: 60, Netmask: 32, Mask4: 0xff00ff00, PEName: "sip"}
	b := serviceAttrs(s, true)
	if !bytes.Contains(b, putAttr(putAttr(nil, svcAttrSched, []byte("rr\x00")), svcAttrPEName, []byte("sip\x00"))) {
		t.Errorf("no PE_NAME \"sip\" after SCHED_NAME in % x", b)
	}
	if !bytes.Contains(b, putAttr(nil, svcAttrMask, []byte{0xff, 0, 0xff, 0})) {
		t.Errorf("mask 255.0.255.0 not sent in % x", b)
	}
	s.PEName = ""
	if !bytes.Contains(serviceAttrs(s, true), putAttr(nil, svcAttrPEName, []byte{0})) {
		t.Errorf("no empty PE_NAME for a service without engine")
	}
	if got, _ := decodeService(serviceAttrs(s, true)); got.Mask4 != 0xff00ff00 {
		t.Errorf("round trip Mask4 %#x", got.Mask4)
	}
}
