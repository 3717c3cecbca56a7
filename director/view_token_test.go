package director

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// view.token_file is the page's read-only token: read as the API reads its
// own, and never the API's token (the page sends it every second, in clear
// without a TLS proxy).
func TestViewTokenFileIsNotTheAPIToken(t *testing.T) {
	dir := t.TempDir()
	write := func(name, tok string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(tok+"\n"), 0o600)
		return p
	}
	api := APIConfig{Listen: "127.0.0.1:9111", TokenFile: write("api", "api-token-0123456789")}
	if err := (ViewConfig{TokenFile: write("view", "view-token-0123456789")}).check(api); err != nil {
		t.Errorf("a token of its own: %v", err)
	}
	if err := (ViewConfig{TokenFile: write("copy", "api-token-0123456789")}).check(api); err == nil || !strings.Contains(err.Error(), "same token as api.token_file") {
		t.Errorf("the API's token as the page's: %v", err)
	}
	if err := (ViewConfig{TokenFile: filepath.Join(dir, "missing")}).check(api); err == nil || !strings.Contains(err.Error(), "view.token_file") {
		t.Errorf("a missing token file: %v", err)
	}
}

// The client never sends a bearer token over plain http to a host that is
// not loopback (`controller top --api`, `controller status --api`, ...).
func TestAPIClientRefusesATokenOverPlainHTTPOffLoopback(t *testing.T) {
	tok := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tok, []byte("api-token-0123456789\n"), 0o600)
	for addr, refused := range map[string]bool{
		"http://10.0.0.1:9110": true, "http://director1:9110/": true, "http://[2001:db8::1]:9110": true,
		"http://127.0.0.1:9110": false, "http://[::1]:9110": false, "http://localhost:9110": false, "https://10.0.0.1:9111": false,
	} {
		_, err := NewAPIClient(addr, APIClientOptions{TokenFile: tok})
		if got := errors.Is(err, ErrInvalid); got != refused {
			t.Errorf("%s: err %v, want refused=%v", addr, err, refused)
		}
	}
	if _, err := NewAPIClient("http://10.0.0.1:9110", APIClientOptions{}); err != nil {
		t.Errorf("no token over http: %v", err)
	}
}
