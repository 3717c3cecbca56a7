package view

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// A hung director (it accepts /v1/status and never answers) must not look
// live: the poll gives up after 3 s, two failed polls grey the table and
// put "stale Ns" in the ready badge, the ages keep ticking, and the error
// banner is a sticky alert (issue 13 review: fetch had no timeout).
func TestHungDirectorShowsStale(t *testing.T) {
	b := newBrowser(t)
	page := New(&fakeSource{st: bigStatus(1, 3)}, Options{Loopback: true})
	var hang atomic.Bool
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/status" && hang.Load() {
			select {
			case <-stop:
			case <-r.Context().Done():
			}
			return
		}
		page.ServeHTTP(w, r)
	}))
	defer func() { close(stop); srv.Close() }() // release the hung requests first
	b.run(t, chromedp.Navigate(srv.URL+"/"))
	b.waitFor(t, "drawn", "document.body.dataset.updates >= 2", 10*time.Second)
	var before string
	b.eval(t, "document.querySelector('td.check').textContent", &before)
	hang.Store(true)
	b.waitFor(t, "the table marked stale", "document.body.dataset.stale === 'true' && document.body.classList.contains('stale')", 12*time.Second)
	b.waitFor(t, "stale in the ready badge", "/^stale \\d+s$/.test(document.getElementById('ready').textContent)", 3*time.Second)
	var got struct {
		Hidden   bool   `json:"hidden"`
		Role     string `json:"role"`
		Position string `json:"position"`
		Error    string `json:"error"`
	}
	b.eval(t, `(() => { const e = document.getElementById('error');
	  return {hidden: e.hidden, role: e.getAttribute('role'), position: getComputedStyle(e).position, error: e.textContent}; })()`, &got)
	if got.Hidden || got.Role != "alert" || got.Position != "sticky" || !strings.Contains(got.Error, "No answer") {
		t.Errorf("error banner while hung: %+v, want shown, role=alert, sticky, 'No answer'", got)
	}
	var after string
	b.eval(t, "document.querySelector('td.check').textContent", &after)
	if after == before {
		t.Errorf("the check's age did not tick while the director hung: %q", after)
	}
	hang.Store(false)
	b.waitFor(t, "live again", "document.body.dataset.stale === 'false' && document.getElementById('ready').textContent === 'ready' && document.getElementById('error').hidden", 10*time.Second)
}

// Ages are the director's now (status.now) minus its check times: a browser
// whose clock is an hour behind the director's still reads "5s ago", not
// "0s ago" (issue 13 review: ages used the browser's clock).
func TestCheckAgesUseTheDirectorsClock(t *testing.T) {
	b := newBrowser(t)
	st := bigStatus(1, 1)
	st.Now = time.Now().Add(time.Hour) // the director's clock, an hour ahead of this one
	st.Services[0].Nodes[0].LastCheck.At = st.Now.Add(-5 * time.Second)
	srv := httptest.NewServer(New(&fakeSource{st: st}, Options{Loopback: true}))
	defer srv.Close()
	b.run(t, chromedp.Navigate(srv.URL+"/"))
	b.waitFor(t, "drawn", "document.body.dataset.updates >= 1", 10*time.Second)
	var check string
	b.eval(t, "document.querySelector('td.check').textContent", &check)
	if !strings.HasSuffix(check, " 5s ago") && !strings.HasSuffix(check, " 6s ago") {
		t.Errorf("check %q, want 5s ago by the director's clock", check)
	}
}
