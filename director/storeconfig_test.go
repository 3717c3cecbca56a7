package director

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestStoreConfig(t *testing.T) {
	for _, c := range []struct{ yaml, err string }{
		{"store: {type: etcd}", "test.yaml:1: store.endpoints: at least one etcd client URL"},
		{"store: {type: etcd, endpoints: [10.0.0.5:2379]}", `store.endpoints: "10.0.0.5:2379": want http://HOST:PORT`},
		{"store: {endpoints: [http://10.0.0.5:2379]}", "store.endpoints is set but store.type is file"},
		{"store: {type: consul}", `store.type "consul": want file or etcd`},
		{"store: {type: etcd, endpoints: [http://a:2379], cert: /c}", "store.cert and store.key go together"},
		{"store: {type: etcd, endpoints: [http://a:2379], user: u}", "store.user and store.password_file go together"},
		{"store: {type: etcd, endpoints: [http://a:2379], prefix: x}", `store.prefix: "x" must start with /`},
		{"store: {type: etcd, endpoints: [http://a:2379], bogus: 1}", "field bogus not found"},
	} {
		_, err := ParseConfig("test.yaml", []byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.err) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid %q", c.yaml, err, c.err)
		}
	}
	cfg, err := ParseConfig("test.yaml", []byte("store: {type: etcd, endpoints: [http://a:2379], prefix: /g1}"))
	if err != nil || cfg.Store.Prefix != "/g1/" || cfg.Store.Timeout != 5*time.Second {
		t.Fatalf("%+v %v: want prefix /g1/, timeout 5s", cfg.Store, err)
	}
}
