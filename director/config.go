package director

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/lvsnode/lvsnode/health"
)

// Config is `lvsnode controller run`'s configuration (examples/director.yaml
// documents every key and why).
type Config struct {
	StateFile string        `yaml:"state_file"`
	Metrics   string        `yaml:"metrics"`
	LockFile  string        `yaml:"lock_file"`
	LockWait  Duration      `yaml:"lock_wait"`
	Resync    Duration      `yaml:"resync"`
	Drain     DrainDefaults `yaml:"drain"`
	Sysctls   SysctlConfig  `yaml:"sysctls"`
	DataPath  DataPathConf  `yaml:"datapath"`
	API       APIConfig     `yaml:"api"`
	View      ViewConfig    `yaml:"view"`  // the status page on the metrics listener (package view)
	Sync      SyncConfig    `yaml:"sync"`  // connection sync daemons (sync.go)
	Store     StoreConfig   `yaml:"store"` // director/storeconfig.go
	// ActiveActive makes this director safe behind ECMP beside others
	// (director/activeactive.go): mh with mh-port, sloppy_tcp.
	ActiveActive bool          `yaml:"active_active"`
	Services     []ServiceSpec `yaml:"services"`

	// Path is the file the config came from, for messages.
	Path string `yaml:"-"`
	// marks is DataPath.Marks parsed.
	markLo, markHi uint32
}

// DrainDefaults apply to drains that do not say otherwise (the agent's,
// and API drains without a timeout).
type DrainDefaults struct {
	Timeout  Duration `yaml:"timeout"`
	Remove   bool     `yaml:"remove"`
	Interval Duration `yaml:"interval"`
}

// SysctlConfig: whether the daemon checks and sets the IPVS sysctls.
type SysctlConfig struct {
	Manage *bool `yaml:"manage"`
}

// APIConfig is the runtime API's listeners (served by director/api*.go).
type APIConfig struct {
	Socket    string `yaml:"socket"`     // unix socket, mode 0600 (default /run/lvsnode/director.sock)
	Listen    string `yaml:"listen"`     // optional TCP listener; needs token_file
	TokenFile string `yaml:"token_file"` // bearer token for the TCP listener
	// TLSCert and TLSKey (PEM files) put the TCP listener behind TLS,
	// which it needs off loopback: the token must not cross the network
	// in clear.
	TLSCert string `yaml:"tls_cert"`
	TLSKey  string `yaml:"tls_key"`
}

// ViewConfig is the status page's access off loopback. TokenFile is a
// read-only bearer token: it grants GET /v1/status on the metrics listener
// and nothing else (the API's token is never accepted there), because the
// page sends it every second, over plain HTTP unless a TLS proxy is in front.
type ViewConfig struct {
	TokenFile string `yaml:"token_file"`
}

// check: the token file is readable as the API reads its own, and is not
// the API's (a write-capable token must not be sent by the page).
func (v ViewConfig) check(api APIConfig) error {
	if v.TokenFile == "" {
		return nil
	}
	tok, err := readToken(v.TokenFile)
	if err != nil {
		return fmt.Errorf("view.token_file: %v", err)
	}
	if api.TokenFile != "" {
		if apiTok, err := readToken(api.TokenFile); err == nil && string(apiTok) == string(tok) {
			return errors.New("view.token_file holds the same token as api.token_file: the page's token is sent in clear and must be read-only: give it its own")
		}
	}
	return nil
}

// DefaultSocket is the runtime API's unix socket.
const DefaultSocket = "/run/lvsnode/director.sock"

// DataPathConf: the fwmarks the daemon may use for data-path services.
type DataPathConf struct {
	Marks string `yaml:"marks"`
}

// Defaults, and why.
const (
	DefaultStateFile = "/var/lib/lvsnode/director.json" // survives reboots: health and drains are restored
	DefaultMetrics   = "127.0.0.1:9110"                 // loopback: scraped through a local agent or proxy
	DefaultResync    = 10 * time.Second                 // repairs hand edits of managed services within 10 s
	DefaultLockWait  = 5 * time.Second                  // a one-shot CLI restore can take that long on 100k rules
	DefaultDrainWait = 5 * time.Minute                  // long-lived connections get 5 minutes
	DefaultDrainPoll = time.Second                      // how often a draining real server's counters are read
	DefaultMarks     = "0x4c560000-0x4c5600ff"          // "LV" prefix: unlikely to collide with a site's marks
)

// withDefaults fills unset keys.
func (c *Config) withDefaults() {
	if c.StateFile == "" {
		c.StateFile = DefaultStateFile
	}
	if c.Metrics == "" {
		c.Metrics = DefaultMetrics
	}
	if c.Resync == 0 {
		c.Resync = Duration(DefaultResync)
	}
	if c.LockWait == 0 {
		c.LockWait = Duration(DefaultLockWait)
	}
	if c.Drain.Timeout == 0 {
		c.Drain.Timeout = Duration(DefaultDrainWait)
	}
	if c.Drain.Interval == 0 {
		c.Drain.Interval = Duration(DefaultDrainPoll)
	}
	if c.API.Socket == "" {
		c.API.Socket = DefaultSocket
	}
	if c.DataPath.Marks == "" {
		c.DataPath.Marks = DefaultMarks
	}
}

// ManageSysctls is sysctls.manage (default true).
func (c Config) ManageSysctls() bool { return c.Sysctls.Manage == nil || *c.Sysctls.Manage }

// LoadConfig reads and validates a config file. Errors are one line,
// "path:line: what", and wrap ErrInvalid (or the read error).
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config %w", err)
	}
	return ParseConfig(path, b)
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?(?:unmarshal errors:\n\s*)?line (\d+): (.*)$`)

// ParseConfig is LoadConfig on bytes; path is for messages.
func ParseConfig(path string, b []byte) (Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err == nil {
		if err := checkKeys(path, &root); err != nil {
			return Config{}, err
		}
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		msg := err.Error()
		var te *yaml.TypeError
		if errors.As(err, &te) && len(te.Errors) > 0 {
			msg = te.Errors[0]
		}
		if m := yamlLine.FindStringSubmatch(strings.TrimSpace(msg)); m != nil {
			return Config{}, fmt.Errorf("%w: %s:%s: %s", ErrInvalid, path, m[1], m[2])
		}
		return Config{}, fmt.Errorf("%w: %s: %s", ErrInvalid, path, strings.ReplaceAll(msg, "\n", " "))
	}
	attachLines(&root, &c)
	c.Path = path
	if err := c.validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// validate checks everything but the services' content (compile does that,
// with the marks); errors name path:line.
func (c *Config) validate() error {
	c.withDefaults()
	lo, hi, err := parseMarks(c.DataPath.Marks)
	if err != nil {
		return fmt.Errorf("%w: %s: datapath.marks: %v", ErrInvalid, c.Path, err)
	}
	c.markLo, c.markHi = lo, hi
	if err := checkListenAddr(c.Metrics); err != nil {
		return fmt.Errorf("%w: %s: metrics: %v", ErrInvalid, c.Path, err)
	}
	if err := c.API.check(); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalid, c.Path, err)
	}
	if err := c.View.check(c.API); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalid, c.Path, err)
	}
	if err := c.Store.validate(c.Path); err != nil {
		return err
	}
	if _, err := c.compile(clone(c.Services), newMarkAlloc(lo, hi, nil), nil); err != nil {
		return c.wrap(err)
	}
	return c.validateSync()
}

// wrap formats a compile error as "path:line: message".
func (c *Config) wrap(err error) error {
	msg := strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": ")
	msg = strings.TrimPrefix(msg, ErrInvalid.Error()+"\n")
	msg = strings.ReplaceAll(msg, "\n", ": ")
	if l := lineOf(err); l > 0 {
		return fmt.Errorf("%w: %s:%d: %s", ErrInvalid, c.Path, l, msg)
	}
	return fmt.Errorf("%w: %s: %s", ErrInvalid, c.Path, msg)
}

// parseMarks reads "LO-HI" (numbers in C notation).
func parseMarks(s string) (uint32, uint32, error) {
	a, b, ok := strings.Cut(s, "-")
	lo, err1 := strconv.ParseUint(strings.TrimSpace(a), 0, 32)
	hi, err2 := strconv.ParseUint(strings.TrimSpace(b), 0, 32)
	if !ok || err1 != nil || err2 != nil || lo == 0 || hi < lo {
		return 0, 0, fmt.Errorf("%q: want LO-HI, e.g. 0x4c560000-0x4c5600ff (LO above 0)", s)
	}
	return uint32(lo), uint32(hi), nil
}

// checkKeys decodes every key of every check on its own, so that an error
// of a text-typed value (target, source, initial), which yaml.v3 reports
// without a line, still names path:line and the key.
func checkKeys(path string, root *yaml.Node) error {
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	svcs := mapValue(root, "services")
	if svcs == nil || svcs.Kind != yaml.SequenceNode {
		return nil
	}
	type block struct {
		name string // check or agent
		node *yaml.Node
	}
	var checks []block
	for _, sn := range svcs.Content {
		checks = append(checks, block{"check", mapValue(sn, "check")}, block{"agent", mapValue(sn, "agent")})
		if nodes := mapValue(sn, "nodes"); nodes != nil {
			for _, nn := range nodes.Content {
				checks = append(checks, block{"check", mapValue(nn, "check")}, block{"agent", mapValue(nn, "agent")})
			}
		}
	}
	for _, b := range checks {
		cn := b.node
		if cn == nil || cn.Kind != yaml.MappingNode {
			continue
		}
		for i := 0; i+1 < len(cn.Content); i += 2 {
			k, v := cn.Content[i], cn.Content[i+1]
			var d health.Definition
			one := yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{k, v}}
			if err := one.Decode(&d); err != nil && !strings.Contains(err.Error(), "line ") {
				msg := strings.TrimPrefix(err.Error(), health.ErrInvalid.Error()+": ")
				return fmt.Errorf("%w: %s:%d: %s.%s: %s", ErrInvalid, path, v.Line, b.name, k.Value, msg)
			}
		}
	}
	return nil
}

// attachLines records where each service, node, check and sorry key is.
func attachLines(root *yaml.Node, c *Config) {
	if root.Kind == yaml.DocumentNode && len(root.Content) > 0 {
		root = root.Content[0]
	}
	if st := mapValue(root, "store"); st != nil {
		c.Store.lines = keyLines(st)
	}
	svcs := mapValue(root, "services")
	if svcs == nil || svcs.Kind != yaml.SequenceNode {
		return
	}
	for i, sn := range svcs.Content {
		if i >= len(c.Services) {
			break
		}
		s := &c.Services[i]
		s.lines = keyLines(sn)
		s.checkLines = keyLines(mapValue(sn, "check"))
		s.agentLines = keyLines(mapValue(sn, "agent"))
		if s.Sorry != nil {
			s.Sorry.lines = keyLines(mapValue(sn, "sorry"))
		}
		nodes := mapValue(sn, "nodes")
		if nodes == nil {
			continue
		}
		for j, nn := range nodes.Content {
			if j >= len(s.Nodes) {
				break
			}
			s.Nodes[j].lines = keyLines(nn)
			s.Nodes[j].checkLines = keyLines(mapValue(nn, "check"))
			s.Nodes[j].agentLines = keyLines(mapValue(nn, "agent"))
		}
	}
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

func keyLines(n *yaml.Node) lines {
	if n == nil {
		return nil
	}
	l := lines{"": n.Line}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			l[n.Content[i].Value] = n.Content[i].Line
		}
	}
	return l
}

// UnmarshalYAML reads a duration, naming the line on error (yaml.v3 does
// not for text unmarshalers).
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if err := d.UnmarshalText([]byte(n.Value)); err != nil {
		return fmt.Errorf("line %d: %s", n.Line, strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
	}
	return nil
}

// checkListenAddr accepts what a listener binds: IP:PORT, [IPv6]:PORT or
// :PORT (every address), the port a number. A host name is refused: it
// would be resolved at every start, and could resolve to another address.
func checkListenAddr(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q: want IP:PORT, e.g. 127.0.0.1:9110", s)
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || (p == 0 && port != "0") {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", s, port)
	}
	if host != "" {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("%q: %q is not an IP address", s, host)
		}
	}
	return nil
}
