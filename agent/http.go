package agent

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Handler serves the daemon's HTTP endpoints:
//
//	/healthz  200 while the process runs.
//	/readyz   200 "ready" only while every desired item is verified by the
//	          last reconcile; 503 with one reason per line otherwise. A
//	          refused reload adds a line to either, until one succeeds.
//	/metrics  Prometheus text format.
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		ok, why := d.Ready()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if note := d.Note(); note != "" {
			why = append(why, note) // the running configuration still serves
		}
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, strings.Join(why, "\n"))
			return
		}
		fmt.Fprintln(w, strings.Join(append([]string{"ready"}, why...), "\n"))
	})
	mux.HandleFunc("/metrics", d.metrics)
	return mux
}

func (d *Daemon) metrics(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	d.mu.Lock()
	items := d.last.Items
	d.mu.Unlock()
	okN, badN := 0, 0
	for _, it := range items {
		if it.OK {
			okN++
		} else {
			badN++
		}
	}
	ready := 0
	if d.ready.Load() {
		ready = 1
	}
	metric := func(name, typ, help string, v any) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %v\n", name, help, name, typ, name, v)
	}
	metric("lvsnode_agent_ready", "gauge", "1 while every desired item is verified.", ready)
	fmt.Fprintf(w, "# HELP lvsnode_agent_items Desired items by verification result at the last reconcile.\n# TYPE lvsnode_agent_items gauge\n")
	fmt.Fprintf(w, "lvsnode_agent_items{ok=\"true\"} %d\nlvsnode_agent_items{ok=\"false\"} %d\n", okN, badN)
	metric("lvsnode_agent_repairs_total", "counter", "Reconciles that found drift and repaired it.", d.repairs.Load())
	metric("lvsnode_agent_apply_failures_total", "counter", "Reconciles that failed or could not verify.", d.failures.Load())
	metric("lvsnode_agent_resubscriptions_total", "counter", "Netlink subscriptions re-opened after breaking.", d.resubs.Load())
	metric("lvsnode_agent_reconciles_total", "counter", "Applies run (start, plan-related events, re-lists, retries).", d.reconciles.Load())
	metric("lvsnode_agent_interrupted_reads_total", "counter", "Reconciles whose kernel dumps kept being interrupted by churn: retried, never drift.", d.interrupted.Load())
	metric("lvsnode_agent_last_repair_seconds", "gauge", "Duration of the last drift repair.", time.Duration(d.repairNs.Load()).Seconds())
}
