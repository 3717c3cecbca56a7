package view

import (
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Filter terms match a real server's text and its service's together:
// "10.1.0.2:443 down" is the down real servers of that VIP, "wlc down" the
// down ones of wlc services (issue 13 review: each side had to match alone).
func TestFilterTermsSpanServiceAndRealServer(t *testing.T) {
	b := newBrowser(t)
	srv := httptest.NewServer(New(&fakeSource{st: bigStatus(3, 10)}, Options{Loopback: true})) // one down per service
	defer srv.Close()
	b.run(t, chromedp.Navigate(srv.URL+"/"))
	b.waitFor(t, "drawn", "document.body.dataset.updates >= 1", 10*time.Second)
	for filter, want := range map[string]string{
		"10.1.0.2:443 down":  "tcp 10.1.0.2:443",
		"wlc down":           "tcp 10.1.0.1:443,tcp 10.1.0.2:443,tcp 10.1.0.3:443",
		"10.1.0.3 10.2.0.24": "tcp 10.1.0.3:443",
	} {
		b.eval(t, fmt.Sprintf(`(() => { const f = document.getElementById('filter'); f.value = %q; f.dispatchEvent(new Event('input')); return true })()`, filter), nil)
		b.waitFor(t, filter, fmt.Sprintf(`[...document.querySelectorAll('tr.node')].filter((r) => !r.hidden && !r.closest('details').hidden).map((r) => r.dataset.service).join(',') === %q`, want), 5*time.Second)
	}
}
