package director

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writeCert writes a self-signed certificate for 127.0.0.1 and its key.
func writeCert(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "director"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(k)
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
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
