package etcdstore

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TLS files with an http:// endpoint are refused: etcd's client dials it
// in clear and ignores them (review of issue 12: an agent with ca: and an
// http:// endpoint registered over plaintext, password included), and so
// are endpoints of both schemes (the client takes the first one's).
func TestValidateSchemes(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, selfSigned(t), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		eps  []string
		ca   string
		want string
	}{
		{[]string{"https://10.0.0.5:2379"}, ca, ""},
		{[]string{"http://10.0.0.5:2379"}, "", ""},
		{[]string{"http://10.0.0.5:2379"}, ca, "is http:// but register.ca"},
		{[]string{"https://10.0.0.5:2379", "http://10.0.0.6:2379"}, ca, "is http://"},
		{[]string{"https://10.0.0.5:2379", "http://10.0.0.6:2379"}, "", "use one scheme"},
	} {
		cfg := Config{Endpoints: c.eps, CA: c.ca}
		err := cfg.Validate("register")
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v ca=%q: %v", c.eps, c.ca, err)
		case c.want != "" && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "register.endpoints")):
			t.Errorf("%v ca=%q: err %v, want ErrInvalid naming register.endpoints and %q", c.eps, c.ca, err, c.want)
		}
	}
}

func selfSigned(t *testing.T) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "etcd-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
