package controller

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/lvsnode/lvsnode/ipvs"
)

// sorted returns a copy of t in ipvsadm's order (the real servers of
// every service copied into one array).
func sorted(t Table) Table {
	_, nd := t.Size()
	all := make([]ipvs.Destination, 0, nd)
	c := Table{Services: make([]Entry, len(t.Services))}
	for i, e := range t.Services {
		all = append(all, e.Dests...)
		c.Services[i] = Entry{Service: e.Service, Dests: all[len(all)-len(e.Dests) : len(all) : len(all)]}
	}
	c.Sort()
	return c
}

// numeric formats an address and port as ipvsadm -n does: [v6]:port.
func numeric(a netip.Addr, port uint16) string {
	return string(appendNumeric(nil, a, port))
}

// The table's lines are written with appends into the output buffer
// (bufio.Writer.AvailableBuffer) rather than fmt: formatting the list of a
// large table with fmt cost more than reading it from the kernel.

// appendNumeric appends an address and port as ipvsadm -n prints them.
func appendNumeric(b []byte, a netip.Addr, port uint16) []byte {
	if a.Is6() {
		b = append(b, '[')
		b = a.AppendTo(b)
		b = append(b, ']')
	} else {
		b = a.AppendTo(b)
	}
	b = append(b, ':')
	return strconv.AppendUint(b, uint64(port), 10)
}

// pad appends spaces to b until the field that starts at from is width
// bytes wide (printf's %-*s).
func pad(b []byte, from, width int) []byte {
	for len(b)-from < width {
		b = append(b, ' ')
	}
	return b
}

// appendUintField appends v left-aligned in width columns (printf's %-*d).
func appendUintField(b []byte, v uint32, width int) []byte {
	from := len(b)
	return pad(strconv.AppendUint(b, uint64(v), 10), from, width)
}

// outBuf is the output buffer's size: a large table's listing goes out in
// few write calls.
const outBuf = 64 << 10

// serviceArg is the service part of a save line: "-t 10.0.0.100:80",
// "--sctp-service [fd00::100]:80", "-f 1 -6".
func serviceArg(k ipvs.ServiceKey) string {
	if k.FWMark != 0 {
		if k.IPv6 {
			return fmt.Sprintf("-f %d -6", k.FWMark)
		}
		return fmt.Sprintf("-f %d", k.FWMark)
	}
	opt := "--sctp-service "
	switch k.Protocol {
	case ipvs.TCP:
		opt = "-t "
	case ipvs.UDP:
		opt = "-u "
	}
	return string(appendNumeric([]byte(opt), k.Addr, k.Port))
}

// schedFlagsText names the -b flags of a service as ipvsadm prints them.
func schedFlagsText(s ipvs.Service) string {
	var names []string
	switch s.Scheduler {
	case "sh", "mh":
		if s.Flags&ipvs.FlagSched1 != 0 {
			names = append(names, s.Scheduler+"-fallback")
		}
		if s.Flags&ipvs.FlagSched2 != 0 {
			names = append(names, s.Scheduler+"-port")
		}
		if s.Flags&ipvs.FlagSched3 != 0 {
			names = append(names, "flag-3") // no named meaning for sh/mh
		}
	default:
		for i, b := range []uint32{ipvs.FlagSched1, ipvs.FlagSched2, ipvs.FlagSched3} {
			if s.Flags&b != 0 {
				names = append(names, fmt.Sprintf("flag-%d", i+1))
			}
		}
	}
	return strings.Join(names, ",")
}

// maskText is the -M value: dotted for IPv4 (any mask the kernel holds,
// as ipvsadm's inet_ntoa prints it), a length for IPv6; "" when it is the
// full length (ipvsadm leaves it out then).
func maskText(s ipvs.Service) string {
	if m4 := mask4(s); m4 != 0 {
		return netip.AddrFrom4([4]byte{byte(m4 >> 24), byte(m4 >> 16), byte(m4 >> 8), byte(m4)}).String()
	}
	m := normMask(s)
	if m == ipvs.FullMask(s.Is6()) {
		return ""
	}
	if s.Is6() {
		return fmt.Sprint(m)
	}
	var b [4]byte
	for i := 0; i < m; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(b).String()
}

// maskName is the mask for messages: "/24", or dotted when not a prefix.
func maskName(s ipvs.Service) string {
	if mask4(s) != 0 {
		return maskText(s)
	}
	return fmt.Sprintf("/%d", normMask(s))
}

var tunFlagOpt = map[ipvs.TunnelFlags]string{ipvs.NoCsum: "--tun-nocsum", ipvs.Csum: "--tun-csum", ipvs.RemCsum: "--tun-remcsum"}

func fwdSwitch(f ipvs.Forward) string {
	switch f {
	case ipvs.Masq:
		return "-m"
	case ipvs.Tunnel:
		return "-i"
	}
	return "-g" // Route and Local
}

// Save writes t in ipvsadm -S -n format, sorted as ipvsadm sorts. One
// deliberate addition: real servers with thresholds get "-x U -y L", which
// ipvsadm -S drops but ipvsadm -R accepts.
func Save(w io.Writer, t Table) error {
	bw := bufio.NewWriterSize(w, outBuf)
	for _, e := range sorted(t).Services {
		s := e.Service
		svc := serviceArg(s.ServiceKey)
		b := append(bw.AvailableBuffer(), "-A "...)
		b = append(append(append(b, svc...), " -s "...), s.Scheduler...)
		if s.Flags&ipvs.FlagPersistent != 0 {
			b = strconv.AppendUint(append(b, " -p "...), uint64(s.Timeout), 10)
			if m := maskText(s); m != "" {
				b = append(append(b, " -M "...), m...)
			}
		}
		if s.PEName != "" {
			b = append(append(b, " --pe "...), s.PEName...)
		}
		if s.Flags&ipvs.FlagOnePacket != 0 {
			b = append(b, " -o"...)
		}
		if f := schedFlagsText(s); f != "" {
			b = append(append(b, " -b "...), f...)
		}
		bw.Write(append(b, '\n'))
		for _, d := range e.Dests {
			b := append(append(append(bw.AvailableBuffer(), "-a "...), svc...), " -r "...)
			b = appendNumeric(b, d.Addr, d.Port)
			b = append(append(append(b, ' '), fwdSwitch(d.Forward)...), " -w "...)
			b = strconv.AppendUint(b, uint64(d.Weight), 10)
			if d.UpperThreshold != 0 || d.LowerThreshold != 0 {
				b = strconv.AppendUint(append(b, " -x "...), uint64(d.UpperThreshold), 10)
				b = strconv.AppendUint(append(b, " -y "...), uint64(d.LowerThreshold), 10)
			}
			if d.Forward == ipvs.Tunnel {
				switch d.TunnelType {
				case ipvs.IPIP:
					b = append(b, " --tun-type ipip"...)
				case ipvs.GUE:
					b = strconv.AppendUint(append(b, " --tun-type gue --tun-port "...), uint64(d.TunnelPort), 10)
					b = append(append(b, ' '), tunFlagOpt[d.TunnelFlags]...)
				case ipvs.GRE:
					b = append(append(b, " --tun-type gre "...), tunFlagOpt[d.TunnelFlags]...)
				}
			}
			bw.Write(append(b, '\n'))
		}
	}
	return bw.Flush()
}

// ListFormat selects the columns of List.
type ListFormat int

// List formats, as ipvsadm -Ln and its --stats, --rate, --thresholds,
// --persistent-conn and --tun-info variants.
const (
	ListPlain ListFormat = iota
	ListStats
	ListRate
	ListThresholds
	ListPersistentConn
	ListTunInfo
)

// ListOptions tune List.
type ListOptions struct {
	Format ListFormat
	Exact  bool // --exact: no K/M/G abbreviations
	// NoSort keeps the kernel's order (ipvsadm --nosort: its hash order
	// of services, each service's newest real server first) instead of
	// libipvs's sort.
	NoSort bool
	// NoHeader leaves out the "IP Virtual Server version" line, as
	// ipvsadm does when listing one service.
	NoHeader bool
}

// List writes t as ipvsadm -Ln (or --stats / --rate) would.
func List(w io.Writer, info ipvs.Info, t Table, o ListOptions) error {
	bw := bufio.NewWriterSize(w, outBuf)
	if !o.NoHeader {
		fmt.Fprintf(bw, "IP Virtual Server version %d.%d.%d (size=%d)\n", info.Version[0], info.Version[1], info.Version[2], info.TableSize)
	}
	switch o.Format {
	case ListStats:
		fmt.Fprintf(bw, "%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n", "Prot LocalAddress:Port", "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes")
	case ListRate:
		fmt.Fprintf(bw, "%-33s %8s %8s %8s %8s %8s\n  -> RemoteAddress:Port\n", "Prot LocalAddress:Port", "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS")
	case ListThresholds:
		fmt.Fprintf(bw, "%-33s %-10s %-10s %-10s %-10s\n  -> RemoteAddress:Port\n", "Prot LocalAddress:Port", "Uthreshold", "Lthreshold", "ActiveConn", "InActConn")
	case ListPersistentConn:
		fmt.Fprintf(bw, "%-33s %-9s %-11s %-10s %-10s\n  -> RemoteAddress:Port\n", "Prot LocalAddress:Port", "Weight", "PersistConn", "ActiveConn", "InActConn")
	case ListTunInfo:
		bw.WriteString("Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n")
	default:
		bw.WriteString("Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n")
	}
	num := func(v uint64) string { return largeNum(v, o.Exact) }
	if !o.NoSort {
		t = sorted(t)
	}
	var dnBuf []byte
	for _, e := range t.Services {
		s := e.Service
		name := listName(s.ServiceKey)
		switch o.Format {
		case ListStats:
			st := s.Stats
			fmt.Fprintf(bw, "%-33s%s%s%s%s%s\n", name, num(st.Conns), num(st.InPkts), num(st.OutPkts), num(st.InBytes), num(st.OutBytes))
		case ListRate:
			st := s.Stats
			fmt.Fprintf(bw, "%-33s%s%s%s%s%s\n", name, num(st.CPS), num(st.InPPS), num(st.OutPPS), num(st.InBPS), num(st.OutBPS))
		default:
			b := append(append(append(bw.AvailableBuffer(), name...), ' '), s.Scheduler...)
			if f := schedFlagsText(s); f != "" {
				b = append(append(append(b, " ("...), f...), ')')
			}
			if s.Flags&ipvs.FlagPersistent != 0 {
				b = strconv.AppendUint(append(b, " persistent "...), uint64(s.Timeout), 10)
				if m := maskText(s); m != "" {
					b = append(append(b, " mask "...), m...)
				}
				if s.PEName != "" {
					b = append(append(b, " pe "...), s.PEName...) // ipvsadm shows it only here
				}
			}
			if s.Flags&ipvs.FlagOnePacket != 0 {
				b = append(b, " ops"...)
			}
			bw.Write(append(b, '\n'))
		}
		for _, d := range e.Dests {
			dn := appendNumeric(dnBuf[:0], d.Addr, d.Port)
			dnBuf = dn
			if !d.Addr.Is6() && len(dn) > 28 {
				dn = dn[:28]
			}
			st := d.Stats
			switch o.Format {
			case ListStats:
				fmt.Fprintf(bw, "  -> %-28s%s%s%s%s%s\n", dn, num(st.Conns), num(st.InPkts), num(st.OutPkts), num(st.InBytes), num(st.OutBytes))
			case ListRate:
				fmt.Fprintf(bw, "  -> %-28s %8d %8d %8d%s%s\n", dn, st.CPS, st.InPPS, st.OutPPS, num(st.InBPS), num(st.OutBPS))
			case ListThresholds:
				fmt.Fprintf(bw, "  -> %-28s %-10d %-10d %-10d %-10d\n", dn, d.UpperThreshold, d.LowerThreshold, d.ActiveConns, d.InactiveConns)
			case ListPersistentConn:
				fmt.Fprintf(bw, "  -> %-28s %-9d %-11d %-10d %-10d\n", dn, d.Weight, d.PersistentConns, d.ActiveConns, d.InactiveConns)
			case ListTunInfo:
				fmt.Fprintf(bw, "  -> %-28s %-7s %-13s %-6d %-10d %-10d\n", dn, d.Forward, tunInfo(d), d.Weight, d.ActiveConns, d.InactiveConns)
			default: // "  -> %-28s %-7s %-6d %-10d %-10d\n"
				b := append(bw.AvailableBuffer(), "  -> "...)
				from := len(b)
				b = pad(append(b, dn...), from, 28)
				b = append(b, ' ')
				from = len(b)
				b = pad(append(b, d.Forward.String()...), from, 7)
				b = appendUintField(append(b, ' '), d.Weight, 6)
				b = appendUintField(append(b, ' '), d.ActiveConns, 10)
				b = appendUintField(append(b, ' '), d.InactiveConns, 10)
				bw.Write(append(b, '\n'))
			}
		}
	}
	return bw.Flush()
}

// tunInfo is ipvsadm --tun-info's column: "ipip", "gue:6080:+c",
// "gre:-c", or "n/a" for other methods.
func tunInfo(d ipvs.Destination) string {
	if d.Forward != ipvs.Tunnel {
		return "n/a"
	}
	csum := map[ipvs.TunnelFlags]string{ipvs.NoCsum: "-c", ipvs.Csum: "+c", ipvs.RemCsum: "r+c"}[d.TunnelFlags]
	switch d.TunnelType {
	case ipvs.IPIP:
		return "ipip"
	case ipvs.GUE:
		return fmt.Sprintf("gue:%d:%s", d.TunnelPort, csum)
	case ipvs.GRE:
		return "gre:" + csum
	}
	return "n/a"
}

// listName is the first column of a service line ("TCP  10.0.0.100:80");
// ipvsadm cuts IPv4 names at 33 characters.
func listName(k ipvs.ServiceKey) string {
	if k.FWMark != 0 {
		if k.IPv6 {
			return fmt.Sprintf("FWM  %d IPv6", k.FWMark)
		}
		return fmt.Sprintf("FWM  %d", k.FWMark)
	}
	b := pad([]byte(k.Protocol.String()), 0, 4)
	name := string(appendNumeric(append(b, ' '), k.Addr, k.Port))
	if !k.Is6() && len(name) > 33 {
		name = name[:33]
	}
	return name
}

// largeNum is ipvsadm's print_largenum: 9 columns, abbreviated with
// K/M/G/T unless exact.
func largeNum(i uint64, exact bool) string {
	if exact {
		s := fmt.Sprint(i)
		width := 9
		if len(s) > 8 {
			width = len(s) + 1
		}
		return fmt.Sprintf("%*d", width, i)
	}
	switch {
	case i < 100000000:
		return fmt.Sprintf("%9d", i)
	case i < 1000000000:
		return fmt.Sprintf("%8dK", i/1000)
	case i < 100000000000:
		return fmt.Sprintf("%8dM", i/1000000)
	case i < 100000000000000:
		return fmt.Sprintf("%8dG", i/1000000000)
	}
	return fmt.Sprintf("%8dT", i/1000000000000)
}
