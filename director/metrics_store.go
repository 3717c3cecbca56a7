package director

import "github.com/prometheus/client_golang/prometheus"

// The shared store's metrics (only with store.type: etcd).
var (
	descStoreUp = prometheus.NewDesc("lvsnode_store_reachable",
		"1 while the shared store (etcd) answers; 0: the director serves its last known table.", []string{"backend"}, nil)
	descStoreRev = prometheus.NewDesc("lvsnode_store_revision",
		"The shared store's revision as of the state the director last adopted (higher is newer; status' store.digest says whether two tables are equal).", []string{"backend"}, nil)
	descStoreSince = prometheus.NewDesc("lvsnode_store_reachable_since_seconds",
		"Unix time of the last change of lvsnode_store_reachable.", []string{"backend"}, nil)
	descStoreInvalid = prometheus.NewDesc("lvsnode_store_invalid_keys",
		"Keys under the prefix ignored because their value does not decode or compile (status' store.invalid names them); the rest is applied.", []string{"backend"}, nil)
	descStoreRestarts = prometheus.NewDesc("lvsnode_store_watch_restarts_total",
		"Watches replaced by a full read while the store answers: reason stalled (the watch lagged etcd's revision for 5 s) or compacted (etcd compacted past it). Not an outage.", []string{"backend", "reason"}, nil)
	descStoreConflicts = prometheus.NewDesc("lvsnode_store_file_conflicts",
		"Keys where director.yaml's services disagreed with the shared state at the last start or reload and still do (status' store.file_conflicts names them): the file only seeds absent keys, so the shared value was kept.", []string{"backend"}, nil)
	storeDescs = []*prometheus.Desc{descStoreUp, descStoreRev, descStoreSince, descStoreInvalid, descStoreConflicts, descStoreRestarts}
)

// collectStore emits the store's metrics from a status.
func collectStore(st Status, ch chan<- prometheus.Metric) {
	if st.Store == nil {
		return
	}
	s := st.Store
	ch <- prometheus.MustNewConstMetric(descStoreUp, prometheus.GaugeValue, b2f(s.Reachable), s.Backend)
	ch <- prometheus.MustNewConstMetric(descStoreRev, prometheus.GaugeValue, float64(s.Revision), s.Backend)
	ch <- prometheus.MustNewConstMetric(descStoreSince, prometheus.GaugeValue, float64(s.Since.UnixNano())/1e9, s.Backend)
	ch <- prometheus.MustNewConstMetric(descStoreInvalid, prometheus.GaugeValue, float64(len(s.Invalid)), s.Backend)
	ch <- prometheus.MustNewConstMetric(descStoreRestarts, prometheus.CounterValue, float64(s.WatchStalls), s.Backend, "stalled")
	ch <- prometheus.MustNewConstMetric(descStoreRestarts, prometheus.CounterValue, float64(s.WatchCompactions), s.Backend, "compacted")
	ch <- prometheus.MustNewConstMetric(descStoreConflicts, prometheus.GaugeValue, float64(len(s.FileConflicts)), s.Backend)
}
