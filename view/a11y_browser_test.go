package view

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The filter box has an accessible name and the sparklines are hidden from
// screen readers (the cells' text says the rates) (issue 13 review).
func TestFilterLabelledAndSparklinesHidden(t *testing.T) {
	b := newBrowser(t)
	srv := httptest.NewServer(New(&fakeSource{st: bigStatus(2, 3)}, Options{Loopback: true}))
	defer srv.Close()
	b.run(t, chromedp.Navigate(srv.URL+"/"))
	b.waitFor(t, "drawn", "document.body.dataset.updates >= 1", 10*time.Second)
	var got struct {
		Label    string `json:"label"`
		Sparks   int    `json:"sparks"`
		Unhidden int    `json:"unhidden"`
	}
	b.eval(t, `(() => { const f = document.getElementById('filter'); const s = [...document.querySelectorAll('svg.spark')];
	  return {label: f.getAttribute('aria-label') || (f.labels[0] && f.labels[0].textContent) || '', sparks: s.length,
	    unhidden: s.filter((e) => e.getAttribute('aria-hidden') !== 'true').length}; })()`, &got)
	if got.Label == "" || got.Sparks == 0 || got.Unhidden != 0 {
		t.Errorf("filter label %q, %d sparklines of which %d not aria-hidden", got.Label, got.Sparks, got.Unhidden)
	}
}
