package director

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/lvsnode/lvsnode/health"
	"github.com/lvsnode/lvsnode/ipvs"
)

// NodeRef names a real server of a service. Service is ipvsadm-like text:
// "tcp 10.0.0.100:80", "udp [fd00::100]:53", "sctp 10.0.0.100:9",
// "fwm 7", "fwm 7 ipv6"; with Drain, "*" means every service the address
// is in. Port 0 means the service's port (ipvsadm's default for -r without
// a port).
type NodeRef struct {
	Service string `json:"service" yaml:"service"`
	Address string `json:"address" yaml:"address"`
	Port    uint16 `json:"port,omitempty" yaml:"port,omitempty"`
}

func (r NodeRef) String() string {
	if r.Port != 0 {
		return fmt.Sprintf("%s of %s port %d", r.Address, r.Service, r.Port)
	}
	return fmt.Sprintf("%s of %s", r.Address, r.Service)
}

// Node is a real server as the API adds it. Unset optional fields take
// the defaults: weight 1, method dr, tun_type ipip, no thresholds, no check.
type Node struct {
	NodeRef
	Weight  *uint32            `json:"weight"`
	Method  string             `json:"method"`   // dr | tun | nat
	TunType string             `json:"tun_type"` // ipip | gue | gre (method tun)
	TunPort uint16             `json:"tun_port"` // gue's destination port
	TunCsum string             `json:"tun_csum"` // none | csum | remcsum (gue, gre)
	Upper   uint32             `json:"u_threshold"`
	Lower   uint32             `json:"l_threshold"`
	Check   *health.Definition `json:"check"`
	Agent   *health.Definition `json:"agent,omitempty"` // the agent's /readyz beside check (type ready)
}

// NodePatch edits a real server: only the fields given (non-nil) change
// (issue 8's rule, as `controller edit-node`).
type NodePatch struct {
	NodeRef
	Weight  *uint32            `json:"weight,omitempty"`
	Method  *string            `json:"method,omitempty"`
	TunType *string            `json:"tun_type,omitempty"`
	TunPort *uint16            `json:"tun_port,omitempty"`
	TunCsum *string            `json:"tun_csum,omitempty"`
	Upper   *uint32            `json:"u_threshold,omitempty"`
	Lower   *uint32            `json:"l_threshold,omitempty"`
	Check   *health.Definition `json:"check,omitempty"`
	Agent   *health.Definition `json:"agent,omitempty"`
}

// DrainOptions tune a drain. Timeout 0 means the configured default.
type DrainOptions struct {
	Timeout Duration `json:"timeout"`
	// Remove the real server once drained; else park it at weight 0.
	Remove bool `json:"remove"`
}

// Duration is a time.Duration written as text ("30s", "5m") in JSON and
// YAML; JSON also accepts a number of nanoseconds.
type Duration time.Duration

func (d Duration) String() string { return time.Duration(d).String() }

func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("%w: duration %q: want e.g. 500ms, 30s, 5m", ErrInvalid, b)
	}
	if v < 0 {
		return fmt.Errorf("%w: duration %q is negative", ErrInvalid, b)
	}
	*d = Duration(v)
	return nil
}

func (d *Duration) UnmarshalJSON(b []byte) error {
	var n int64
	if err := json.Unmarshal(b, &n); err == nil {
		*d = Duration(n)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("%w: duration %s: want a string such as \"30s\"", ErrInvalid, b)
	}
	return d.UnmarshalText([]byte(s))
}

// Status is a snapshot of the running director.
type Status struct {
	Generation uint64          `json:"generation"` // bumped by every change of the desired state
	Ready      bool            `json:"ready"`      // the first reconcile succeeded and the last did not fail (and, under active_active, the shared store was read once: Daemon.Ready)
	Services   []ServiceStatus `json:"services"`
	Sync       *SyncStatus     `json:"sync,omitempty"`  // connection sync, when configured (sync.go)
	Store      *StoreStatus    `json:"store,omitempty"` // a shared store (etcd) only: reachable, revision
	// Now is the director's clock when it answered: readers compute ages
	// (last check, drain) as Now minus those times, never with their own
	// clock against the director's timestamps.
	Now time.Time `json:"now"`
}

// ServiceStatus is one service as the director sees it.
type ServiceStatus struct {
	Service   string `json:"service"` // "tcp 10.0.0.100:80", the NodeRef form
	Scheduler string `json:"scheduler"`
	Managed   bool   `json:"managed"`
	// Quorum is the configured minimum of up real servers (0: none); Up is
	// how many are up now. Below quorum the sorry server takes the traffic
	// (Sorry true).
	Quorum int          `json:"quorum"`
	Up     int          `json:"up"`
	Sorry  bool         `json:"sorry"`
	Nodes  []NodeStatus `json:"nodes"`

	// Flags are the settings ipvsadm -Ln prints after the scheduler
	// ("(sh-port) persistent 300 ops"); SorryServer is the configured sorry
	// server ("10.0.0.99:80", "" for none). For the status page and top.
	Flags       string `json:"flags,omitempty"`
	SorryServer string `json:"sorry_server,omitempty"`
	// Stats are the service's IPVS counters and the kernel's rate
	// estimates (CPS, InBPS, ...: averaged over about 2 s), as of the
	// last table read (at most 1 s old).
	Stats ipvs.Stats `json:"stats"`
}

// NodeStatus is one real server of a service.
type NodeStatus struct {
	NodeRef
	Method           string    `json:"method"`            // dr | tun | nat
	ConfiguredWeight uint32    `json:"configured_weight"` // from the desired state
	Weight           uint32    `json:"weight"`            // in IPVS now
	Health           string    `json:"health"`            // up | down | draining | unknown
	LastCheck        Check     `json:"last_check"`
	Drain            string    `json:"drain"` // none | draining | drained | parked
	DrainSince       time.Time `json:"drain_since,omitempty"`
	ActiveConn       uint32    `json:"active_conn"`
	InactConn        uint32    `json:"inact_conn"`
	PersistConn      uint32    `json:"persist_conn"`
	Agent            string    `json:"agent"` // ready | not-ready | draining | unknown | none (not probed)
	// Stats are the real server's IPVS counters and rates (see
	// ServiceStatus.Stats).
	Stats ipvs.Stats `json:"stats"`
}

// Check is the last probe of a real server's health check.
type Check struct {
	OK        bool      `json:"ok"`
	Reason    string    `json:"reason"`
	LatencyMS float64   `json:"latency_ms"`
	At        time.Time `json:"at"`
}

// Health states (NodeStatus.Health).
const (
	HealthUp       = "up"
	HealthDown     = "down"
	HealthDraining = "draining"
	HealthUnknown  = "unknown" // no check configured, or not probed yet
)

// Drain states (NodeStatus.Drain).
const (
	DrainNone     = "none"
	DrainDraining = "draining" // weight 0, waiting for connections to end
	DrainDrained  = "drained"  // connections ended (or timeout); removed if asked
	DrainParked   = "parked"   // drained and kept at weight 0
)

// Agent readiness (NodeStatus.Agent), from the node's agent: probe, or
// from its check when that is of type ready.
const (
	AgentReady    = "ready"
	AgentNotReady = "not-ready"
	AgentDraining = "draining"
	AgentUnknown  = "unknown" // probed, no answer yet
	AgentNone     = "none"    // no agent: probe (nor a ready check) for this real server
)
