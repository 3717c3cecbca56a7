package etcdstore

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lvsnode/lvsnode/internal/testcert"
)

// TLS files with an http:// endpoint are refused: etcd's client dials it
// in clear and ignores them (review of issue 12: an agent with ca: and an
// http:// endpoint registered over plaintext, password included), and so
// are endpoints of both schemes (the client takes the first one's).
func TestValidateSchemes(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, caPEM(t), 0o644); err != nil {
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

func caPEM(t *testing.T) []byte {
	ca, _ := testcert.SelfSigned(t, "etcd-ca")
	return ca
}
