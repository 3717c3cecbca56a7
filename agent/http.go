package agent

import (
	"fmt"
	"net/http"
	"strings"
)

// Handler serves the daemon's HTTP endpoints:
//
//	/healthz  200 while the process runs.
//	/readyz   200 "ready" only while every desired item is verified by the
//	          last reconcile and no drain runs; 503 with one reason per line
//	          otherwise, the first "draining: ..." while draining (health's
//	          ready checker reads it as draining) and "drained: ..." once the
//	          VIPs are gone (not ready). A refused reload adds a line to
//	          either, until one succeeds.
//	/metrics  Prometheus (client_golang; see metrics.go).
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
	mux.Handle("/metrics", d.metricsHandler())
	return mux
}
