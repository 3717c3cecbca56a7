package view

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The hook for connection sync: a status with a "sync" object (the sync
// daemons' state, added to director.Status by the sync work) is shown in
// #sync as its keys and values; without one the section stays hidden.
func TestPageShowsSyncWhenTheStatusHasIt(t *testing.T) {
	b := newBrowser(t)
	page := New(&fakeSource{st: bigStatus(1, 2)}, Options{Loopback: true})
	var withSync atomic.Bool
	mux := http.NewServeMux()
	mux.Handle("/", page)
	mux.HandleFunc("/v1/status", func(w http.ResponseWriter, r *http.Request) {
		js, _ := json.Marshal(bigStatus(1, 2))
		if withSync.Load() {
			js = append(js[:len(js)-1], `,"sync":{"state":"master","syncid":7,"interface":"eth1"}}`...)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(js)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	b.run(t, chromedp.Navigate(srv.URL+"/"))
	b.waitFor(t, "the first drawing", "document.body.dataset.updates >= 1", 10*time.Second)
	var hidden bool
	b.eval(t, "document.getElementById('sync').hidden", &hidden)
	if !hidden {
		t.Error("#sync shown for a status without sync")
	}
	withSync.Store(true)
	b.waitFor(t, "#sync shown", "!document.getElementById('sync').hidden", 5*time.Second)
	var text string
	b.eval(t, "document.getElementById('sync').textContent", &text)
	for _, w := range []string{"Connection sync", "state", "master", "syncid", "7", "eth1"} {
		if !strings.Contains(text, w) {
			t.Errorf("#sync %q lacks %q", text, w)
		}
	}
	b.noErrors(t)
}

// Off loopback the page asks for its read-only token (view.token_file), refuses a wrong one and
// shows the status with the right one (sent as a Bearer header).
func TestPageAsksForTheToken(t *testing.T) {
	b := newBrowser(t)
	const token = "view-test-token-0123456789"
	srv := httptest.NewServer(New(&fakeSource{st: bigStatus(1, 3)}, Options{Token: []byte(token)}))
	defer srv.Close()
	b.run(t, chromedp.Navigate(srv.URL+"/"))
	b.waitFor(t, "the token form", "!document.getElementById('login').hidden", 10*time.Second)
	b.run(t, chromedp.SendKeys("#token", "wrong-token-0123456789", chromedp.ByID), chromedp.Click("#login button", chromedp.ByQuery))
	b.waitFor(t, "the wrong token refused", "document.getElementById('error').textContent.includes('refused')", 5*time.Second)
	var rows int
	b.eval(t, "document.querySelectorAll('tr.node').length", &rows)
	if rows != 0 {
		t.Errorf("%d rows drawn without the right token", rows)
	}
	b.eval(t, "document.getElementById('token').value = ''", nil)
	b.run(t, chromedp.SendKeys("#token", token, chromedp.ByID), chromedp.Click("#login button", chromedp.ByQuery))
	b.waitFor(t, "the status drawn with the token", "document.querySelectorAll('tr.node').length === 3 && document.getElementById('login').hidden", 5*time.Second)
	// The console shows the two 401 answers as failed loads: expected here.
	b.mu.Lock()
	var other []string
	for _, e := range b.errors {
		if !strings.Contains(e, "401") {
			other = append(other, e)
		}
	}
	b.errors = other
	b.mu.Unlock()
	b.noErrors(t)
}
