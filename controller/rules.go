package controller

import (
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
}

var restoreOpts = []optDef{
	{"-t", "--tcp-service", 1},
	{"-u", "--udp-service", 1},
	{"", "--sctp-service", 1},
	{"-f", "--fwmark-service", 1},
	{"-6", "--ipv6", 0},
	{"-s", "--scheduler", 1},
	{"-p", "--persistent", 2},
	{"-M", "--netmask", 1},
	{"", "--pe", 1},
	{"-o", "--ops", 0},
	{"-b", "--sched-flags", 1},
	{"-r", "--real-server", 1},
	{"-g", "--gatewaying", 0},
	{"-i", "--ipip", 0},
	{"-m", "--masquerading", 0},
	{"-w", "--weight", 1},
	{"-x", "--u-threshold", 1},
	{"-y", "--l-threshold", 1},
	{"", "--tun-type", 1},
	{"", "--tun-port", 1},
	{"", "--tun-nocsum", 0},
	{"", "--tun-csum", 0},
	{"", "--tun-remcsum", 0},
}

// setOpt stores option long's value in f (a switch, not a function per
// option: f stays on the caller's stack).
func setOpt(f *Flags, long, v string) {
	switch long {
	case "--tcp-service":
		f.TCP = v
	case "--udp-service":
		f.UDP = v
	case "--sctp-service":
		f.SCTP = v
	case "--fwmark-service":
		f.FWMark = v
	case "--ipv6":
		f.IPv6 = true
	case "--scheduler":
		f.Scheduler = v
	case "--persistent":
		f.Persistent = v
	case "--netmask":
		f.Netmask = v
	case "--pe":
		f.PE = v
	case "--ops":
		f.OnePacket = true
	case "--sched-flags":
		f.SchedFlags = v
	case "--real-server":
		f.Real = v
	case "--gatewaying":
		f.DR = true
	case "--ipip":
		f.TUN = true
	case "--masquerading":
		f.NAT = true
	case "--weight":
		f.Weight = v
	case "--u-threshold":
		f.Upper = v
	case "--l-threshold":
		f.Lower = v
	case "--tun-type":
		f.TunType = v
	case "--tun-port":
		f.TunPort = v
	case "--tun-nocsum":
		f.TunNoCsum = true
	case "--tun-csum":
		f.TunCsum = true
	case "--tun-remcsum":
		f.TunRemCsum = true
	}
}

// restoreCmd is the command a word names in restore input ("" if none),
// and whether it is one restore refuses. (Switches, not maps: they are
// asked about every word of every line.)
func restoreCmd(w string) (cmd string, refused bool) {
	if len(w) < 2 || w[0] != '-' {
		return "", false
	}
	switch w {
	case "-A", "--add-service":
		return "-A", false
	case "-a", "--add-server":
		return "-a", false
	case "-C", "--clear":
		return "-C", false
	case "-E", "--edit-service", "-D", "--delete-service",
		"-e", "--edit-server", "-d", "--delete-server",
		"-Z", "--zero", "--set", "-L", "-l", "--list",
		"-S", "--save", "-R", "--restore",
		"--start-daemon", "--stop-daemon":
		return "", true
	}
	return "", false
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
	// The input is read whole and cut into lines in place: a Scanner's
	// Text copies every line.
	data, err := io.ReadAll(r)
	if err != nil {
		return Table{}, fmt.Errorf("read restore input: %w", err)
	}
	rest := string(data)
	for n := 1; rest != ""; n++ {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		if len(line) > maxLine {
			return Table{}, inputErr("line %d: longer than %d bytes", n, maxLine)
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := parseRuleLine(line, n, &t, index, defined); err != nil {
			return Table{}, err
		}
	}
	return t, nil
}

func parseRuleLine(line string, n int, t *Table, index, defined map[ipvs.ServiceKey]int) error {
	lineErr := func(err error) error {
		msg := strings.TrimPrefix(err.Error(), ErrInput.Error()+": ")
		return inputErr("line %d: %s", n, msg)
	}
	var wbuf [32]string // the words of a line, without a heap slice
	cmd, f, err := tokenize(appendFields(wbuf[:0], line))
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
		// Room for as many real servers as the previous service had:
		// tables are mostly uniform, and growing Dests one append at a
		// time cost a third of parsing.
		room := 4
		if k := len(t.Services); k > 0 {
			room = max(room, len(t.Services[k-1].Dests))
		}
		t.Services = append(t.Services, Entry{Service: svc, Line: n,
			Dests: make([]ipvs.Destination, 0, room), DestLines: make([]int, 0, room)})
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
		e.DestLines = append(e.DestLines, n)
	}
	return nil
}

// tokenize runs a small getopt over one line's words: exactly one command
// (-A, -a or -C) and ipvsadm's options, as "-x v", "--long v" or
// "--long=v".
func tokenize(words []string) (string, Flags, error) {
	f := Flags{rules: true}
	cmd := ""
	var seen uint64 // bit j: restoreOpts[j] was given
	for i := 0; i < len(words); i++ {
		w := words[i]
		c, refused := restoreCmd(w)
		if c != "" {
			if cmd != "" {
				return "", f, inputErr("more than one command (%s and %s)", cmd, w)
			}
			cmd = c
			continue
		}
		if refused {
			return "", f, inputErr("%s is not accepted in restore input: only -A and -a lines (the ipvsadm -S format) and -C", w)
		}
		name, val, hasVal := strings.Cut(w, "=")
		if !strings.HasPrefix(name, "--") {
			hasVal = false
			name, val = w, ""
		}
		var def *optDef
		var bit uint64
		for j := range restoreOpts {
			o := &restoreOpts[j]
			if name == o.long || (o.short != "" && name == o.short) {
				def, bit = o, 1<<j
				break
			}
		}
		if def == nil {
			if strings.HasPrefix(w, "-") {
				return "", f, inputErr("unknown option %q", w)
			}
			return "", f, inputErr("unexpected word %q", w)
		}
		if seen&bit != 0 {
			return "", f, inputErr("option %s given twice", def.long)
		}
		seen |= bit
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
				val = defaultPersistenceText
				if i+1 < len(words) && isDigits(words[i+1]) {
					i++
					val = words[i]
				}
			}
		}
		setOpt(&f, def.long, val)
	}
	if cmd == "" {
		return "", f, inputErr("no command: a line starts with -A (service), -a (real server) or -C")
	}
	return cmd, f, nil
}

var defaultPersistenceText = fmt.Sprint(DefaultPersistence)

// appendFields appends the space-separated words of line to words (as
// strings.Fields, without allocating when words has room).
func appendFields(words []string, line string) []string {
	for i := 0; i < len(line); {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		j := i
		for j < len(line) && !isSpace(line[j]) {
			j++
		}
		if j > i {
			words = append(words, line[i:j])
		}
		i = j
	}
	return words
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r' || c == '\n'
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
