package controller

import (
	"fmt"
	"strings"
	"testing"

	"github.com/lvsnode/lvsnode/ipvs"
)

// A GUE real server with a checksum mode and thresholds, as in the lab.
func gueNode(t *testing.T) (*Controller, *ipvs.Fake, ipvs.ServiceKey) {
	t.Helper()
	c, f, _ := newCtl()
	err := c.AddNode(spec(t, Flags{TCP: "10.0.0.100:80", Real: "10.0.0.11", TUN: true, TunType: "gue", TunPort: "6080",
		TunCsum: true, Weight: "2", Upper: "100", Lower: "10"}))
	if err != nil {
		t.Fatal(err)
	}
	svcs, _ := f.Services()
	return c, f, svcs[0].ServiceKey
}

func onlyDest(t *testing.T, f *ipvs.Fake, k ipvs.ServiceKey) ipvs.Destination {
	t.Helper()
	ds, _ := f.Destinations(k)
	if len(ds) != 1 {
		t.Fatalf("real servers: %+v", ds)
	}
	return ds[0]
}

// Issue 8: add-node -w 5 on a GUE real server turned it into DR.
func TestAddNodeWeightKeepsTunnel(t *testing.T) {
	for _, cmd := range []string{"add-node", "edit-node"} {
		t.Run(cmd, func(t *testing.T) {
			c, f, k := gueNode(t)
			s := spec(t, Flags{TCP: "10.0.0.100:80", Real: "10.0.0.11", Weight: "5"})
			var err error
			if cmd == "add-node" {
				err = c.AddNode(s)
			} else {
				err = c.EditNode(s)
			}
			if err != nil {
				t.Fatal(err)
			}
			got := onlyDest(t, f, k)
			want := ipvs.Destination{DestKey: got.DestKey, Forward: ipvs.Tunnel, Weight: 5, UpperThreshold: 100, LowerThreshold: 10,
				TunnelType: ipvs.GUE, TunnelPort: 6080, TunnelFlags: ipvs.Csum}
			if got != want {
				t.Errorf("after %s -w 5:\n got %s\nwant %s", cmd, destText(got), destText(want))
			}
		})
	}
}

// One tunnel option alone (--tun-port with -i, no --tun-type) on an existing
// GUE real server is an edit of that option, not a new ipip tunnel.
func TestAddNodeTunnelPortKeepsType(t *testing.T) {
	c, f, k := gueNode(t)
	if err := c.AddNode(spec(t, Flags{TCP: "10.0.0.100:80", Real: "10.0.0.11", TUN: true, TunPort: "7000"})); err != nil {
		t.Fatal(err)
	}
	if d := onlyDest(t, f, k); d.TunnelType != ipvs.GUE || d.TunnelPort != 7000 || d.TunnelFlags != ipvs.Csum || d.Weight != 2 {
		t.Errorf("after --tun-port 7000: %s", destText(d))
	}
	// Naming another method resets what only the old one had.
	if err := c.AddNode(spec(t, Flags{TCP: "10.0.0.100:80", Real: "10.0.0.11", DR: true})); err != nil {
		t.Fatal(err)
	}
	if d := onlyDest(t, f, k); d.Forward != ipvs.Route || d.TunnelPort != 0 || d.Weight != 2 || d.UpperThreshold != 100 {
		t.Errorf("after -g: %s", destText(d))
	}
}

// A DR real server whose port differs from the service's (other clients
// can create one) can still be edited; switching a NAT real server with
// another port to DR is refused as a new one would be.
func TestEditNodeKeepsForeignPort(t *testing.T) {
	c, f, _ := newCtl()
	k := ipvs.ServiceKey{Protocol: ipvs.TCP, Addr: mustAddr("10.0.0.100"), Port: 80}
	must(t, ipvs.Do(f, ipvs.CreateServiceOp(ipvs.Service{ServiceKey: k, Scheduler: "rr", Netmask: 32})))
	must(t, ipvs.Do(f, ipvs.CreateDestOp(k, ipvs.Destination{DestKey: ipvs.DestKey{Addr: mustAddr("10.0.0.11"), Port: 8080}, Forward: ipvs.Route, Weight: 1})))
	must(t, ipvs.Do(f, ipvs.CreateDestOp(k, ipvs.Destination{DestKey: ipvs.DestKey{Addr: mustAddr("10.0.0.12"), Port: 8080}, Forward: ipvs.Masq, Weight: 1})))
	for _, fn := range []func(Spec) error{c.AddNode, c.EditNode} {
		if err := fn(spec(t, Flags{TCP: "10.0.0.100:80", Real: "10.0.0.11:8080", Weight: "4"})); err != nil {
			t.Errorf("-w on a DR real server with another port: %v", err)
		}
		if err := fn(spec(t, Flags{TCP: "10.0.0.100:80", Real: "10.0.0.11:8080", DR: true, Weight: "4"})); err != nil {
			t.Errorf("-g -w (same method) on a DR real server with another port: %v", err)
		}
	}
	err := c.EditNode(spec(t, Flags{TCP: "10.0.0.100:80", Real: "10.0.0.12:8080", DR: true}))
	if !IsInput(err) || !strings.Contains(err.Error(), "cannot map ports") {
		t.Errorf("NAT -> DR with another port: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// destText shows every setting (Destination's String is its key's).
func destText(d ipvs.Destination) string {
	return fmt.Sprintf("%s %s w%d x%d y%d %s:%d:%d", d.DestKey, d.Forward, d.Weight, d.UpperThreshold, d.LowerThreshold,
		d.TunnelType, d.TunnelPort, d.TunnelFlags)
}
