// Package agent owns a real server's side of an LVS cluster: it turns a
// Config into a Plan (desired sysctls, addresses and routes, each with the
// reason it exists), applies the plan in the order that avoids ARP flux,
// verifies it by reading the kernel back, keeps it true (Daemon), reports it
// (Check) and undoes exactly what it did (Teardown).
package agent

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// ErrBadInput marks errors in what the user gave (flags, environment or
// config file). Nothing has been changed on the system when it is returned.
var ErrBadInput = errors.New("bad input")

// Mode is the LVS forwarding method the real server takes part in.
type Mode string

// The forwarding methods.
const (
	// ModeDR is direct routing: the director rewrites only the MAC address,
	// so the real server must accept packets for the VIP without announcing it.
	ModeDR Mode = "dr"
	// ModeTUN is tunnelling: the director wraps each packet in an outer
	// header (ipip, GUE or GRE) addressed to the real server, which unwraps
	// it and answers the client directly from the VIP.
	ModeTUN Mode = "tun"
	// ModeNAT is masquerading: the director rewrites the destination to the
	// real server's own address, so the replies must go back through it.
	ModeNAT Mode = "nat"
)

// TunType is the encapsulation the director uses in TUN mode (ipvsadm's
// --tun-type).
type TunType string

// The tunnel types IPVS can send (GUE since Linux 5.2, GRE since 5.3).
const (
	TunIPIP TunType = "ipip"
	TunGUE  TunType = "gue"
	TunGRE  TunType = "gre"
)

// Defaults for values neither flags nor the file set.
const (
	DefaultStateFile      = "/var/lib/lvsnode/agent-state.json"
	DefaultResyncInterval = 10 * time.Second
	// MinResyncInterval is the floor of --resync-interval: each re-list
	// reads every sysctl and dumps lo's addresses and routes, so 1ns
	// would burn a core re-reading an unchanged host.
	MinResyncInterval = 100 * time.Millisecond
)

// Value is one user-supplied string and where it came from ("--vip",
// "/etc/lvsnode/agent.yaml:7"), so errors can point at it.
type Value struct {
	S     string
	Where string
}

func (v Value) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrBadInput, v.Where, fmt.Sprintf(format, args...))
}

// Config is the agent's input as given, before validation. Flags override
// the file field by field (cmd/lvsnode does the merge).
type Config struct {
	Mode           Value
	VIPs           []Value
	Interfaces     []Value
	TunType        Value
	TunPort        Value
	Gateways       []Value
	StateFile      string
	SysctlFile     string
	Listen         string
	ResyncInterval time.Duration
	ResyncWhere    string // where ResyncInterval came from, for errors
	TeardownOnStop bool
	DrainOnStop    bool
	DrainTimeout   Value          // a duration; "" = DefaultDrainTimeout
	DrainMinWait   Value          // a duration; "" = DefaultDrainMinWait
	Register       RegisterConfig // register.go
}

// Options is a validated Config.
type Options struct {
	Mode           Mode
	VIPs           []netip.Addr
	Interfaces     []string // extra interfaces for the ARP sysctls, besides all and lo
	TunType        TunType  // tun: the director's --tun-type (ipip when not given)
	TunPort        int      // tun, gue: the director's --tun-port
	Gateways       []Gateway
	StateFile      string
	SysctlFile     string // "" = do not persist sysctls in /etc/sysctl.d
	Listen         string // "" = no HTTP endpoint
	ResyncInterval time.Duration
	TeardownOnStop bool
	Drain          DrainConfig
	Register       *Registration // nil: no self-registration (register.go)
}

// fileConfig is the YAML schema of examples/agent.yaml.
type fileConfig struct {
	Mode           lineString   `yaml:"mode"`
	VIPs           []lineString `yaml:"vips"`
	Interfaces     []lineString `yaml:"interfaces"`
	TunType        lineString   `yaml:"tun-type"`
	TunPort        lineString   `yaml:"tun-port"`
	Gateways       []lineString `yaml:"gateways"`
	StateFile      string       `yaml:"state-file"`
	SysctlFile     string       `yaml:"sysctl-file"`
	Listen         string       `yaml:"listen"`
	ResyncInterval lineString   `yaml:"resync-interval"`
	TeardownOnStop bool         `yaml:"teardown-on-stop"`
	Drain          struct {
		OnStop  bool       `yaml:"on-stop"`
		Timeout lineString `yaml:"timeout"`
		MinWait lineString `yaml:"min-wait"`
	} `yaml:"drain"`
	Register fileRegister `yaml:"register"` // register.go
}

// lineString is a scalar that remembers its line for error messages.
type lineString struct {
	S    string
	Line int
}

func (l *lineString) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a single value, not a list or map", n.Line)
	}
	l.S, l.Line = n.Value, n.Line
	return nil
}

// LoadFile reads a YAML config file. Errors are one line, name the file and,
// where the parser knows it, the line, and wrap ErrBadInput.
func LoadFile(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("%w: config: %v", ErrBadInput, err)
	}
	var fc fileConfig // an empty file (io.EOF) is a valid, empty config
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(&fc); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			err = fixSyntaxLine(data, err)
		}
		return Config{}, fmt.Errorf("%w: %s", ErrBadInput, yamlError(path, err))
	}
	if line, extra := secondDocument(dec, data); extra {
		return Config{}, fmt.Errorf("%w: %s:%d: a second YAML document (---): put every setting in one document", ErrBadInput, path, line)
	}
	at := func(l lineString) Value { return Value{S: l.S, Where: fmt.Sprintf("%s:%d", path, l.Line)} }
	c := Config{
		StateFile:      fc.StateFile,
		SysctlFile:     fc.SysctlFile,
		Listen:         fc.Listen,
		TeardownOnStop: fc.TeardownOnStop,
		DrainOnStop:    fc.Drain.OnStop,
	}
	c.Register = fc.Register.values(at)
	if fc.Drain.Timeout.S != "" {
		c.DrainTimeout = at(fc.Drain.Timeout)
	}
	if fc.Drain.MinWait.S != "" {
		c.DrainMinWait = at(fc.Drain.MinWait)
	}
	if fc.ResyncInterval.S != "" {
		v := at(fc.ResyncInterval)
		d, err := time.ParseDuration(v.S)
		if err != nil {
			return Config{}, v.errorf("resync-interval %q is not a duration (e.g. 10s, 500ms)", v.S)
		}
		c.ResyncInterval, c.ResyncWhere = d, v.Where
	}
	if fc.Mode.S != "" {
		c.Mode = at(fc.Mode)
	}
	for _, v := range fc.VIPs {
		c.VIPs = append(c.VIPs, at(v))
	}
	for _, v := range fc.Interfaces {
		c.Interfaces = append(c.Interfaces, at(v))
	}
	if fc.TunType.S != "" {
		c.TunType = at(fc.TunType)
	}
	if fc.TunPort.S != "" {
		c.TunPort = at(fc.TunPort)
	}
	for _, v := range fc.Gateways {
		c.Gateways = append(c.Gateways, at(v))
	}
	return c, nil
}

// secondDocument tells whether the decoder holds another document after
// the first, and the line of its "---" separator. yaml.v3 reads only the
// first document of a stream; the rest would be silently ignored.
func secondDocument(dec *yaml.Decoder, data []byte) (int, bool) {
	var n yaml.Node
	err := dec.Decode(&n)
	if errors.Is(err, io.EOF) {
		return 0, false
	}
	line := n.Line // the second document's first content, or 0 on error
	lines := strings.Split(string(data), "\n")
	if line <= 0 || line > len(lines) {
		line = len(lines)
	}
	for l := line; l >= 1; l-- { // back to its separator
		if t := strings.TrimRight(lines[l-1], " \t\r"); t == "---" || strings.HasPrefix(t, "--- ") {
			return l, true
		}
	}
	return line, true
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): `)

// fixSyntaxLine corrects yaml.v3's line for syntax errors, which it takes
// from a 0-based mark (one line too early, or none at all). The first line
// at which a prefix of the document stops parsing is where the syntax
// breaks; it is used when it points later than yaml's own figure.
func fixSyntaxLine(data []byte, err error) error {
	reported := 0
	rest := err.Error()
	if m := yamlLine.FindStringSubmatch(rest); m != nil {
		reported, _ = strconv.Atoi(m[1])
		rest = rest[len(m[0]):]
	} else {
		rest = strings.TrimPrefix(rest, "yaml: ")
	}
	lines := strings.SplitAfter(string(data), "\n")
	for n := 1; n <= len(lines); n++ {
		var v any
		if yaml.Unmarshal([]byte(strings.Join(lines[:n], "")), &v) != nil {
			if n > reported {
				return fmt.Errorf("yaml: line %d: %s", n, rest)
			}
			break
		}
	}
	return err
}

var unknownField = regexp.MustCompile(`^field (\S+) not found in type \S+$`)

// yamlError folds yaml.v3's messages ("yaml: line 3: ...", or a multi-line
// "yaml: unmarshal errors:\n  line 4: ...") into "file:3: ..." on one line.
func yamlError(path string, err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
	var parts []string
	for _, l := range strings.Split(msg, "\n") {
		l = strings.TrimSpace(l)
		if rest, ok := strings.CutPrefix(l, "line "); ok {
			if n, tail, ok := strings.Cut(rest, ": "); ok {
				parts = append(parts, fmt.Sprintf("%s:%s: %s", path, n, unknownField.ReplaceAllString(tail, "unknown setting $1")))
				continue
			}
		}
		if l != "" {
			parts = append(parts, path+": "+l)
		}
	}
	return strings.Join(parts, "; ")
}
