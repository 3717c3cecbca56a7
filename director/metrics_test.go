package director

import (
	"errors"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/lvsnode/lvsnode/controller"
	"github.com/lvsnode/lvsnode/health"
	"github.com/lvsnode/lvsnode/ipvs"
)

// metricsFixture: one managed service with two real servers (one
// draining), and a table holding it plus a service the daemon does not
// manage.
func metricsFixture() (*apiFakeRuntime, func() controller.Table) {
	svc := ipvs.ServiceKey{Protocol: ipvs.TCP, Addr: netip.MustParseAddr("10.0.0.100"), Port: 80}
	other := ipvs.ServiceKey{Protocol: ipvs.UDP, Addr: netip.MustParseAddr("10.0.0.200"), Port: 53}
	rt := &apiFakeRuntime{status: Status{Ready: true, Services: []ServiceStatus{{Service: "tcp 10.0.0.100:80", Managed: true, Nodes: []NodeStatus{
		{NodeRef: NodeRef{Service: "tcp 10.0.0.100:80", Address: "10.0.0.11", Port: 80}, ConfiguredWeight: 3, Weight: 3,
			Health: HealthUp, Drain: DrainNone, ActiveConn: 5, InactConn: 2, PersistConn: 1, Agent: AgentReady},
		{NodeRef: NodeRef{Service: "tcp 10.0.0.100:80", Address: "10.0.0.12", Port: 80}, ConfiguredWeight: 2, Weight: 0,
			Health: HealthDraining, Drain: DrainDraining, ActiveConn: 1, Agent: AgentDraining},
	}}}}}
	tbl := controller.Table{Services: []controller.Entry{
		{Service: ipvs.Service{ServiceKey: svc, Stats: ipvs.Stats{Conns: 100, InPkts: 1000, OutPkts: 0, InBytes: 64000, OutBytes: 0}},
			Dests: []ipvs.Destination{
				{DestKey: ipvs.DestKey{Addr: netip.MustParseAddr("10.0.0.11"), Port: 80}, Stats: ipvs.Stats{Conns: 70, InPkts: 700, InBytes: 44800}},
				{DestKey: ipvs.DestKey{Addr: netip.MustParseAddr("10.0.0.12"), Port: 80}, Stats: ipvs.Stats{Conns: 30, InPkts: 300, InBytes: 19200}},
			}},
		{Service: ipvs.Service{ServiceKey: other, Stats: ipvs.Stats{Conns: 9}}},
	}}
	return rt, func() controller.Table { return tbl }
}

func TestMetricsValues(t *testing.T) {
	rt, tbl := metricsFixture()
	m := NewMetrics(rt, tbl)
	m.Reconciled(3, nil)
	m.Reconciled(0, errors.New("netlink: boom"))
	m.Checked(NodeRef{}, health.Result{OK: true, Latency: 3 * time.Millisecond})
	m.Checked(NodeRef{}, health.Result{OK: false, Latency: 1500 * time.Millisecond})
	want := `
# HELP lvsnode_director_ready 1 when the first reconcile succeeded and the last did not fail.
# TYPE lvsnode_director_ready gauge
lvsnode_director_ready 1
# HELP lvsnode_ipvs_realserver_weight The real server's weight in IPVS now (0 while down or draining).
# TYPE lvsnode_ipvs_realserver_weight gauge
lvsnode_ipvs_realserver_weight{realserver="10.0.0.11:80",service="tcp 10.0.0.100:80"} 3
lvsnode_ipvs_realserver_weight{realserver="10.0.0.12:80",service="tcp 10.0.0.100:80"} 0
# HELP lvsnode_realserver_configured_weight The weight the desired state gives the real server.
# TYPE lvsnode_realserver_configured_weight gauge
lvsnode_realserver_configured_weight{realserver="10.0.0.11:80",service="tcp 10.0.0.100:80"} 3
lvsnode_realserver_configured_weight{realserver="10.0.0.12:80",service="tcp 10.0.0.100:80"} 2
# HELP lvsnode_ipvs_realserver_persistent_connections PersistConn: persistence templates pointing at the real server.
# TYPE lvsnode_ipvs_realserver_persistent_connections gauge
lvsnode_ipvs_realserver_persistent_connections{realserver="10.0.0.11:80",service="tcp 10.0.0.100:80"} 1
lvsnode_ipvs_realserver_persistent_connections{realserver="10.0.0.12:80",service="tcp 10.0.0.100:80"} 0
# HELP lvsnode_realserver_drain 1 for the real server's drain state (none, draining, drained, parked), 0 for the others.
# TYPE lvsnode_realserver_drain gauge
lvsnode_realserver_drain{realserver="10.0.0.11:80",service="tcp 10.0.0.100:80",state="drained"} 0
lvsnode_realserver_drain{realserver="10.0.0.11:80",service="tcp 10.0.0.100:80",state="draining"} 0
lvsnode_realserver_drain{realserver="10.0.0.11:80",service="tcp 10.0.0.100:80",state="none"} 1
lvsnode_realserver_drain{realserver="10.0.0.11:80",service="tcp 10.0.0.100:80",state="parked"} 0
lvsnode_realserver_drain{realserver="10.0.0.12:80",service="tcp 10.0.0.100:80",state="drained"} 0
lvsnode_realserver_drain{realserver="10.0.0.12:80",service="tcp 10.0.0.100:80",state="draining"} 1
lvsnode_realserver_drain{realserver="10.0.0.12:80",service="tcp 10.0.0.100:80",state="none"} 0
lvsnode_realserver_drain{realserver="10.0.0.12:80",service="tcp 10.0.0.100:80",state="parked"} 0
# HELP lvsnode_realserver_agent 1 for the lvsnode agent's readiness as the director last read it (ready, not-ready, draining, unknown; none: not probed), 0 for the others.
# TYPE lvsnode_realserver_agent gauge
lvsnode_realserver_agent{realserver="10.0.0.11:80",service="tcp 10.0.0.100:80",state="none"} 0
lvsnode_realserver_agent{realserver="10.0.0.11:80",service="tcp 10.0.0.100:80",state="draining"} 0
lvsnode_realserver_agent{realserver="10.0.0.11:80",service="tcp 10.0.0.100:80",state="not-ready"} 0
lvsnode_realserver_agent{realserver="10.0.0.11:80",service="tcp 10.0.0.100:80",state="ready"} 1
lvsnode_realserver_agent{realserver="10.0.0.11:80",service="tcp 10.0.0.100:80",state="unknown"} 0
lvsnode_realserver_agent{realserver="10.0.0.12:80",service="tcp 10.0.0.100:80",state="none"} 0
lvsnode_realserver_agent{realserver="10.0.0.12:80",service="tcp 10.0.0.100:80",state="draining"} 1
lvsnode_realserver_agent{realserver="10.0.0.12:80",service="tcp 10.0.0.100:80",state="not-ready"} 0
lvsnode_realserver_agent{realserver="10.0.0.12:80",service="tcp 10.0.0.100:80",state="ready"} 0
lvsnode_realserver_agent{realserver="10.0.0.12:80",service="tcp 10.0.0.100:80",state="unknown"} 0
# HELP lvsnode_ipvs_service_connections_total IPVS: connections scheduled by the service.
# TYPE lvsnode_ipvs_service_connections_total counter
lvsnode_ipvs_service_connections_total{service="tcp 10.0.0.100:80"} 100
# HELP lvsnode_ipvs_realserver_bytes_in_total IPVS: bytes received from clients for the real server.
# TYPE lvsnode_ipvs_realserver_bytes_in_total counter
lvsnode_ipvs_realserver_bytes_in_total{realserver="10.0.0.11:80",service="tcp 10.0.0.100:80"} 44800
lvsnode_ipvs_realserver_bytes_in_total{realserver="10.0.0.12:80",service="tcp 10.0.0.100:80"} 19200
# HELP lvsnode_reconcile_total Reconciles of IPVS to the desired state.
# TYPE lvsnode_reconcile_total counter
lvsnode_reconcile_total 2
# HELP lvsnode_reconcile_changes_total IPVS changes the reconciles planned (0 per reconcile when the table is right).
# TYPE lvsnode_reconcile_changes_total counter
lvsnode_reconcile_changes_total 3
# HELP lvsnode_reconcile_errors_total Reconciles that failed (reading or writing IPVS, or saving the state).
# TYPE lvsnode_reconcile_errors_total counter
lvsnode_reconcile_errors_total 1
`
	if err := testutil.GatherAndCompare(m.Registry, strings.NewReader(want),
		"lvsnode_director_ready", "lvsnode_ipvs_realserver_weight", "lvsnode_realserver_configured_weight",
		"lvsnode_ipvs_realserver_persistent_connections", "lvsnode_realserver_drain", "lvsnode_realserver_agent", "lvsnode_ipvs_service_connections_total",
		"lvsnode_ipvs_realserver_bytes_in_total", "lvsnode_reconcile_total", "lvsnode_reconcile_changes_total", "lvsnode_reconcile_errors_total",
	); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m.checkLatency); n != 2 {
		t.Errorf("check latency series: %d, want ok and fail", n)
	}
	problems, err := testutil.GatherAndLint(m.Registry)
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
}

// Every name DIRECTOR.md promises is on the /metrics page, which parses as
// Prometheus text; the unmanaged service is not on it.
func TestMetricsPage(t *testing.T) {
	rt, tbl := metricsFixture()
	m := NewMetrics(rt, tbl)
	m.Checked(NodeRef{}, health.Result{OK: true, Latency: time.Millisecond})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("the page does not parse: %v\n%s", err, rec.Body)
	}
	var names []string
	for _, kind := range []string{"connections", "packets_in", "packets_out", "bytes_in", "bytes_out"} {
		names = append(names, "lvsnode_ipvs_service_"+kind+"_total", "lvsnode_ipvs_realserver_"+kind+"_total")
	}
	names = append(names, "lvsnode_director_ready", "lvsnode_ipvs_realserver_active_connections", "lvsnode_ipvs_realserver_inactive_connections",
		"lvsnode_ipvs_realserver_persistent_connections", "lvsnode_ipvs_realserver_weight", "lvsnode_realserver_configured_weight",
		"lvsnode_realserver_health", "lvsnode_realserver_drain", "lvsnode_check_latency_seconds", "lvsnode_reconcile_total",
		"lvsnode_reconcile_changes_total", "lvsnode_reconcile_errors_total", "process_cpu_seconds_total")
	for _, n := range names {
		if _, ok := fams[n]; !ok {
			t.Errorf("no %s on the page", n)
		}
	}
	if strings.Contains(rec.Body.String(), "10.0.0.200") {
		t.Error("a service the daemon does not manage is exported")
	}
	if got := fams["lvsnode_realserver_health"].GetMetric(); len(got) != 8 {
		t.Errorf("health: %d series, want 4 states x 2 real servers", len(got))
	}
	// One Status per scrape, no more.
	if c := strings.Count(strings.Join(rt.calls, " "), "Status"); c != 1 {
		t.Errorf("a scrape called Status %d times", c)
	}
}
