package controller

import (
	"errors"
	"strings"
	"testing"

	"github.com/lvsnode/lvsnode/sysctl"
)

// restore --dry-run answers like diff: ErrChangesPending (exit 1) while
// the kernel differs, nil (exit 0) once it matches, and never changes it.
func TestRestoreDryRunReportsPending(t *testing.T) {
	c, f, out := newCtl()
	in := "-A -t 10.0.0.100:80 -s rr\n-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 1\n"
	if _, err := c.Restore(strings.NewReader(in), RestoreOptions{DryRun: true}); !errors.Is(err, ErrChangesPending) {
		t.Fatalf("dry run on an empty table: %v, want ErrChangesPending", err)
	}
	if len(f.Log) != 0 || !strings.Contains(out.String(), "would add service TCP 10.0.0.100:80") {
		t.Fatalf("dry run: kernel log %q, output %q", f.Log, out)
	}
	must(t, func() error { _, err := c.Restore(strings.NewReader(in), RestoreOptions{}); return err }())
	out.Reset()
	if _, err := c.Restore(strings.NewReader(in), RestoreOptions{DryRun: true}); err != nil {
		t.Fatalf("dry run on a matching table: %v, want nil", err)
	}
	if !strings.Contains(out.String(), "0 changes") {
		t.Errorf("output %q", out)
	}
}

// IPv6 NAT with --enable-forwarding: every interface (and default) whose
// accept_ra is 1 is set to 2 before all.forwarding=1, so the director
// keeps its RA-learnt default route; accept_ra=0 is left alone.
func TestEnableIPv6ForwardingKeepsRouterAdvertisements(t *testing.T) {
	c, _, out := newCtl()
	sc := sysctl.NewFake(map[string]string{
		"net.ipv6.conf.all.forwarding":    "0",
		"net.ipv6.conf.default.accept_ra": "1",
		"net.ipv6.conf.eth0.accept_ra":    "1",
		"net.ipv6.conf.eth1.accept_ra":    "0",
		"net.ipv6.conf.lo.accept_ra":      "2",
	})
	c.Sysctl, c.EnableForwarding = sc, true
	c.Interfaces = func() ([]string, error) { return []string{"lo", "eth0", "eth1", "gone0"}, nil }
	must(t, c.AddNode(spec(t, Flags{TCP: "[fd00::100]:80", Real: "[fd00::11]:8080", NAT: true})))
	want := []string{"net.ipv6.conf.default.accept_ra=2", "net.ipv6.conf.eth0.accept_ra=2", "net.ipv6.conf.all.forwarding=1"}
	if strings.Join(sc.Writes, " ") != strings.Join(want, " ") {
		t.Errorf("writes %q, want %q", sc.Writes, want)
	}
	if !strings.Contains(out.String(), "set net.ipv6.conf.eth0.accept_ra=2 (keeps accepting router advertisements") {
		t.Errorf("output %q", out)
	}
	// Already on: nothing is written, accept_ra is the admin's business.
	sc.Writes = nil
	sc.Poke("net.ipv6.conf.eth1.accept_ra", "1")
	must(t, c.AddNode(spec(t, Flags{TCP: "[fd00::100]:80", Real: "[fd00::12]:8080", NAT: true})))
	if len(sc.Writes) != 0 {
		t.Errorf("forwarding already on, still wrote %q", sc.Writes)
	}
}
