package ipvs

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// IPVS has no generic-netlink dump of its connection table: ipvsadm -Lnc
// reads /proc/net/ip_vs_conn, and so does ProcConns. The file is per
// network namespace (/proc/net is the reading process's).

// Connection is one entry of the kernel's connection table: a client's
// connection, or a persistence template (client port 0; State NONE, or
// ASSURED once a connection used it).
type Connection struct {
	Protocol string         // TCP, UDP, SCTP (as the kernel prints it)
	Client   netip.AddrPort // FromIP:FPrt
	Virtual  netip.AddrPort // ToIP:TPrt
	Dest     netip.AddrPort // DestIP:DPrt
	State    string         // ESTABLISHED, SYN_RECV, FIN_WAIT, NONE, ...
	Expires  uint32         // seconds left
	PEName   string         // persistence engine ("sip"), if any
	PEData   string
}

// ConnLister reads the connection table. Implementations: ProcConns
// (kernel) and FakeConns.
type ConnLister interface {
	Connections() ([]Connection, error)
}

// ProcConns reads Path (DefaultConnPath when empty).
type ProcConns struct{ Path string }

// FakeConns is a fixed table, for tests.
type FakeConns []Connection

var (
	_ ConnLister = ProcConns{}
	_ ConnLister = FakeConns{}
)

// DefaultConnPath is the kernel's connection table (ip_vs_conn_seq_show).
const DefaultConnPath = "/proc/net/ip_vs_conn"

func (f FakeConns) Connections() ([]Connection, error) { return append([]Connection{}, f...), nil }

func (p ProcConns) Connections() ([]Connection, error) {
	path := p.Path
	if path == "" {
		path = DefaultConnPath
	}
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("read connections: %s: %w", path, ErrNoIPVS)
		}
		return nil, fmt.Errorf("read connections: %w", err)
	}
	defer f.Close()
	return ParseConns(f)
}

// ParseConns reads the format of /proc/net/ip_vs_conn: a header line, then
// "Pro FromIP FPrt ToIP TPrt DestIP DPrt State Expires [PEName PEData]",
// IPv4 addresses as 8 hex digits, IPv6 ones as 8 groups of 4, ports in hex.
func ParseConns(r io.Reader) ([]Connection, error) {
	out := []Connection{}
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		f := strings.Fields(sc.Text())
		if line == 1 || len(f) == 0 {
			continue // header
		}
		if len(f) < 9 {
			return nil, fmt.Errorf("connection table line %d: %d fields, want 9 or more", line, len(f))
		}
		var c Connection
		var err error
		c.Protocol, c.State = f[0], f[7]
		for i, dst := range []*netip.AddrPort{&c.Client, &c.Virtual, &c.Dest} {
			if *dst, err = procAddrPort(f[1+2*i], f[2+2*i]); err != nil {
				return nil, fmt.Errorf("connection table line %d: %w", line, err)
			}
		}
		exp, err := strconv.ParseUint(f[8], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("connection table line %d: expires %q", line, f[8])
		}
		c.Expires = uint32(exp)
		if len(f) > 9 {
			c.PEName = f[9]
		}
		if len(f) > 10 {
			c.PEData = f[10]
		}
		out = append(out, c)
	}
	return out, sc.Err()
}

func procAddrPort(a, p string) (netip.AddrPort, error) {
	port, err := strconv.ParseUint(p, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("port %q", p)
	}
	var addr netip.Addr
	if strings.Contains(a, ":") {
		addr, err = netip.ParseAddr(a)
	} else {
		var b []byte
		if b, err = hex.DecodeString(a); err == nil && len(b) == 4 {
			addr = netip.AddrFrom4([4]byte(b))
		} else if err == nil {
			err = errors.New("not 4 bytes")
		}
	}
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("address %q: %v", a, err)
	}
	return netip.AddrPortFrom(addr, uint16(port)), nil
}
