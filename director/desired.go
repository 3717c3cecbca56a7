package director

import (
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
	Agent      string    `json:"agent,omitempty"`    // ready | not-ready | draining (agent: probe)
	Drain      string    `json:"drain,omitempty"`    // none | draining | drained | parked
	DrainBy    string    `json:"drain_by,omitempty"` // agent | api
	DrainSince time.Time `json:"drain_since,omitzero"`
	Timeout    Duration  `json:"drain_timeout,omitempty"`
	Remove     bool      `json:"drain_remove,omitempty"`
}

// ServiceSpec is one managed service (the config's services[] item).
type ServiceSpec struct {
	Service    string             `json:"service" yaml:"service"`
	Scheduler  string             `json:"scheduler,omitempty" yaml:"scheduler"`
	Persistent uint32             `json:"persistent,omitempty" yaml:"persistent"`
	OnDown     string             `json:"on_down,omitempty" yaml:"on_down"`
	Quorum     int                `json:"quorum,omitempty" yaml:"quorum"`
	Sorry      *NodeSpec          `json:"sorry,omitempty" yaml:"sorry"`
	Check      *health.Definition `json:"check,omitempty" yaml:"check"` // inherited by nodes without their own
	Agent      *health.Definition `json:"agent,omitempty" yaml:"agent"` // the same for the agent's readiness
	Nodes      []NodeSpec         `json:"nodes" yaml:"nodes"`

	lines      lines // where each key is in the config file (nil from the API)
	checkLines lines // the same for the check's keys
	agentLines lines // and the agent's
}

// NodeSpec is one real server of a service.
type NodeSpec struct {
	Address string             `json:"address" yaml:"address"`
	Port    uint16             `json:"port,omitempty" yaml:"port"`
	Weight  *uint32            `json:"weight,omitempty" yaml:"weight"`
	Method  string             `json:"method,omitempty" yaml:"method"`
	TunType string             `json:"tun_type,omitempty" yaml:"tun_type"`
	TunPort uint16             `json:"tun_port,omitempty" yaml:"tun_port"`
	TunCsum string             `json:"tun_csum,omitempty" yaml:"tun_csum"`
	Upper   uint32             `json:"u_threshold,omitempty" yaml:"u_threshold"`
	Lower   uint32             `json:"l_threshold,omitempty" yaml:"l_threshold"`
	Check   *health.Definition `json:"check,omitempty" yaml:"check"`
	Agent   *health.Definition `json:"agent,omitempty" yaml:"agent"` // the lvsnode agent's /readyz, beside check

	lines, checkLines, agentLines lines
}

// lines maps a YAML key to its line; "" is the mapping's own line.
type lines map[string]int

func (l lines) at(key string) int {
	if n, ok := l[key]; ok {
		return n
	}
	return l[""]
}

// checkDefinition is c as the health check of a real server at rs: the
// target defaults to rs, or to vip (the service's address) for a data-path
// probe.
func checkDefinition(c health.Definition, rs, vip netip.Addr) health.Definition {
	if !c.Target.IsValid() {
		c.Target = rs
		if c.DataPath {
			c.Target = vip
		}
	}
	c.Expect = clone(c.Expect)
	return c
}

// cloneCheck copies an API check so the caller's value is not shared.
func cloneCheck(d *health.Definition) *health.Definition {
	if d == nil {
		return nil
	}
	c := *d
	c.Expect = clone(d.Expect)
	return &c
}

func clone[T any](s []T) []T { return append([]T(nil), s...) }
