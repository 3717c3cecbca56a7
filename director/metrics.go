package director

// The controller's Prometheus metrics, served by the daemon's metrics
// listener (default 127.0.0.1:9110/metrics).
//
// Cost of a scrape: one Runtime.Status() (whose weights and connection
// gauges the daemon reads from IPVS) and no table dump of its own: the
// IPVS packet, byte and connection counters come from the table the
// reconcile loop last read (so they are up to `resync` old; the kernel
// itself refreshes its rates every 2 s). Only the services the daemon
// manages (those in Status) are exported.

import (
	"net/http"
	"net/netip"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lvsnode/lvsnode/controller"
	"github.com/lvsnode/lvsnode/health"
	"github.com/lvsnode/lvsnode/ipvs"
)

func init() {
	RegisterMetrics(func(rt Runtime) (http.Handler, Observer) {
		var table func() controller.Table
		if d, ok := rt.(*Daemon); ok {
			table = d.lastTable
		}
		m := NewMetrics(rt, table)
		return m.Handler(), m
	})
}

// lastTable is the IPVS table (with counters) the last reconcile read.
func (d *Daemon) lastTable() controller.Table {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.lastRead
}

// Metrics is the controller's collector and the Observer the daemon
// reports probes and reconciles to. Safe for concurrent use.
type Metrics struct {
	// Registry holds the controller's metrics plus the Go runtime's and the
	// process's (process_cpu_seconds_total: the daemon's CPU cost).
	Registry *prometheus.Registry

	rt    Runtime
	table func() controller.Table

	checkLatency *prometheus.HistogramVec
	reconciles   prometheus.Counter
	changes      prometheus.Counter
	errors       prometheus.Counter
	mu           sync.Mutex // serializes scrapes: one Status() at a time
}

var _ Observer = (*Metrics)(nil)

// Descriptions of the metrics built at each scrape.
var (
	svcLabels  = []string{"service"}
	nodeLabels = []string{"service", "realserver"}

	descReady = prometheus.NewDesc("lvsnode_director_ready",
		"1 when the first reconcile succeeded and the last did not fail.", nil, nil)
	descRSWeight = prometheus.NewDesc("lvsnode_ipvs_realserver_weight",
		"The real server's weight in IPVS now (0 while down or draining).", nodeLabels, nil)
	descRSConfWeight = prometheus.NewDesc("lvsnode_realserver_configured_weight",
		"The weight the desired state gives the real server.", nodeLabels, nil)
	descRSActive = prometheus.NewDesc("lvsnode_ipvs_realserver_active_connections",
		"ActiveConn: established connections IPVS schedules to the real server.", nodeLabels, nil)
	descRSInact = prometheus.NewDesc("lvsnode_ipvs_realserver_inactive_connections",
		"InActConn: connections in other states (closing, or UDP entries).", nodeLabels, nil)
	descRSPersist = prometheus.NewDesc("lvsnode_ipvs_realserver_persistent_connections",
		"PersistConn: persistence templates pointing at the real server.", nodeLabels, nil)
	descRSHealth = prometheus.NewDesc("lvsnode_realserver_health",
		"1 for the real server's health state (up, down, draining, unknown), 0 for the others.", append(nodeLabels, "state"), nil)
	descRSDrain = prometheus.NewDesc("lvsnode_realserver_drain",
		"1 for the real server's drain state (none, draining, drained, parked), 0 for the others.", append(nodeLabels, "state"), nil)

	descRSAgent = prometheus.NewDesc("lvsnode_realserver_agent",
		"1 for the lvsnode agent's readiness as the director last read it (ready, not-ready, draining, unknown; none: not probed), 0 for the others.", append(nodeLabels, "state"), nil)

	healthStates = []string{HealthUp, HealthDown, HealthDraining, HealthUnknown}
	agentStates  = []string{AgentReady, AgentNotReady, AgentDraining, AgentUnknown, AgentNone}
	drainStates  = []string{DrainNone, DrainDraining, DrainDrained, DrainParked}
)

// ipvsCounter is one of IPVS's 64-bit counters, per service and real server.
type ipvsCounter struct {
	svc, rs *prometheus.Desc
	v       func(ipvs.Stats) uint64
}

var ipvsCounters = func() []ipvsCounter {
	var out []ipvsCounter
	for _, c := range []struct {
		name, help string
		v          func(ipvs.Stats) uint64
	}{
		{"connections", "connections scheduled", func(s ipvs.Stats) uint64 { return s.Conns }},
		{"packets_in", "packets received from clients", func(s ipvs.Stats) uint64 { return s.InPkts }},
		{"packets_out", "packets sent to clients (NAT only: DR and TUN replies bypass the director)", func(s ipvs.Stats) uint64 { return s.OutPkts }},
		{"bytes_in", "bytes received from clients", func(s ipvs.Stats) uint64 { return s.InBytes }},
		{"bytes_out", "bytes sent to clients (NAT only)", func(s ipvs.Stats) uint64 { return s.OutBytes }},
	} {
		out = append(out, ipvsCounter{
			svc: prometheus.NewDesc("lvsnode_ipvs_service_"+c.name+"_total", "IPVS: "+c.help+" by the service.", svcLabels, nil),
			rs:  prometheus.NewDesc("lvsnode_ipvs_realserver_"+c.name+"_total", "IPVS: "+c.help+" for the real server.", nodeLabels, nil),
			v:   c.v,
		})
	}
	return out
}()

// NewMetrics builds the collector for rt. table returns the IPVS table
// with counters as last read (nil: no IPVS counters are exported).
func NewMetrics(rt Runtime, table func() controller.Table) *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry(), rt: rt, table: table}
	m.checkLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "lvsnode_check_latency_seconds",
		Help: "Time each health check probe took, by result (ok, fail).",
		// 200 µs (loopback) to 5 s (a timeout at the longest sensible setting).
		Buckets: []float64{.0002, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"result"})
	m.reconciles = prometheus.NewCounter(prometheus.CounterOpts{Name: "lvsnode_reconcile_total",
		Help: "Reconciles of IPVS to the desired state."})
	m.changes = prometheus.NewCounter(prometheus.CounterOpts{Name: "lvsnode_reconcile_changes_total",
		Help: "IPVS changes the reconciles planned (0 per reconcile when the table is right)."})
	m.errors = prometheus.NewCounter(prometheus.CounterOpts{Name: "lvsnode_reconcile_errors_total",
		Help: "Reconciles that failed (reading or writing IPVS, or saving the state)."})
	m.Registry.MustRegister(m, m.checkLatency, m.reconciles, m.changes, m.errors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in Prometheus's text (or protobuf) format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{MaxRequestsInFlight: 2})
}

// Checked observes one probe.
func (m *Metrics) Checked(_ NodeRef, r health.Result) {
	res := "ok"
	if !r.OK {
		res = "fail"
	}
	m.checkLatency.WithLabelValues(res).Observe(r.Latency.Seconds())
}

// Reconciled counts one reconcile.
func (m *Metrics) Reconciled(changes int, err error) {
	m.reconciles.Inc()
	m.changes.Add(float64(changes))
	if err != nil {
		m.errors.Inc()
	}
}

// Describe sends the fixed descriptions (the per-scrape metrics are
// checked against them).
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descReady, descRSWeight, descRSConfWeight, descRSActive, descRSInact, descRSPersist, descRSHealth, descRSDrain, descRSAgent} {
		ch <- d
	}
	for _, c := range ipvsCounters {
		ch <- c.svc
		ch <- c.rs
	}
	for _, d := range syncDescs {
		ch <- d
	}
	for _, d := range storeDescs { // metrics_store.go
		ch <- d
	}
}

// rsLabel is a real server as "10.0.0.11:80" / "[fd00::11]:80".
func rsLabel(addr string, port uint16) string {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	return netip.AddrPortFrom(a, port).String()
}

// Collect reads Status once and the last table once.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.rt.Status()
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	gauge(descReady, b2f(st.Ready))
	collectSync(ch, st.Sync)
	collectStore(st, ch) // metrics_store.go
	managed := map[string]bool{}
	for _, s := range st.Services {
		managed[s.Service] = true
		for _, n := range s.Nodes {
			rs := rsLabel(n.Address, n.Port)
			gauge(descRSWeight, float64(n.Weight), s.Service, rs)
			gauge(descRSConfWeight, float64(n.ConfiguredWeight), s.Service, rs)
			gauge(descRSActive, float64(n.ActiveConn), s.Service, rs)
			gauge(descRSInact, float64(n.InactConn), s.Service, rs)
			gauge(descRSPersist, float64(n.PersistConn), s.Service, rs)
			for _, h := range healthStates {
				gauge(descRSHealth, b2f(n.Health == h), s.Service, rs, h)
			}
			drain := n.Drain
			if drain == "" {
				drain = DrainNone
			}
			for _, d := range drainStates {
				gauge(descRSDrain, b2f(drain == d), s.Service, rs, d)
			}
			for _, a := range agentStates {
				gauge(descRSAgent, b2f(n.Agent == a), s.Service, rs, a)
			}
		}
	}
	if m.table == nil {
		return
	}
	for _, e := range m.table().Services {
		svc := ServiceName(e.Service.ServiceKey)
		if !managed[svc] {
			continue
		}
		for _, c := range ipvsCounters {
			ch <- prometheus.MustNewConstMetric(c.svc, prometheus.CounterValue, float64(c.v(e.Service.Stats)), svc)
		}
		for _, d := range e.Dests {
			rs := d.DestKey.String()
			for _, c := range ipvsCounters {
				ch <- prometheus.MustNewConstMetric(c.rs, prometheus.CounterValue, float64(c.v(d.Stats)), svc, rs)
			}
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
