package health

import (
	"crypto/x509"
	"fmt"
	"os"
)

// LoadCA reads d's ca_file (https checks): nil, nil without one. The error
// wraps ErrInvalid. A config is checked with it before anything runs, so
// `controller run --check` refuses a file the checker could not load.
func (d Definition) LoadCA() (*x509.CertPool, error) {
	if d.Type != HTTPS || d.CAFile == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(d.CAFile)
	if err != nil {
		return nil, fmt.Errorf("%w: https check of %s: ca_file: %v", ErrInvalid, d.Target, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%w: https check of %s: ca_file %s: no PEM certificate", ErrInvalid, d.Target, d.CAFile)
	}
	return pool, nil
}
