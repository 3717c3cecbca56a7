package controller

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/lvsnode/lvsnode/ipvs"
)

// The restore grammar is the one ipvsadm -S writes and ipvsadm -R reads:
// one command per line, "-A" lines for services and "-a" lines for their
// real servers, with ipvsadm's options. Blank lines and lines starting
// with '#' are ignored, and "-C" is accepted (restore replaces the table
// anyway). Other commands (-E -D -e -d -Z --set) describe steps, not a
// table, and are refused.

type optDef struct {
	short, long string
	arg         int // 0 none, 1 required, 2 optional (-p)
	set         func(f *Flags, v string)
}

var restoreOpts = []optDef{
	{"-t", "--tcp-service", 1, func(f *Flags, v string) { f.TCP = v }},
	{"-u", "--udp-service", 1, func(f *Flags, v string) { f.UDP = v }},
	{"", "--sctp-service", 1, func(f *Flags, v string) { f.SCTP = v }},
	{"-f", "--fwmark-service", 1, func(f *Flags, v string) { f.FWMark = v }},
	{"-6", "--ipv6", 0, func(f *Flags, _ string) { f.IPv6 = true }},
	{"-s", "--scheduler", 1, func(f *Flags, v string) { f.Scheduler = v }},
	{"-p", "--persistent", 2, func(f *Flags, v string) { f.Persistent = v }},
	{"-M", "--netmask", 1, func(f *Flags, v string) { f.Netmask = v }},
	{"", "--pe", 1, func(f *Flags, v string) { f.PE = v }},
	{"-o", "--ops", 0, func(f *Flags, _ string) { f.OnePacket = true }},
	{"-b", "--sched-flags", 1, func(f *Flags, v string) { f.SchedFlags = v }},
	{"-r", "--real-server", 1, func(f *Flags, v string) { f.Real = v }},
	{"-g", "--gatewaying", 0, func(f *Flags, _ string) { f.DR = true }},
	{"-i", "--ipip", 0, func(f *Flags, _ string) { f.TUN = true }},
	{"-m", "--masquerading", 0, func(f *Flags, _ string) { f.NAT = true }},
	{"-w", "--weight", 1, func(f *Flags, v string) { f.Weight = v }},
	{"-x", "--u-threshold", 1, func(f *Flags, v string) { f.Upper = v }},
	{"-y", "--l-threshold", 1, func(f *Flags, v string) { f.Lower = v }},
	{"", "--tun-type", 1, func(f *Flags, v string) { f.TunType = v }},
	{"", "--tun-port", 1, func(f *Flags, v string) { f.TunPort = v }},
	{"", "--tun-nocsum", 0, func(f *Flags, _ string) { f.TunNoCsum = true }},
	{"", "--tun-csum", 0, func(f *Flags, _ string) { f.TunCsum = true }},
	{"", "--tun-remcsum", 0, func(f *Flags, _ string) { f.TunRemCsum = true }},
}

var restoreCmds = map[string]string{
	"-A": "-A", "--add-service": "-A",
	"-a": "-a", "--add-server": "-a",
	"-C": "-C", "--clear": "-C",
}

var refusedCmds = map[string]bool{
	"-E": true, "--edit-service": true, "-D": true, "--delete-service": true,
	"-e": true, "--edit-server": true, "-d": true, "--delete-server": true,
	"-Z": true, "--zero": true, "--set": true, "-L": true, "-l": true, "--list": true,
	"-S": true, "--save": true, "-R": true, "--restore": true,
	"--start-daemon": true, "--stop-daemon": true,
}

// maxLine bounds one input line; ipvsadm -S lines are under 200 bytes.
const maxLine = 4096

// ParseRules reads a whole restore input and returns the table it
// describes. It reads and validates everything before returning: the first
// bad line gives a one-line error "line N: ..." wrapping ErrInput, and no
// table.
func ParseRules(r io.Reader) (Table, error) {
	var t Table
	index := map[ipvs.ServiceKey]int{}   // service -> position in t.Services
	defined := map[ipvs.ServiceKey]int{} // service -> line of its -A
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), maxLine)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := parseRuleLine(line, n, &t, index, defined); err != nil {
			return Table{}, err
		}
	}
	if err := sc.Err(); err != nil {
		if err == bufio.ErrTooLong {
			return Table{}, inputErr("line %d: longer than %d bytes", n+1, maxLine)
		}
		return Table{}, fmt.Errorf("read restore input: %w", err)
	}
	return t, nil
}

func parseRuleLine(line string, n int, t *Table, index, defined map[ipvs.ServiceKey]int) error {
	lineErr := func(err error) error {
		msg := strings.TrimPrefix(err.Error(), ErrInput.Error()+": ")
		return inputErr("line %d: %s", n, msg)
	}
	cmd, f, err := tokenize(strings.Fields(line))
	if err != nil {
		return lineErr(err)
	}
	if cmd == "-C" {
		if f != (Flags{rules: true}) {
			return lineErr(inputErr("-C takes no options"))
		}
		t.ClearLine = n
		return nil
	}
	if cmd == "-A" && (f.Real != "" || f.DR || f.TUN || f.NAT || f.Weight != "" || f.Upper != "" || f.Lower != "") {
		return lineErr(inputErr("real-server options on a -A line: put them on a -a line"))
	}
	if cmd == "-a" && (f.Scheduler != "" || f.Persistent != "" || f.Netmask != "" || f.OnePacket || f.SchedFlags != "" || f.PE != "") {
		return lineErr(inputErr("service options (-s -p -M -o -b --pe) on a -a line: put them on the -A line"))
	}
	spec, err := Parse(f)
	if err != nil {
		return lineErr(err)
	}
	switch cmd {
	case "-A":
		if prev, ok := defined[spec.Service]; ok {
			return lineErr(inputErr("service %s is already defined on line %d", spec.Service, prev))
		}
		svc, err := spec.ServiceValue(nil)
		if err != nil {
			return lineErr(err)
		}
		if isDigits(f.Netmask) && !svc.Is6() {
			t.Notes = append(t.Notes, fmt.Sprintf("line %d: -M %s is the mask %s, as ipvsadm -R reads it (inet_aton); for a prefix write it dotted (-M 255.255.255.0 for /24)",
				n, f.Netmask, maskText(ipvs.Service{ServiceKey: svc.ServiceKey, Netmask: svc.Netmask, Mask4: svc.Mask4})))
		}
		defined[spec.Service] = n
		index[spec.Service] = len(t.Services)
		t.Services = append(t.Services, Entry{Service: svc, Line: n, DestLines: map[ipvs.DestKey]int{}})
	case "-a":
		if !spec.HasReal {
			return lineErr(inputErr("-a needs a real server (-r)"))
		}
		i, ok := index[spec.Service]
		if !ok {
			return lineErr(inputErr("real server for service %s, which no earlier -A line defines", spec.Service))
		}
		d, err := spec.ruleDest()
		if err != nil {
			return lineErr(err)
		}
		e := &t.Services[i]
		for _, x := range e.Dests {
			if x.DestKey == d.DestKey {
				return lineErr(inputErr("real server %s of %s is already defined", d.DestKey, spec.Service))
			}
		}
		e.Dests = append(e.Dests, d)
		e.DestLines[d.DestKey] = n
	}
	return nil
}

// tokenize runs a small getopt over one line's words: exactly one command
// (-A, -a or -C) and ipvsadm's options, as "-x v", "--long v" or
// "--long=v".
func tokenize(words []string) (string, Flags, error) {
	f := Flags{rules: true}
	cmd := ""
	seen := map[string]bool{}
	for i := 0; i < len(words); i++ {
		w := words[i]
		if c, ok := restoreCmds[w]; ok {
			if cmd != "" {
				return "", f, inputErr("more than one command (%s and %s)", cmd, w)
			}
			cmd = c
			continue
		}
		if refusedCmds[w] {
			return "", f, inputErr("%s is not accepted in restore input: only -A and -a lines (the ipvsadm -S format) and -C", w)
		}
		name, val, hasVal := strings.Cut(w, "=")
		if !strings.HasPrefix(name, "--") {
			hasVal = false
			name, val = w, ""
		}
		var def *optDef
		for j := range restoreOpts {
			o := &restoreOpts[j]
			if name == o.long || (o.short != "" && name == o.short) {
				def = o
				break
			}
		}
		if def == nil {
			if strings.HasPrefix(w, "-") {
				return "", f, inputErr("unknown option %q", w)
			}
			return "", f, inputErr("unexpected word %q", w)
		}
		if seen[def.long] {
			return "", f, inputErr("option %s given twice", def.long)
		}
		seen[def.long] = true
		switch def.arg {
		case 0:
			if hasVal {
				return "", f, inputErr("option %s takes no value", def.long)
			}
		case 1:
			if !hasVal {
				if i+1 >= len(words) {
					return "", f, inputErr("option %s needs a value", name)
				}
				i++
				val = words[i]
			}
			if val == "" {
				return "", f, inputErr("option %s needs a value", name)
			}
		case 2:
			if hasVal && val == "" {
				return "", f, inputErr("option %s= needs a timeout (or leave out '=' for %ds)", name, DefaultPersistence)
			}
			if !hasVal {
				val = fmt.Sprint(DefaultPersistence)
				if i+1 < len(words) && isDigits(words[i+1]) {
					i++
					val = words[i]
				}
			}
		}
		def.set(&f, val)
	}
	if cmd == "" {
		return "", f, inputErr("no command: a line starts with -A (service), -a (real server) or -C")
	}
	return cmd, f, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
