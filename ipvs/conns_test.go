package ipvs

import (
	"net/netip"
	"strings"
	"testing"
)

// Lines as the lab's Linux 6.1 printed them (lab/scenarios/ha-daemon.sh
// compares with ipvsadm -Lnc on the kernel).
func TestParseConns(t *testing.T) {
	in := `Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
TCP 0A00000A A34C 0A000064 0050 0A00000B 0050 SYN_RECV         34
TCP 0A00000A 0000 0A000064 0051 0A00000B 0051 NONE             53
TCP fd00:0000:0000:0000:0000:0000:0000:0010 C474 fd00:0000:0000:0000:0000:0000:0000:0100 0050 fd00:0000:0000:0000:0000:0000:0000:0011 0050 SYN_RECV         51
UDP 0A00000A 13C4 0A000064 13C4 0A00000B 13C4 UDP              170 sip 1234@host
`
	cs, err := ParseConns(strings.NewReader(in))
	if err != nil || len(cs) != 4 {
		t.Fatalf("%d, %v", len(cs), err)
	}
	want := Connection{Protocol: "TCP", Client: netip.MustParseAddrPort("10.0.0.10:41804"), Virtual: netip.MustParseAddrPort("10.0.0.100:80"),
		Dest: netip.MustParseAddrPort("10.0.0.11:80"), State: "SYN_RECV", Expires: 34}
	if cs[0] != want {
		t.Errorf("got %+v\nwant %+v", cs[0], want)
	}
	if cs[2].Client != netip.MustParseAddrPort("[fd00::10]:50292") || cs[2].Dest.Addr() != netip.MustParseAddr("fd00::11") {
		t.Errorf("IPv6: %+v", cs[2])
	}
	if cs[3].PEName != "sip" || cs[3].PEData != "1234@host" || cs[3].Expires != 170 {
		t.Errorf("pe: %+v", cs[3])
	}
	if _, err := ParseConns(strings.NewReader("hdr\nTCP 0A00000A ZZ 0A000064 0050 0A00000B 0050 NONE 1\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("bad port: %v", err)
	}
}
