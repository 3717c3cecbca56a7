package controller

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/ipvs"
)

// fakeClock makes c sleep on a counter; it returns the elapsed time.
func fakeClock(c *Controller) func() time.Duration {
	var clock time.Time
	start := clock
	c.Now = func() time.Time { return clock }
	c.Sleep = func(d time.Duration) { clock = clock.Add(d) }
	return func() time.Duration { return clock.Sub(start) }
}

// A persistent service: the drain waits for the templates (PersistConn)
// after the connections, reports them, and warns that
// expire_quiescent_template=0 keeps returning clients on the server.
func TestDrainWaitsForPersistenceTemplates(t *testing.T) {
	c, f, out := newCtl()
	c.Sysctl.(interface{ Poke(string, string) }).Poke("net.ipv4.vs.expire_quiescent_template", "0")
	must(t, c.AddNode(spec(t, Flags{TCP: "10.0.0.100:443", Real: "10.0.0.11", Persistent: "60"})))
	k := ipvs.ServiceKey{Protocol: ipvs.TCP, Addr: mustAddr("10.0.0.100"), Port: 443}
	rk := ipvs.DestKey{Addr: mustAddr("10.0.0.11"), Port: 443}
	f.SetCounters(k, rk, 1, 0, ipvs.Stats{})
	f.SetPersistConns(k, rk, 2)
	elapsed := fakeClock(c)
	var removedAt time.Duration
	f.BeforeList = func(f *ipvs.Fake) {
		switch e := elapsed(); {
		case e >= 60*time.Second:
			f.SetPersistConns(k, rk, 0) // the templates expire
		case e >= 5*time.Second:
			f.SetCounters(k, rk, 0, 0, ipvs.Stats{}) // the connection ends
		}
	}
	f.Fail = func(op string) error {
		if strings.HasPrefix(op, "remove-dest") {
			removedAt = elapsed()
		}
		return nil
	}
	must(t, c.DrainNode(spec(t, Flags{TCP: "10.0.0.100:443", Real: "10.0.0.11"}), DrainOptions{}))
	if removedAt < 60*time.Second {
		t.Errorf("removed after %v, before the templates expired (60s)", removedAt)
	}
	for _, line := range []string{
		"warning: net.ipv4.vs.expire_quiescent_template=0: persistent clients",
		"1 active, 0 inactive connections, 2 persistence templates (0s)",
		"0 active, 0 inactive connections, 2 persistence templates (5s)",
		"0 active, 0 inactive connections, 0 persistence templates (1m0s)",
	} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("output lacks %q:\n%s", line, out)
		}
	}
	// At 1 the kernel moves returning clients itself: no warning.
	out.Reset()
	c.Sysctl.(interface{ Poke(string, string) }).Poke("net.ipv4.vs.expire_quiescent_template", "1")
	f.BeforeList, f.Fail = nil, nil
	must(t, c.AddNode(spec(t, Flags{TCP: "10.0.0.100:443", Real: "10.0.0.11"})))
	must(t, c.DrainNode(spec(t, Flags{TCP: "10.0.0.100:443", Real: "10.0.0.11"}), DrainOptions{}))
	if strings.Contains(out.String(), "warning") {
		t.Errorf("warned with expire_quiescent_template=1:\n%s", out)
	}
}

// Templates alone keep a drain waiting until its timeout.
func TestDrainTimeoutNamesTemplates(t *testing.T) {
	c, f, _ := newCtl()
	must(t, c.AddNode(spec(t, Flags{TCP: "10.0.0.100:443", Real: "10.0.0.11", Persistent: "60"})))
	k := ipvs.ServiceKey{Protocol: ipvs.TCP, Addr: mustAddr("10.0.0.100"), Port: 443}
	f.SetPersistConns(k, ipvs.DestKey{Addr: mustAddr("10.0.0.11"), Port: 443}, 1)
	fakeClock(c)
	err := c.DrainNode(spec(t, Flags{TCP: "10.0.0.100:443", Real: "10.0.0.11"}), DrainOptions{Timeout: 10 * time.Second})
	if !errors.Is(err, ErrDrainTimeout) || !strings.Contains(err.Error(), "0 active, 0 inactive connections, 1 persistence templates") {
		t.Errorf("drain: %v", err)
	}
}

// --all-services: the real server leaves every service and fwmark it is
// in (any port, or the one given), and nothing else is touched.
func TestDrainEverywhere(t *testing.T) {
	c, f, out := newCtl()
	for _, fl := range []Flags{
		{TCP: "10.0.0.100:80", Real: "10.0.0.11"},
		{TCP: "10.0.0.100:80", Real: "10.0.0.12"},
		{TCP: "10.0.0.100:443", Real: "10.0.0.11"},
		{FWMark: "5", Real: "10.0.0.11:0"},
		{TCP: "10.0.0.101:8080", Real: "10.0.0.11:8080", NAT: true},
	} {
		c.EnableForwarding = true
		must(t, c.AddNode(spec(t, fl)))
	}
	k80 := ipvs.ServiceKey{Protocol: ipvs.TCP, Addr: mustAddr("10.0.0.100"), Port: 80}
	f.SetCounters(k80, ipvs.DestKey{Addr: mustAddr("10.0.0.11"), Port: 80}, 1, 0, ipvs.Stats{})
	elapsed := fakeClock(c)
	f.BeforeList = func(f *ipvs.Fake) {
		if elapsed() >= 3*time.Second {
			f.SetCounters(k80, ipvs.DestKey{Addr: mustAddr("10.0.0.11"), Port: 80}, 0, 0, ipvs.Stats{})
		}
	}
	port := uint16(8080)
	must(t, c.DrainEverywhere(mustAddr("10.0.0.11"), &port, DrainOptions{}))
	tab, _ := ReadTable(f)
	if _, nd := tab.Size(); nd != 4 {
		t.Fatalf("with a port, only 10.0.0.11:8080 goes: %d real servers left", nd)
	}
	must(t, c.DrainEverywhere(mustAddr("10.0.0.11"), nil, DrainOptions{}))
	tab, _ = ReadTable(f)
	for _, e := range tab.Services {
		for _, d := range e.Dests {
			if d.Addr == mustAddr("10.0.0.11") {
				t.Errorf("10.0.0.11 still in %s", e.Service.ServiceKey)
			}
		}
	}
	if _, nd := tab.Size(); nd != 1 {
		t.Errorf("left %d real servers, want 10.0.0.12 only", nd)
	}
	if !strings.Contains(out.String(), "draining 10.0.0.11 from 3 services") || elapsed() < 3*time.Second {
		t.Errorf("waited %v; output:\n%s", elapsed(), out)
	}
	if err := c.DrainEverywhere(mustAddr("10.0.0.11"), nil, DrainOptions{}); !errors.Is(err, ipvs.ErrNotFound) {
		t.Errorf("nothing left to drain: %v", err)
	}
}
