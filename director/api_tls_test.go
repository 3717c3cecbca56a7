package director

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lvsnode/lvsnode/internal/testcert"
)

// writeCert writes a self-signed certificate for 127.0.0.1 and its key.
func writeCert(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	c, k := testcert.SelfSigned(t, "director", net.ParseIP("127.0.0.1"))
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, c, 0o644)
	os.WriteFile(key, k, 0o600)
	return cert, key
}

// Over TLS the client verifies the daemon against --api-ca-file and sends
// the token; without the CA it refuses the unknown certificate.
func TestAPITLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeCert(t, dir)
	tok := filepath.Join(dir, "token")
	os.WriteFile(tok, []byte(testToken), 0o600)
	s, err := NewAPIServer(&apiFakeRuntime{status: Status{Generation: 9}}, APIOptions{Socket: "none", TCP: "127.0.0.1:0",
		TokenFile: tok, TLSCert: cert, TLSKey: key})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	go s.Serve()
	url := "https://" + s.TCPAddr().String()
	c, err := NewAPIClient(url, APIClientOptions{TokenFile: tok, CAFile: cert})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := c.Status(context.Background()); err != nil || st.Generation != 9 {
		t.Errorf("TLS with the CA and token: %+v %v", st, err)
	}
	c, _ = NewAPIClient(url, APIClientOptions{TokenFile: tok})
	if _, err := c.Status(context.Background()); err == nil {
		t.Error("a certificate the client does not trust was accepted")
	}
	if s2, err := NewAPIServer(&apiFakeRuntime{}, APIOptions{Socket: "none", TCP: "0.0.0.0:0", TokenFile: tok, TLSCert: cert, TLSKey: key}); err != nil {
		t.Errorf("TLS on a non-loopback address: %v", err)
	} else {
		s2.Close()
	}
}

// The api: block is checked with the config, before the daemon changes
// anything: what NewAPIServer would refuse later is refused here, naming
// the key; a listener off loopback works only with TLS.
func TestAPIConfigCheckedBeforeStart(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeCert(t, dir)
	tok := filepath.Join(dir, "token")
	os.WriteFile(tok, []byte(testToken), 0o600)
	open := filepath.Join(dir, "open-token")
	os.WriteFile(open, []byte(testToken), 0o644)
	for _, c := range []struct {
		api  APIConfig
		want string // "" = accepted
	}{
		{APIConfig{Listen: "127.0.0.1:9111", TokenFile: tok}, ""},
		{APIConfig{Listen: "10.0.0.2:9111", TokenFile: tok, TLSCert: cert, TLSKey: key}, ""},
		{APIConfig{Listen: "10.0.0.2:9111", TokenFile: tok}, "is not loopback: give api.tls_cert and api.tls_key"},
		{APIConfig{Listen: "127.0.0.1:9111"}, "without api.token_file"},
		{APIConfig{Listen: "127.0.0.1:9111", TokenFile: open}, "readable by every user"},
		{APIConfig{Listen: "127.0.0.1:9111", TokenFile: filepath.Join(dir, "none")}, "api.token_file"},
		{APIConfig{Listen: "10.0.0.2:9111", TokenFile: tok, TLSCert: cert}, "give both, or neither"},
		{APIConfig{Listen: "10.0.0.2:9111", TokenFile: tok, TLSCert: key, TLSKey: cert}, "api.tls_cert/api.tls_key"},
		{APIConfig{Listen: "director:9111", TokenFile: tok}, `api.listen "director:9111"`},
		{APIConfig{TokenFile: tok}, "for api.listen, which is not set"},
	} {
		err := c.api.check()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: %v, want accepted", c.api, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%+v: %v, want %q", c.api, err, c.want)
		}
	}
}
