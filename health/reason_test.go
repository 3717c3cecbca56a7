package health

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

// A hostile real server answers its readiness probe with terminal escape
// codes (the three bodies of the issue 13 review): none of them may reach a
// Reason, which controller status, controller top and the page print.
func TestReasonFromAHostileServerHasNoControlCharacters(t *testing.T) {
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, body)
	}))
	defer srv.Close()
	ip, port := addrOf(t, srv.Listener.Addr().String())
	d := Definition{Type: Ready, Target: ip, Port: port}
	for _, c := range []struct{ body, reason string }{
		{"draining:\x1b]0;PWN\x07\n", "draining:\uFFFD]0;PWN\uFFFD"},         // OSC: sets the terminal's title
		{"\x1b[?1049l\n", "not ready: \uFFFD[?1049l"},                        // leaves top's alternate screen
		{"draining:\r  10.6.6.6:80 ok\n", "draining:\uFFFD  10.6.6.6:80 ok"}, // \r overwrites the line
		{"draining: \u009b31m red\n", "draining: \uFFFD31m red"},             // C1 CSI
		{"draining: \xff\x7f\n", "draining: \uFFFD\uFFFD"},                   // invalid UTF-8 and DEL
		{"draining: " + strings.Repeat("é", 100) + "\n", ""},                 // clipped on a rune boundary
	} {
		body = c.body
		r := check(t, d)
		if strings.ContainsFunc(r.Reason, IsControl) || !utf8.ValidString(r.Reason) || len(r.Reason) > ReasonLimit {
			t.Errorf("%q: reason %q has control characters, invalid UTF-8 or more than %d bytes", c.body, r.Reason, ReasonLimit)
		}
		if c.reason != "" && r.Reason != c.reason {
			t.Errorf("%q: reason %q, want %q", c.body, r.Reason, c.reason)
		}
	}
}

func TestCleanReasonClipsOnARuneBoundary(t *testing.T) {
	got := CleanReason(strings.Repeat("a", 10) + strings.Repeat("€", 60))
	if len(got) > ReasonLimit || !utf8.ValidString(got) || !strings.HasSuffix(got, "...") {
		t.Errorf("CleanReason = %q (%d bytes)", got, len(got))
	}
	if s := "connected"; CleanReason(s) != s {
		t.Errorf("CleanReason changed a clean reason: %q", CleanReason(s))
	}
}
