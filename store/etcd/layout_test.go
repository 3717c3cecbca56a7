package etcdstore

import "testing"

func TestLayoutRoundTrip(t *testing.T) {
	for _, c := range []struct{ service, rs, key string }{
		{"tcp 10.0.0.100:80", "", "/p/services/tcp/10.0.0.100:80"},
		{"tcp 10.0.0.100:80", "10.0.0.11:80", "/p/nodes/tcp/10.0.0.100:80/10.0.0.11:80"},
		{"udp [fd00::100]:53", "[fd00::11]:53", "/p/nodes/udp/[fd00::100]:53/[fd00::11]:53"},
		{"fwm 7 ipv6", "[fd00::11]:0", "/p/nodes/fwm/7/ipv6/[fd00::11]:0"},
	} {
		k := ServiceKey("/p/", c.service)
		if c.rs != "" {
			k = NodeKey("/p/", c.service, c.rs)
		}
		if k != c.key {
			t.Errorf("%s %s: key %s, want %s", c.service, c.rs, k, c.key)
		}
		svc, rs, ok := Parse("/p/", k)
		if !ok || svc != c.service || rs != c.rs {
			t.Errorf("Parse(%s) = %q %q %v", k, svc, rs, ok)
		}
	}
	for _, k := range []string{"/q/services/tcp/1.2.3.4:80", "/p/nodes/tcp", "/p/nodes/tcp/", "/p/other/x", "/p/services/"} {
		if _, _, ok := Parse("/p/", k); ok {
			t.Errorf("Parse(%s) accepted a key outside the layout", k)
		}
	}
	if got := addrPort(Node{Address: "::ffff:10.0.0.11"}, "tcp 10.0.0.100:80"); got != "10.0.0.11:80" {
		t.Errorf("addrPort = %s", got)
	}
}
