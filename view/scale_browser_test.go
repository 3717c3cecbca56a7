package view

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/lvsnode/lvsnode/director"
	"github.com/lvsnode/lvsnode/ipvs"
)

// bigStatus is services x per real servers with health checks, every
// tenth one down, every 50th draining, and traffic on all.
func bigStatus(services, per int) director.Status {
	st := director.Status{Ready: true, Generation: 12}
	at := time.Now().Add(-time.Second)
	for s := range services {
		name := fmt.Sprintf("tcp 10.1.%d.%d:443", s/250, s%250+1)
		ss := director.ServiceStatus{Service: name, Scheduler: "wlc", Managed: true, Flags: "persistent 300",
			Stats: ipvs.Stats{Conns: 100000, CPS: 350, InBPS: 4 << 20}}
		for n := range per {
			i := s*per + n
			ns := director.NodeStatus{NodeRef: director.NodeRef{Service: name, Address: fmt.Sprintf("10.2.%d.%d", i/250, i%250+1), Port: 443},
				Method: "dr", ConfiguredWeight: 10, Weight: 10, Health: director.HealthUp, Drain: director.DrainNone, Agent: director.AgentReady,
				LastCheck:  director.Check{OK: true, Reason: "HTTP 200", LatencyMS: 0.8, At: at},
				ActiveConn: uint32(40 + i%17), InactConn: uint32(i % 5), Stats: ipvs.Stats{Conns: 9000, CPS: uint64(30 + i%11), InBPS: uint64(400000 + 1000*(i%13))}}
			switch {
			case i%10 == 3:
				ns.Health, ns.Weight, ns.LastCheck = director.HealthDown, 0, director.Check{Reason: "connect: connection refused", LatencyMS: 0.3, At: at}
			case i%50 == 7:
				ns.Health, ns.Drain, ns.Agent, ns.Weight, ns.DrainSince = director.HealthDraining, director.DrainDraining, director.AgentDraining, 0, at.Add(-20*time.Second)
			default:
				ss.Up++
			}
			ss.Nodes = append(ss.Nodes, ns)
		}
		st.Services = append(st.Services, ss)
	}
	return st
}

func gzipLen(b []byte) int {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed) // as /v1/status sends it
	zw.Write(b)
	zw.Close()
	return buf.Len()
}

// The page at 1,000 real servers, in two shapes (100 services of 10, one
// service of 1,000): it loads collapsed, the filter finds one real server,
// "expand all" draws every row, no console error. Sizes and times are
// figures (FIGURE lines), never pass/fail.
func TestPageAt1000RealServers(t *testing.T) {
	b := newBrowser(t)
	var page, pageGz int
	for _, p := range []string{"/index.html", "/app.js", "/app.css", "/favicon.svg"} {
		page += len(assets[p].body)
		pageGz += len(assets[p].gz)
	}
	t.Logf("FIGURE view_page_bytes %d (gzip %d): index.html, app.js, app.css, favicon.svg", page, pageGz)
	for _, shape := range []struct{ services, per int }{{100, 10}, {1, 1000}} {
		t.Run(fmt.Sprintf("%dx%d", shape.services, shape.per), func(t *testing.T) {
			st := bigStatus(shape.services, shape.per)
			js, _ := json.Marshal(st)
			t.Logf("FIGURE view_status_json_bytes %d (gzip %d) at %d services x %d real servers", len(js), gzipLen(js), shape.services, shape.per)
			srv := httptest.NewServer(New(&fakeSource{st: st}, Options{Loopback: true}))
			defer srv.Close()

			start := time.Now()
			b.run(t, chromedp.Navigate(srv.URL+"/"))
			b.waitFor(t, "the first drawing", "document.body.dataset.updates >= 1", 30*time.Second)
			wall := time.Since(start)
			var first, draw float64
			b.eval(t, "Number(document.body.dataset.firstRenderMs)", &first)
			b.waitFor(t, "a second poll", "document.body.dataset.updates >= 2", 10*time.Second)
			b.eval(t, "Number(document.body.dataset.drawMs)", &draw)
			t.Logf("FIGURE view_load_ms %.0f (navigation start to the first full drawing, in the page; %.0f ms wall clock from the test) at %d x %d", first, float64(wall.Milliseconds()), shape.services, shape.per)
			t.Logf("FIGURE view_redraw_ms %.1f per poll, services collapsed, at %d x %d", draw, shape.services, shape.per)

			var rows int
			b.eval(t, "document.querySelectorAll('tr.node').length", &rows)
			if rows != 0 {
				t.Errorf("%d real server rows drawn at load: 1,000 real servers should start collapsed", rows)
			}
			var summary string
			b.eval(t, "document.getElementById('summary').textContent", &summary)
			if !strings.Contains(summary, "1000 real servers: 880 up, 100 down, 20 draining") {
				t.Errorf("summary %q", summary)
			}
			// The filter finds one real server among 1,000 (10.2.3.4 is the
			// 754th: up).
			b.run(t, chromedp.SendKeys("#filter", "10.2.3.4:", chromedp.ByID))
			b.waitFor(t, "one row for 10.2.3.4", `Array.from(document.querySelectorAll('tr.node')).filter(r => !r.hidden && !r.closest('details').hidden).map(r => r.dataset.address).join() === '10.2.3.4'`, 5*time.Second)
			b.eval(t, `(() => { const f = document.getElementById('filter'); f.value = ''; f.dispatchEvent(new Event('input')); return true })()`, nil)
			b.waitFor(t, "the filter cleared", `document.getElementById('shown').textContent === ''`, 5*time.Second)

			var expand float64
			b.eval(t, `(() => { const t0 = performance.now(); document.getElementById('expand').click(); document.body.offsetHeight; return performance.now() - t0 })()`, &expand)
			b.eval(t, "document.querySelectorAll('tr.node:not([hidden])').length", &rows)
			if rows != 1000 {
				t.Errorf("expand all: %d rows, want 1000", rows)
			}
			b.waitFor(t, "a poll with every row open", fmt.Sprintf("document.body.dataset.updates >= %d", 3), 10*time.Second)
			before := 0
			b.eval(t, "Number(document.body.dataset.updates)", &before)
			b.waitFor(t, "one more poll", fmt.Sprintf("Number(document.body.dataset.updates) > %d", before), 10*time.Second)
			b.eval(t, "Number(document.body.dataset.drawMs)", &draw)
			t.Logf("FIGURE view_expand_all_ms %.0f (click to 1,000 rows laid out); view_redraw_ms %.1f per poll with every row open, at %d x %d", expand, draw, shape.services, shape.per)
			if shape.services == 100 {
				b.screenshot(t, "status-1000.png", false)
			}
		})
	}
	b.noErrors(t)
}
