package director

import "github.com/prometheus/client_golang/prometheus"

// The sync daemons' metrics (sync.go), from Status.Sync; none when sync
// is not configured.
var (
	descSyncRunning = prometheus.NewDesc("lvsnode_sync_daemon_running",
		"1 when the role's connection-sync daemon ran with the configured settings at the last pass (every resync).", []string{"role"}, nil)
	descSyncStarts = prometheus.NewDesc("lvsnode_sync_daemon_starts_total",
		"Starts of the role's sync daemon by this process: 1, plus one per repair (found stopped or with other settings).", []string{"role"}, nil)
	descSyncLinkUp = prometheus.NewDesc("lvsnode_sync_link_up",
		"1 when the role's sync interface exists and is up at the last pass (0: missing or down: the daemon syncs nothing).", []string{"role"}, nil)
	syncDescs = []*prometheus.Desc{descSyncRunning, descSyncStarts, descSyncLinkUp}
)

func collectSync(ch chan<- prometheus.Metric, s *SyncStatus) {
	if s == nil {
		return
	}
	for _, r := range s.Roles {
		ch <- prometheus.MustNewConstMetric(descSyncRunning, prometheus.GaugeValue, b2f(r.Running), r.Role)
		ch <- prometheus.MustNewConstMetric(descSyncStarts, prometheus.CounterValue, float64(r.Starts), r.Role)
		ch <- prometheus.MustNewConstMetric(descSyncLinkUp, prometheus.GaugeValue, b2f(r.Link != nil && r.Link.Up), r.Role)
	}
}
