package controller

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/lvsnode/lvsnode/ipvs"
)

// -M in restore input is read as ipvsadm -R reads it (inet_aton, shown in
// the lab: "-M 24" became 0.0.0.24); on the command line a bare number is a
// prefix length, as --help has always said.
func TestNetmaskReadings(t *testing.T) {
	for _, c := range []struct {
		v      string
		rules  bool
		bits   int
		mask4  uint32
		errSub string
	}{
		{"24", true, 32, 0x18, ""},
		{"24", false, 24, 0, ""},
		{"0", true, 0, 0, ""}, // inet_aton("0") = 0.0.0.0 = /0
		{"0", false, 0, 0, ""},
		{"255.255.255.0", true, 24, 0, ""},
		{"255.255.255.0", false, 24, 0, ""},
		{"0.0.0.0", false, 0, 0, ""},
		{"255.0.255.0", false, 32, 0xff00ff00, ""},
		{"0xffffff00", true, 24, 0, ""},
		{"255.255.0xff00", true, 24, 0, ""}, // a.b.c: the last part fills two bytes
		{"0377.0377.0377.0", true, 24, 0, ""},
		{"33", false, 0, 0, "prefix length"},
		{"256.0.0.0", true, 0, 0, "want a dotted mask"},
		{"1_0", true, 0, 0, "want a dotted mask"},
		{"1.2.3.4.5", true, 0, 0, "want a dotted mask"},
		{"255.255.255.0x", true, 0, 0, "want a dotted mask"},
	} {
		bits, m4, err := parseNetmask(c.v, false, c.rules)
		if c.errSub != "" {
			if err == nil || !strings.Contains(err.Error(), c.errSub) {
				t.Errorf("-M %s (rules %v): err %v, want %q", c.v, c.rules, err, c.errSub)
			}
			continue
		}
		if err != nil || bits != c.bits || m4 != c.mask4 {
			t.Errorf("-M %s (rules %v): /%d mask4 %#x err %v; want /%d %#x", c.v, c.rules, bits, m4, err, c.bits, c.mask4)
		}
	}
}

// A rules file's bare -M number gets a note, and the table it makes saves
// as ipvsadm -S prints it.
func TestRestoreBareNetmaskNote(t *testing.T) {
	c, f, out := newCtl()
	if _, err := c.Restore(strings.NewReader("-A -t 10.0.0.100:80 -s rr -p 60 -M 24\n"), RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "note: line 1: -M 24 is the mask 0.0.0.24") {
		t.Errorf("no note:\n%s", out)
	}
	tab, _ := ReadTable(f)
	var b bytes.Buffer
	Save(&b, tab)
	if b.String() != "-A -t 10.0.0.100:80 -s rr -p 60 -M 0.0.0.24\n" {
		t.Errorf("save: %q", b.String())
	}
}

// --pe on the command line: kept by edits that leave it out, dropped by
// --no-pe, refused by the (fake) kernel when it has no such engine.
func TestPersistenceEngine(t *testing.T) {
	c, f, out := newCtl()
	k := Flags{UDP: "10.0.0.100:5060"}
	with := func(mod func(*Flags)) Spec {
		g := k
		mod(&g)
		return spec(t, g)
	}
	must(t, c.AddService(with(func(g *Flags) { g.Scheduler, g.Persistent, g.PE = "rr", "60", "sip" })))
	must(t, c.EditService(with(func(g *Flags) { g.Scheduler = "wrr" })))
	svcs, _ := f.Services()
	if svcs[0].PEName != "sip" || svcs[0].Scheduler != "wrr" {
		t.Errorf("after edit -s wrr: %+v", svcs[0])
	}
	var b bytes.Buffer
	List(&b, ipvs.Info{}, Table{Services: []Entry{{Service: svcs[0]}}}, ListOptions{NoHeader: true})
	if !strings.Contains(b.String(), "UDP  10.0.0.100:5060 wrr persistent 60 pe sip\n") {
		t.Errorf("list:\n%s", b.String())
	}
	must(t, c.EditService(with(func(g *Flags) { g.NoPE = true })))
	svcs, _ = f.Services()
	if svcs[0].PEName != "" || !strings.Contains(out.String(), `persistence engine "sip" -> ""`) {
		t.Errorf("after --no-pe: %+v\n%s", svcs[0], out)
	}
	err := c.AddService(with(func(g *Flags) { g.PE = "h323" }))
	if !errors.Is(err, ipvs.ErrScheduler) {
		t.Errorf("unknown engine: %v", err)
	}
	if _, err := Parse(Flags{UDP: "10.0.0.100:5060", PE: "sip", NoPE: true}); !IsInput(err) {
		t.Errorf("--pe with --no-pe: %v", err)
	}
}
