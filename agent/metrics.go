package agent

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	etcdstore "github.com/lvsnode/lvsnode/store/etcd"
)

// metrics exposes the daemon's figures to Prometheus. Every value is read
// from the daemon at scrape time (the counters are the daemon's own
// atomics), so nothing is kept twice; the VIPs' sockets are counted then.
type metrics struct {
	d *Daemon

	ready, items, draining, vipSockets, lastRepair     *prometheus.Desc
	repairs, failures, resubs, reconciles, interrupted *prometheus.Desc

	registered, regErrors, regRewrites *prometheus.Desc
}

var _ prometheus.Collector = (*metrics)(nil)

func newMetrics(d *Daemon) *metrics {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &metrics{
		d:           d,
		ready:       desc("lvsnode_agent_ready", "1 while /readyz says ready: every desired item verified and no drain."),
		items:       desc("lvsnode_agent_items", "Desired items by verification result at the last reconcile.", "ok"),
		draining:    desc("lvsnode_agent_draining", "1 while draining (VIPs bound, /readyz says draining); 0 serving or drained."),
		vipSockets:  desc("lvsnode_agent_vip_sockets", "Established TCP connections whose local address is a VIP, counted at scrape (sock_diag)."),
		lastRepair:  desc("lvsnode_agent_last_repair_seconds", "Duration of the last drift repair."),
		repairs:     desc("lvsnode_agent_repairs_total", "Reconciles that found drift and repaired it."),
		failures:    desc("lvsnode_agent_apply_failures_total", "Reconciles that failed or could not verify."),
		resubs:      desc("lvsnode_agent_resubscriptions_total", "Netlink subscriptions re-opened after breaking."),
		reconciles:  desc("lvsnode_agent_reconciles_total", "Applies run (start, plan-related events, re-lists, retries)."),
		interrupted: desc("lvsnode_agent_interrupted_reads_total", "Reconciles whose kernel dumps kept being interrupted by churn: retried, never drift."),
		// register: only
		registered:  desc("lvsnode_agent_registered", "1 while the registration's keys are in etcd under its lease (as of the last write or check); 0 before READY, after a failure, or when a key was found gone."),
		regErrors:   desc("lvsnode_agent_register_errors_total", "Registration writes or checks that failed, by reason: unreachable, auth, permission, txn_limit, duplicate_key, conflict.", "reason"),
		regRewrites: desc("lvsnode_agent_register_rewrites_total", "Registration keys written again: deleted by someone else, taken by another lease, or the lease lost.", "why"),
	}
}

func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.ready, m.items, m.draining, m.vipSockets, m.lastRepair,
		m.repairs, m.failures, m.resubs, m.reconciles, m.interrupted, m.registered, m.regErrors, m.regRewrites} {
		ch <- d
	}
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	d := m.d
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	counter := func(desc *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v))
	}
	ready, _ := d.Ready()
	d.mu.Lock()
	items, phase, vips := d.last.Items, d.dr.phase, d.opts.VIPs
	d.mu.Unlock()
	okN, badN := 0, 0
	for _, it := range items {
		if it.OK {
			okN++
		} else {
			badN++
		}
	}
	gauge(m.ready, b2f(ready))
	gauge(m.items, float64(okN), "true")
	gauge(m.items, float64(badN), "false")
	gauge(m.draining, b2f(phase == Draining))
	if n, err := d.sockets().Established(vips); err == nil {
		gauge(m.vipSockets, float64(n))
	} else {
		ch <- prometheus.NewInvalidMetric(m.vipSockets, err) // the scrape says why, never a false 0
	}
	gauge(m.lastRepair, time.Duration(d.repairNs.Load()).Seconds())
	counter(m.repairs, d.repairs.Load())
	counter(m.failures, d.failures.Load())
	counter(m.resubs, d.resubs.Load())
	counter(m.reconciles, d.reconciles.Load())
	counter(m.interrupted, d.interrupted.Load())
	if reg := d.registration.Load(); reg != nil {
		st := reg.Status()
		gauge(m.registered, b2f(st.Registered))
		for _, r := range etcdstore.Reasons { // every reason, 0 included: a rate() needs the series before the first
			ch <- prometheus.MustNewConstMetric(m.regErrors, prometheus.CounterValue, float64(st.Errors[r]), r)
		}
		for _, w := range etcdstore.RewriteReasons {
			ch <- prometheus.MustNewConstMetric(m.regRewrites, prometheus.CounterValue, float64(st.Rewrites[w]), w)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// metricsHandler serves the daemon's registry (its own, not the global
// one: two daemons in one test process must not collide).
func (d *Daemon) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(newMetrics(d))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
