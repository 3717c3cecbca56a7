package agent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "agent.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadFileReadsEverySetting(t *testing.T) {
	p := writeFile(t, `mode: dr
vips:
  - 10.0.0.100
  - fd00::100
interfaces: [eth0]
state-file: /run/lvsnode/state.json
sysctl-file: /etc/sysctl.d/99-lvsnode.conf
listen: 127.0.0.1:9109
resync-interval: 2s
teardown-on-stop: true
`)
	c, err := LoadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.Options()
	if err != nil {
		t.Fatal(err)
	}
	if len(o.VIPs) != 2 || o.VIPs[1].String() != "fd00::100" || o.Interfaces[0] != "eth0" ||
		o.StateFile != "/run/lvsnode/state.json" || o.SysctlFile != "/etc/sysctl.d/99-lvsnode.conf" ||
		o.Listen != "127.0.0.1:9109" || o.ResyncInterval != 2*time.Second || !o.TeardownOnStop {
		t.Fatalf("options %+v", o)
	}
}

func TestTheShippedExampleIsValid(t *testing.T) {
	c, err := LoadFile("../examples/agent.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Options(); err != nil {
		t.Fatal(err)
	}
}

func TestBadInputNamesWhereAndIsOneLine(t *testing.T) {
	cases := []struct {
		name, file, want string
	}{
		{"bad address", "vips:\n  - 10.0.0.1\n  - 10.0.0.300\n", ":3: VIP \"10.0.0.300\" is not an IP address"},
		{"prefix", "vips: [10.0.0.0/24]\n", ":1: VIP \"10.0.0.0/24\" is a prefix"},
		{"unknown mode", "mode: fullnat\nvips: [10.0.0.1]\n", ":1: unknown mode \"fullnat\""},
		{"unknown key", "vips: [10.0.0.1]\nvip: 10.0.0.2\n", ":2: unknown setting vip"},
		{"syntax", "vips: [10.0.0.1\n", ":1: did not find expected"},
		{"list for scalar", "mode: [dr]\nvips: [10.0.0.1]\n", "want a single value"},
		{"no vips", "mode: dr\n", "no VIP given"},
		{"loopback vip", "vips: [127.0.0.2]\n", "not a unicast service address"},
		{"loopback vip as /32", "vips: [127.0.0.2/32]\n", "not a unicast service address"},
		{"multicast vip as /32", "vips: [224.0.0.1/32]\n", "not a unicast service address"},
		{"unspecified v6 as /128", "vips: ['::/128']\n", "not a unicast service address"},
		{"bad duration", "vips: [10.0.0.1]\nresync-interval: soon\n", ":2:"},
		// Fault 10 of issue 7: 1ns was accepted and burnt a core.
		{"resync below the floor", "vips: [10.0.0.1]\nresync-interval: 1ns\n", ":2: 1ns is below the 100ms floor"},
		// Fault 10 of issue 7: a second document was silently ignored.
		{"second document", "vips: [10.0.0.1]\n---\nvips: [10.0.0.2]\n", ":2: a second YAML document"},
		{"second document after a comment", "# site\nvips: [10.0.0.1]\n\n---\n# more\nmode: dr\n", ":4: a second YAML document"},
		{"dotted interface", "vips: [10.0.0.1]\ninterfaces: [eth0.100]\n", ":2: interface \"eth0.100\""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, tc.file)
			c, err := LoadFile(p)
			if err == nil {
				_, err = c.Options()
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrBadInput) {
				t.Fatalf("%v does not wrap ErrBadInput", err)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Fatalf("error %q, want one line containing %q", msg, tc.want)
			}
		})
	}
}

// Fault 4 of issue 7: reserved and special addresses were accepted as VIPs
// (255.255.255.255 then captured `ip route get 255.255.255.255`).
func TestReservedAddressesRefusedAsVIPs(t *testing.T) {
	for _, in := range []string{
		"255.255.255.255", "240.0.0.1", "250.1.2.3", "0.0.0.1", "0.255.255.255", "0.0.0.0",
		"127.0.0.2", "224.0.0.1", "239.1.1.1", "169.254.1.1",
		"::", "::1", "ff02::1", "ff05::2", "fe80::1", "::10.0.0.1", "::ffff:255.255.255.255",
	} {
		_, err := ParseVIP(in)
		if err == nil {
			t.Errorf("ParseVIP(%q) accepted", in)
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, in) {
			t.Errorf("ParseVIP(%q): %q, want one line naming it", in, msg)
		}
	}
	for _, ok := range []string{"10.0.0.1", "192.0.2.1", "223.255.255.254", "1.0.0.1", "fd00::100", "2001:db8::1", "100::1"} {
		if _, err := ParseVIP(ok); err != nil {
			t.Errorf("ParseVIP(%q): %v", ok, err)
		}
	}
}

func TestParseVIPAcceptsSingleAddressPrefixes(t *testing.T) {
	for in, want := range map[string]string{"10.0.0.1/32": "10.0.0.1", "fd00::1/128": "fd00::1", "::ffff:10.0.0.1": "10.0.0.1"} {
		a, err := ParseVIP(in)
		if err != nil || a.String() != want {
			t.Errorf("ParseVIP(%q) = %v, %v; want %s", in, a, err, want)
		}
	}
}

func TestDuplicateVIPsCollapse(t *testing.T) {
	o := opts(t, "10.0.0.1", "10.0.0.1/32")
	if len(o.VIPs) != 1 {
		t.Fatalf("VIPs %v", o.VIPs)
	}
}

func TestSyntaxErrorsPointAtTheBrokenLine(t *testing.T) {
	// yaml.v3 alone says line 2 for this (a 0-based mark).
	p := writeFile(t, "vips:\n  - 10.0.0.100\n  - [oops\n")
	_, err := LoadFile(p)
	if err == nil || !strings.Contains(err.Error(), "agent.yaml:3: did not find expected") {
		t.Fatalf("got %v", err)
	}
	p = writeFile(t, "mode: dr\nvips:\n  - 10.0.0.1\n bad-indent: x\n")
	if _, err = LoadFile(p); err == nil || !strings.Contains(err.Error(), "agent.yaml:4:") {
		t.Fatalf("got %v", err)
	}
}
