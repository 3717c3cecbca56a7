package controller

import (
	"bufio"
	"fmt"
	"io"
	"net/netip"
	"strings"

	"github.com/lvsnode/lvsnode/ipvs"
)

// sorted returns a copy of t in ipvsadm's order.
func sorted(t Table) Table {
	c := Table{Services: make([]Entry, len(t.Services))}
	for i, e := range t.Services {
		c.Services[i] = Entry{Service: e.Service, Dests: append([]ipvs.Destination(nil), e.Dests...)}
	}
	c.Sort()
	return c
}

// numeric formats an address and port as ipvsadm -n does: [v6]:port.
func numeric(a netip.Addr, port uint16) string {
	if a.Is6() {
		return fmt.Sprintf("[%s]:%d", a, port)
	}
	return fmt.Sprintf("%s:%d", a, port)
}

// serviceArg is the service part of a save line: "-t 10.0.0.100:80",
// "--sctp-service [fd00::100]:80", "-f 1 -6".
func serviceArg(k ipvs.ServiceKey) string {
	if k.FWMark != 0 {
		if k.IPv6 {
			return fmt.Sprintf("-f %d -6", k.FWMark)
		}
		return fmt.Sprintf("-f %d", k.FWMark)
	}
	opt := "--sctp-service"
	switch k.Protocol {
	case ipvs.TCP:
		opt = "-t"
	case ipvs.UDP:
		opt = "-u"
	}
	return opt + " " + numeric(k.Addr, k.Port)
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
	bw := bufio.NewWriter(w)
	for _, e := range sorted(t).Services {
		s := e.Service
		svc := serviceArg(s.ServiceKey)
		fmt.Fprintf(bw, "-A %s -s %s", svc, s.Scheduler)
		if s.Flags&ipvs.FlagPersistent != 0 {
			fmt.Fprintf(bw, " -p %d", s.Timeout)
			if m := maskText(s); m != "" {
				fmt.Fprintf(bw, " -M %s", m)
			}
		}
		if s.PEName != "" {
			fmt.Fprintf(bw, " --pe %s", s.PEName)
		}
		if s.Flags&ipvs.FlagOnePacket != 0 {
			bw.WriteString(" -o")
		}
		if f := schedFlagsText(s); f != "" {
			fmt.Fprintf(bw, " -b %s", f)
		}
		bw.WriteString("\n")
		for _, d := range e.Dests {
			fmt.Fprintf(bw, "-a %s -r %s %s -w %d", svc, numeric(d.Addr, d.Port), fwdSwitch(d.Forward), d.Weight)
			if d.UpperThreshold != 0 || d.LowerThreshold != 0 {
				fmt.Fprintf(bw, " -x %d -y %d", d.UpperThreshold, d.LowerThreshold)
			}
			if d.Forward == ipvs.Tunnel {
				switch d.TunnelType {
				case ipvs.IPIP:
					bw.WriteString(" --tun-type ipip")
				case ipvs.GUE:
					fmt.Fprintf(bw, " --tun-type gue --tun-port %d %s", d.TunnelPort, tunFlagOpt[d.TunnelFlags])
				case ipvs.GRE:
					fmt.Fprintf(bw, " --tun-type gre %s", tunFlagOpt[d.TunnelFlags])
				}
			}
			bw.WriteString("\n")
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
	bw := bufio.NewWriter(w)
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
			fmt.Fprintf(bw, "%s %s", name, s.Scheduler)
			if f := schedFlagsText(s); f != "" {
				fmt.Fprintf(bw, " (%s)", f)
			}
			if s.Flags&ipvs.FlagPersistent != 0 {
				fmt.Fprintf(bw, " persistent %d", s.Timeout)
				if m := maskText(s); m != "" {
					fmt.Fprintf(bw, " mask %s", m)
				}
				if s.PEName != "" {
					fmt.Fprintf(bw, " pe %s", s.PEName) // ipvsadm shows it only here
				}
			}
			if s.Flags&ipvs.FlagOnePacket != 0 {
				bw.WriteString(" ops")
			}
			bw.WriteString("\n")
		}
		for _, d := range e.Dests {
			dn := numeric(d.Addr, d.Port)
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
			default:
				fmt.Fprintf(bw, "  -> %-28s %-7s %-6d %-10d %-10d\n", dn, d.Forward, d.Weight, d.ActiveConns, d.InactiveConns)
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
	name := fmt.Sprintf("%-4s %s", k.Protocol, numeric(k.Addr, k.Port))
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
