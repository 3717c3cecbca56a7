package agent

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// scrape fetches /metrics and parses it as Prometheus does.
func (g *drainRig) scrape(t *testing.T) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(g.ready.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("exposition does not parse: %v\n%s", err, body)
	}
	return fams
}

func value(t *testing.T, fams map[string]*dto.MetricFamily, name string, label ...string) float64 {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		t.Fatalf("no metric %s", name)
	}
	for _, m := range f.Metric {
		if len(label) == 2 {
			match := false
			for _, l := range m.Label {
				match = match || l.GetName() == label[0] && l.GetValue() == label[1]
			}
			if !match {
				continue
			}
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			return m.Counter.GetValue()
		default:
			return m.Gauge.GetValue()
		}
	}
	t.Fatalf("no sample of %s%v", name, label)
	return 0
}

// TestMetricsKeepTheirNamesAndFollowADrain: today's names and types (the
// README lists them) and the drain's two new gauges, through a drain.
func TestMetricsKeepTheirNamesAndFollowADrain(t *testing.T) {
	g := startDrainRig(t, testDrain)
	g.socks.Set(vip4, 2)
	fams := g.scrape(t)
	types := map[string]dto.MetricType{
		"lvsnode_agent_ready":                   dto.MetricType_GAUGE,
		"lvsnode_agent_items":                   dto.MetricType_GAUGE,
		"lvsnode_agent_repairs_total":           dto.MetricType_COUNTER,
		"lvsnode_agent_apply_failures_total":    dto.MetricType_COUNTER,
		"lvsnode_agent_resubscriptions_total":   dto.MetricType_COUNTER,
		"lvsnode_agent_reconciles_total":        dto.MetricType_COUNTER,
		"lvsnode_agent_interrupted_reads_total": dto.MetricType_COUNTER,
		"lvsnode_agent_last_repair_seconds":     dto.MetricType_GAUGE,
		"lvsnode_agent_draining":                dto.MetricType_GAUGE,
		"lvsnode_agent_vip_sockets":             dto.MetricType_GAUGE,
	}
	for name, typ := range types {
		if f, ok := fams[name]; !ok || f.GetType() != typ {
			t.Errorf("%s: missing or not a %s", name, typ)
		}
	}
	if v := value(t, fams, "lvsnode_agent_ready"); v != 1 {
		t.Errorf("ready %v", v)
	}
	if v := value(t, fams, "lvsnode_agent_items", "ok", "false"); v != 0 {
		t.Errorf("items{ok=false} %v", v)
	}
	if v := value(t, fams, "lvsnode_agent_items", "ok", "true"); v == 0 {
		t.Error("items{ok=true} 0")
	}
	if v := value(t, fams, "lvsnode_agent_reconciles_total"); v < 1 {
		t.Errorf("reconciles_total %v", v)
	}
	if v := value(t, fams, "lvsnode_agent_vip_sockets"); v != 2 {
		t.Errorf("vip_sockets %v, want 2", v)
	}
	if v := value(t, fams, "lvsnode_agent_draining"); v != 0 {
		t.Errorf("draining %v while serving", v)
	}
	if _, err := g.d.Drain(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	fams = g.scrape(t)
	if value(t, fams, "lvsnode_agent_draining") != 1 || value(t, fams, "lvsnode_agent_ready") != 0 {
		t.Error("draining: want draining 1, ready 0")
	}
	g.socks.Set(vip4, 0)
	g.advance(t, time.Second, 3)
	waitFor(t, "drained", func() bool { return g.d.phase() == Drained })
	fams = g.scrape(t)
	if value(t, fams, "lvsnode_agent_draining") != 0 || value(t, fams, "lvsnode_agent_ready") != 0 || value(t, fams, "lvsnode_agent_vip_sockets") != 0 {
		t.Error("drained: want draining 0, ready 0, vip_sockets 0")
	}
	// A count that fails is no sample, never a false 0.
	g.socks.Fail(errors.New("sock_diag unavailable"))
	if _, ok := g.scrape(t)["lvsnode_agent_vip_sockets"]; ok {
		t.Error("a failed count was exposed as a value")
	}
}
