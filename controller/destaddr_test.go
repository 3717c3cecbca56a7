package controller

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/lvsnode/lvsnode/ipvs"
)

// Real-server addresses the kernel always refuses (EINVAL) are refused
// when the input is read, naming the line, before anything changes: the
// review saw a restore apply 1,023 changes before the kernel's refusal.
// The fake refuses them too, as the kernel does.
func TestRestoreRefusesAddressesTheKernelRefuses(t *testing.T) {
	for _, tc := range []struct{ svc, rs string }{
		{"10.0.0.1:80", "255.255.255.255:80"},
		{"10.0.0.1:80", "0.0.0.0:80"},
		{"10.0.0.1:80", "224.0.0.1:80"},
		{"[fd00::1]:80", "[fe80::1]:80"},
		{"[fd00::1]:80", "[ff02::1]:80"},
		{"[fd00::1]:80", "[::]:80"},
	} {
		c, f, _ := newCtl()
		in := fmt.Sprintf("-A -t 10.9.9.9:80 -s rr\n-A -t %s -s rr\n-a -t %s -r %s -g -w 1\n", tc.svc, tc.svc, tc.rs)
		_, err := c.Restore(strings.NewReader(in), RestoreOptions{})
		if !IsInput(err) || !strings.Contains(err.Error(), "line 3: real server") || len(f.Log) != 0 {
			t.Errorf("%s: %v (changes %q)", tc.rs, err, f.Log)
		}
		svc, _ := spec(t, Flags{TCP: tc.svc}), 0
		if err := f.Apply([]ipvs.Op{ipvs.CreateServiceOp(ipvs.Service{ServiceKey: svc.Service, Scheduler: "rr"})})[0]; err != nil {
			t.Fatal(err)
		}
		d := ipvs.Destination{DestKey: ipvs.DestKey{Addr: mustAddr(strings.Trim(tc.rs[:strings.LastIndex(tc.rs, ":")], "[]")), Port: 80}, Weight: 1}
		if err := f.Apply([]ipvs.Op{{Kind: ipvs.OpCreateDest, Service: ipvs.Service{ServiceKey: svc.Service}, Dest: d}})[0]; !errors.Is(err, ipvs.ErrNotUnicast) {
			t.Errorf("fake: add real server %s: %v", tc.rs, err)
		}
	}
	// What the kernel takes: loopback (a local real server) and the rest.
	for _, rs := range []string{"127.0.0.1:80", "240.0.0.1:80", "10.0.0.255:80", "0.1.2.3:80"} {
		c, _, _ := newCtl()
		if _, err := c.Restore(strings.NewReader("-A -t 10.0.0.1:80 -s rr\n-a -t 10.0.0.1:80 -r "+rs+" -m -w 1\n"), RestoreOptions{}); err != nil &&
			!strings.Contains(err.Error(), "forwarding") {
			t.Errorf("%s: %v", rs, err)
		}
	}
}

// An IPv4-mapped IPv6 service address stays IPv6, as ipvsadm keeps it (the
// review saw it silently turned into an IPv4 service): save gives it back
// as written, and a mapped real server is refused as the kernel does.
func TestMappedIPv6StaysIPv6(t *testing.T) {
	c, f, _ := newCtl()
	in := "-A -t [::ffff:10.0.0.5]:80 -s rr\n-a -t [::ffff:10.0.0.5]:80 -r [fd00::11]:80 -g -w 1\n"
	if _, err := c.Restore(strings.NewReader(in), RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := saved(t, f); got != in {
		t.Errorf("save:\n%s\nwant\n%s", got, in)
	}
	_, err := c.Restore(strings.NewReader("-A -t [fd00::1]:80 -s rr\n-a -t [fd00::1]:80 -r [::ffff:10.0.0.9]:80 -g -w 1\n"), RestoreOptions{})
	if !IsInput(err) || !strings.Contains(err.Error(), "line 2: real server \"[::ffff:10.0.0.9]:80\" (-r): ::ffff:10.0.0.9 is an IPv4-mapped") {
		t.Errorf("mapped real server: %v", err)
	}
}
