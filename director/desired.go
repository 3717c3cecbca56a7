package director

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/lvsnode/lvsnode/health"
)

// Desired is what a Store holds: the managed services with their real
// servers, and what the daemon must remember across a restart so that it
// changes nothing that was already right (each real server's last health
// and drain state, the data-path marks it handed out, the services it
// programmed).
type Desired struct {
	Services []ServiceSpec `json:"services"`
	// Config is the config file's services as last merged: a reload
	// applies only what the file changed since (a three-way merge), so
	// changes made through the API survive reloads and restarts.
	Config []ServiceSpec `json:"config,omitempty"`
	// Owned are the services (ServiceName) this daemon created or took
	// over; a service dropped from Services is removed from IPVS only if
	// it is here. Anything else in IPVS is never touched.
	Owned []string `json:"owned,omitempty"`
	// Nodes is each real server's runtime state, by node id
	// ("tcp 10.0.0.100:80 10.0.0.11:80").
	Nodes map[string]NodeState `json:"nodes,omitempty"`
	// Marks are the data-path fwmarks handed out, by path (pathID), so a
	// restart reuses the same mark and the fwmark service is adopted.
	Marks map[string]uint32 `json:"marks,omitempty"`
	// Generation counts changes of Services (Status.Generation).
	Generation uint64 `json:"generation"`
}

// NodeState is a real server's runtime state, saved so that a restart
// restores it (the check's initial state, the drain in progress).
type NodeState struct {
	Health     string    `json:"health,omitempty"`   // up | down | draining
	Drain      string    `json:"drain,omitempty"`    // none | draining | drained | parked
	DrainBy    string    `json:"drain_by,omitempty"` // agent | api
	DrainSince time.Time `json:"drain_since,omitzero"`
	Timeout    Duration  `json:"drain_timeout,omitempty"`
	Remove     bool      `json:"drain_remove,omitempty"`
}

// ServiceSpec is one managed service (the config's services[] item).
type ServiceSpec struct {
	Service    string     `json:"service" yaml:"service"`
	Scheduler  string     `json:"scheduler,omitempty" yaml:"scheduler"`
	Persistent uint32     `json:"persistent,omitempty" yaml:"persistent"`
	OnDown     string     `json:"on_down,omitempty" yaml:"on_down"`
	Quorum     int        `json:"quorum,omitempty" yaml:"quorum"`
	Sorry      *NodeSpec  `json:"sorry,omitempty" yaml:"sorry"`
	Check      *CheckSpec `json:"check,omitempty" yaml:"check"`
	Nodes      []NodeSpec `json:"nodes" yaml:"nodes"`

	lines lines // where each key is in the config file (nil from the API)
}

// NodeSpec is one real server of a service.
type NodeSpec struct {
	Address string     `json:"address" yaml:"address"`
	Port    uint16     `json:"port,omitempty" yaml:"port"`
	Weight  *uint32    `json:"weight,omitempty" yaml:"weight"`
	Method  string     `json:"method,omitempty" yaml:"method"`
	TunType string     `json:"tun_type,omitempty" yaml:"tun_type"`
	TunPort uint16     `json:"tun_port,omitempty" yaml:"tun_port"`
	TunCsum string     `json:"tun_csum,omitempty" yaml:"tun_csum"`
	Upper   uint32     `json:"u_threshold,omitempty" yaml:"u_threshold"`
	Lower   uint32     `json:"l_threshold,omitempty" yaml:"l_threshold"`
	Check   *CheckSpec `json:"check,omitempty" yaml:"check"`

	lines lines
}

// CheckSpec is a health check as the config and the state file write it
// (health.Definition with text durations and the data_path switch).
type CheckSpec struct {
	Type     string   `json:"type" yaml:"type"`
	Target   string   `json:"target,omitempty" yaml:"target"`
	Port     uint16   `json:"port,omitempty" yaml:"port"`
	Path     string   `json:"path,omitempty" yaml:"path"`
	Host     string   `json:"host,omitempty" yaml:"host"`
	Expect   []int    `json:"expect,omitempty" yaml:"expect"`
	Body     string   `json:"body,omitempty" yaml:"body"`
	Insecure bool     `json:"insecure,omitempty" yaml:"insecure"`
	CAFile   string   `json:"ca_file,omitempty" yaml:"ca_file"`
	Mark     uint32   `json:"mark,omitempty" yaml:"mark"`
	Source   string   `json:"source,omitempty" yaml:"source"`
	Interval Duration `json:"interval,omitempty" yaml:"interval"`
	Timeout  Duration `json:"timeout,omitempty" yaml:"timeout"`
	Rise     int      `json:"rise,omitempty" yaml:"rise"`
	Fall     int      `json:"fall,omitempty" yaml:"fall"`
	DataPath bool     `json:"data_path,omitempty" yaml:"data_path"`

	lines lines
}

// lines maps a YAML key to its line; "" is the mapping's own line.
type lines map[string]int

func (l lines) at(key string) int {
	if n, ok := l[key]; ok {
		return n
	}
	return l[""]
}

// definition turns c into the health check of a real server at rs; vip is
// the service's address (the data-path target).
func (c CheckSpec) definition(rs netip.Addr, vip netip.Addr) (health.Definition, error) {
	d := health.Definition{Type: health.Type(c.Type), Port: c.Port, Path: c.Path, Host: c.Host,
		Expect: c.Expect, Body: c.Body, Insecure: c.Insecure, CAFile: c.CAFile, Mark: c.Mark,
		Interval: time.Duration(c.Interval), Timeout: time.Duration(c.Timeout), Rise: c.Rise, Fall: c.Fall}
	d.Target = rs
	if c.DataPath {
		d.Target = vip
	}
	if c.Target != "" {
		a, err := netip.ParseAddr(c.Target)
		if err != nil {
			return d, fmt.Errorf("%w: check target %q is not an IP address", ErrInvalid, c.Target)
		}
		d.Target = a
	}
	if c.Source != "" {
		a, err := netip.ParseAddr(c.Source)
		if err != nil {
			return d, fmt.Errorf("%w: check source %q is not an IP address", ErrInvalid, c.Source)
		}
		d.Source = a
	}
	return d, nil
}

// checkSpecOf is the API's health.Definition as a CheckSpec.
func checkSpecOf(d *health.Definition) *CheckSpec {
	if d == nil {
		return nil
	}
	c := &CheckSpec{Type: string(d.Type), Port: d.Port, Path: d.Path, Host: d.Host, Expect: d.Expect,
		Body: d.Body, Insecure: d.Insecure, CAFile: d.CAFile, Mark: d.Mark, Interval: Duration(d.Interval),
		Timeout: Duration(d.Timeout), Rise: d.Rise, Fall: d.Fall}
	if d.Target.IsValid() {
		c.Target = d.Target.String()
	}
	if d.Source.IsValid() {
		c.Source = d.Source.String()
	}
	return c
}

func clone[T any](s []T) []T { return append([]T(nil), s...) }
