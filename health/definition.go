package health

import (
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Type names a kind of probe.
type Type string

const (
	TCP   Type = "tcp"   // connect, then close
	HTTP  Type = "http"  // GET, expected status and optional body match
	HTTPS Type = "https" // the same over TLS, verified unless Insecure
	Ready Type = "ready" // GET /readyz of `lvsnode agent run`
)

// Contract of the agent's readiness endpoint (see the package doc).
const (
	ReadyPath        = "/readyz"
	DrainingLine     = "draining"
	DefaultReadyPort = 9109
)

// Defaults, and why. HAProxy's (inter 2s, rise 2, fall 3) rather than
// keepalived's (delay_loop 60s): a dead real server out within about 6 s, a
// returning one back after two good answers, at 500 probes/s for 1,000 real
// servers.
const (
	DefaultInterval = 2 * time.Second
	DefaultTimeout  = 1 * time.Second // half the interval: a verdict before the next probe
	DefaultRise     = 2               // one lucky answer does not bring traffic back
	DefaultFall     = 3               // one lost SYN does not take a server out
)

// Definition is one check as the daemon's configuration states it. The zero
// values of optional fields mean "default" (see WithDefaults). Its JSON and
// YAML keys are README.md's (snake_case, durations as text such as "200ms";
// definition_json.go), so the director's config, state file and API all
// write it the same way.
type Definition struct {
	Type   Type       `json:"type" yaml:"type"`
	Target netip.Addr `json:"target,omitzero" yaml:"target"`  // dialled: the real server, or the VIP for a data-path probe (Mark set)
	Port   uint16     `json:"port,omitempty" yaml:"port"`     // tcp: required; http 80, https 443, ready 9109
	Path   string     `json:"path,omitempty" yaml:"path"`     // http(s): "/"; ready: always /readyz
	Host   string     `json:"host,omitempty" yaml:"host"`     // Host header and TLS server name; default: the target address
	Expect []int      `json:"expect,omitempty" yaml:"expect"` // http(s): accepted status codes; default [200]
	Body   string     `json:"body,omitempty" yaml:"body"`     // http(s): substring required in the first 64 KiB of the body
	// Insecure skips TLS verification (https). Off by default: a check that
	// accepts any certificate cannot tell a real server from an impostor.
	Insecure bool       `json:"insecure,omitempty" yaml:"insecure"`
	CAFile   string     `json:"ca_file,omitempty" yaml:"ca_file"` // https: PEM roots instead of the system's
	Mark     uint32     `json:"mark,omitempty" yaml:"mark"`       // SO_MARK on the probe socket: routes it through a per-real-server fwmark service
	Source   netip.Addr `json:"source,omitzero" yaml:"source"`    // local address of the probe; default: the kernel's choice
	// DataPath asks the director daemon for a data-path probe: it sets
	// Target to the VIP and Mark to the real server's own fwmark service.
	// This package ignores it (Mark and Target say what is probed).
	DataPath bool          `json:"data_path,omitempty" yaml:"data_path"`
	Interval time.Duration `json:"interval,omitempty" yaml:"interval"`
	Timeout  time.Duration `json:"timeout,omitempty" yaml:"timeout"`
	Rise     int           `json:"rise,omitempty" yaml:"rise"`
	Fall     int           `json:"fall,omitempty" yaml:"fall"`
	// Initial is the state before any probe: Down (the zero value, like
	// keepalived's alpha: no traffic to an unproven server) or Up (a daemon
	// restoring the state it saved). Not part of the Key: the first
	// subscriber of a shared check decides it.
	Initial State `json:"initial,omitzero" yaml:"initial"`
}

// WithDefaults returns d with every unset optional field at its default.
func (d Definition) WithDefaults() Definition {
	if d.Port == 0 {
		switch d.Type {
		case HTTP:
			d.Port = 80
		case HTTPS:
			d.Port = 443
		case Ready:
			d.Port = DefaultReadyPort
		}
	}
	switch d.Type {
	case Ready:
		d.Path = ReadyPath
	case HTTP, HTTPS:
		if d.Path == "" {
			d.Path = "/"
		}
		if len(d.Expect) == 0 {
			d.Expect = []int{200}
		} else {
			d.Expect = slices.Clone(d.Expect)
			slices.Sort(d.Expect)
			d.Expect = slices.Compact(d.Expect)
		}
	}
	if d.Interval == 0 {
		d.Interval = DefaultInterval
	}
	if d.Timeout == 0 {
		d.Timeout = min(DefaultTimeout, d.Interval)
	}
	if d.Rise == 0 {
		d.Rise = DefaultRise
	}
	if d.Fall == 0 {
		d.Fall = DefaultFall
	}
	return d
}

// Validate checks d after defaults; the error wraps ErrInvalid and names the
// field and the check.
func (d Definition) Validate() error {
	d = d.WithDefaults()
	bad := func(field, format string, a ...any) error {
		return fmt.Errorf("%w: %s check of %s: %s: %s", ErrInvalid, d.Type, d.Target, field, fmt.Sprintf(format, a...))
	}
	switch d.Type {
	case TCP, HTTP, HTTPS, Ready:
	default:
		return fmt.Errorf("%w: type %q: want tcp, http, https or ready", ErrInvalid, d.Type)
	}
	if !d.Target.IsValid() {
		return bad("target", "an IP address is required")
	}
	if d.Port == 0 {
		return bad("port", "required for tcp")
	}
	if d.Source.IsValid() && d.Source.Is4() != d.Target.Is4() {
		return bad("source", "%s is not the family of the target", d.Source)
	}
	if d.Type == TCP || d.Type == Ready {
		if len(d.Expect) > 0 || d.Body != "" {
			return bad("expect/body", "only for http and https")
		}
	}
	if d.Type != HTTPS && (d.Insecure || d.CAFile != "") {
		return bad("insecure/ca_file", "only for https")
	}
	if d.Type == HTTP || d.Type == HTTPS {
		if !strings.HasPrefix(d.Path, "/") {
			return bad("path", "%q must start with /", d.Path)
		}
		for _, c := range d.Expect {
			if c < 100 || c > 599 {
				return bad("expect", "%d is not an HTTP status", c)
			}
		}
	}
	if strings.ContainsAny(d.Host, " \t\r\n/") {
		return bad("host", "%q is not a host name", d.Host)
	}
	if d.Interval < 0 || d.Timeout < 0 {
		return bad("interval/timeout", "must be positive")
	}
	if d.Timeout > d.Interval {
		return bad("timeout", "%s exceeds the interval %s: probes would overlap", d.Timeout, d.Interval)
	}
	if d.Rise < 1 || d.Fall < 1 {
		return bad("rise/fall", "must be at least 1")
	}
	if d.Initial > Draining {
		return bad("initial", "%s", d.Initial)
	}
	return nil
}

// Key identifies a check run: two definitions with the same Key share one
// probe and one state (keepalived#2358). It is the canonical text of the
// definition after defaults, readable in logs. Initial is not part of it.
type Key string

// Key returns the definition's key.
func (d Definition) Key() Key {
	d = d.WithDefaults()
	return Key(d.probe() + " " + d.timing())
}

// probe is the part of the key that says what is dialled and judged; two
// runs with the same probe observe the same thing.
func (d Definition) probe() string {
	var b strings.Builder
	b.WriteString(string(d.Type))
	b.WriteByte(' ')
	b.WriteString(netip.AddrPortFrom(d.Target, d.Port).String())
	if d.Mark != 0 {
		fmt.Fprintf(&b, " mark=%#x", d.Mark)
	}
	if d.Source.IsValid() {
		fmt.Fprintf(&b, " source=%s", d.Source)
	}
	if d.Type == HTTP || d.Type == HTTPS {
		fmt.Fprintf(&b, " path=%q", d.Path)
		if d.Host != "" {
			fmt.Fprintf(&b, " host=%q", d.Host)
		}
		codes := make([]string, len(d.Expect))
		for i, c := range d.Expect {
			codes[i] = strconv.Itoa(c)
		}
		fmt.Fprintf(&b, " expect=%s", strings.Join(codes, ","))
		if d.Body != "" {
			fmt.Fprintf(&b, " body=%q", d.Body)
		}
	}
	if d.Type == Ready && d.Host != "" {
		fmt.Fprintf(&b, " host=%q", d.Host)
	}
	if d.Insecure {
		b.WriteString(" insecure")
	}
	if d.CAFile != "" {
		fmt.Fprintf(&b, " ca_file=%q", d.CAFile)
	}
	return b.String()
}

func (d Definition) timing() string {
	return fmt.Sprintf("interval=%s timeout=%s rise=%d fall=%d", d.Interval, d.Timeout, d.Rise, d.Fall)
}

// Offset is the delay before the first probe of this key: a hash of the key
// spread over the interval, the same on every start, so that 1,000 checks
// added at once do not all fire together.
func (k Key) Offset(interval time.Duration) time.Duration {
	if interval <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(k))
	return time.Duration(h.Sum64() % uint64(interval))
}
