package etcdstore

import (
	"net/netip"
	"strings"
)

// The key layout under Prefix (every director and agent of a group agrees
// on it; values are JSON):
//
//	services/PROTO/ADDR:PORT        a service's settings, without its real servers
//	nodes/PROTO/ADDR:PORT/RS:PORT   one real server of that service
//	directors/HOSTNAME              {"revision": N}: what a director is at
//
// "fwm 7" is services/fwm/7, "fwm 7 ipv6" services/fwm/7/ipv6. One key a
// real server, so an agent registers itself with one put under its lease,
// two directors editing two real servers never overwrite each other, and
// a watch event says exactly what changed.
const (
	servicesDir = "services/"
	nodesDir    = "nodes/"
	// DirectorsDir holds each director's report of the revision it is at
	// (directors/HOSTNAME, under the director's lease): status shows
	// which directors see which generation of the desired state.
	DirectorsDir = "directors/"
)

// ServiceKey is the key of service (ipvsadm-like text, "tcp 10.0.0.100:80").
func ServiceKey(prefix, service string) string {
	return prefix + servicesDir + strings.Join(strings.Fields(service), "/")
}

// NodeKey is the key of real server rs ("10.0.0.11:80", "[fd00::11]:80")
// of service.
func NodeKey(prefix, service, rs string) string {
	return prefix + nodesDir + strings.Join(strings.Fields(service), "/") + "/" + rs
}

// Parse tells what key k (under prefix) holds: a service (rs empty) or a
// real server of one; ok is false for a key outside the layout.
func Parse(prefix, k string) (service, rs string, ok bool) {
	rest, found := strings.CutPrefix(k, prefix)
	if !found {
		return "", "", false
	}
	if s, found := strings.CutPrefix(rest, servicesDir); found && s != "" {
		return strings.ReplaceAll(s, "/", " "), "", true
	}
	s, found := strings.CutPrefix(rest, nodesDir)
	i := strings.LastIndexByte(s, '/')
	if !found || i <= 0 || i == len(s)-1 {
		return "", "", false
	}
	return strings.ReplaceAll(s[:i], "/", " "), s[i+1:], true
}

// Node is the value of a real server's key as an agent registers it; a
// director reads the same JSON as its NodeSpec (plus Draining).
type Node struct {
	Address string  `json:"address"`
	Port    uint16  `json:"port,omitempty"`
	Weight  *uint32 `json:"weight,omitempty"`
	Method  string  `json:"method,omitempty"`
	TunType string  `json:"tun_type,omitempty"`
	TunPort uint16  `json:"tun_port,omitempty"`
	TunCsum string  `json:"tun_csum,omitempty"`
	// Draining is set by the real server's agent while it drains: the
	// directors set it to weight 0 and wait for its connections to end.
	Draining bool `json:"draining,omitempty"`
}

// servicePort is the port of "tcp 10.0.0.100:80" (0 for fwm).
func servicePort(service string) uint16 {
	f := strings.Fields(service)
	if len(f) < 2 || f[0] == "fwm" {
		return 0
	}
	ap, err := netip.ParseAddrPort(f[1])
	if err != nil {
		return 0
	}
	return ap.Port()
}

func joinHostPort(addr string, port uint16) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	return netip.AddrPortFrom(a.Unmap(), port).String()
}
