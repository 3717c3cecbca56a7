package director

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/lvsnode/lvsnode/internal/etcdtest"
	etcdstore "github.com/lvsnode/lvsnode/store/etcd"
)

// One value that does not compile (valid JSON, bad content) is ignored and
// reported; it must not freeze the director at its revision: a later good
// registration is applied (issue 12 review).
func TestEtcdInvalidKeySkipped(t *testing.T) {
	for _, bad := range []struct {
		k, v    string
		invalid bool // decoding or compile refuses it
	}{
		// an unknown scheduler: refused by decodeKey, not by the kernel at each reconcile
		{etcdstore.ServiceKey("/t/", "tcp 10.0.0.101:80"), `{"scheduler":"nope"}`, true},
		{etcdstore.NodeKey("/t/", "tcp 10.0.0.100:80", "10.0.0.66:80"), `{"address":"10.0.0.66","method":"bogus"}`, true},
		// F7: an unknown field (a typo) makes the key invalid, not weight 1
		{etcdstore.NodeKey("/t/", "tcp 10.0.0.100:80", "10.0.0.66:80"), `{"address":"10.0.0.66","wieght":5}`, true},
		{etcdstore.ServiceKey("/t/", "tcp 10.0.0.101:80"), `{"schedular":"wrr"}`, true},
	} {
		t.Run(bad.v, func(t *testing.T) {
			srv := etcdtest.Start(t)
			a := startEtcdDirector(t, "a", srv.Endpoint)
			cli, err := clientv3.New(clientv3.Config{Endpoints: []string{srv.Endpoint}})
			if err != nil {
				t.Fatal(err)
			}
			defer cli.Close()
			ctx := context.Background()
			put := func(k, v string) {
				t.Helper()
				if _, err := cli.Put(ctx, k, v); err != nil {
					t.Fatal(err)
				}
			}
			put(etcdstore.NodeKey("/t/", "tcp 10.0.0.100:80", "10.0.0.11:80"), `{"address":"10.0.0.11","weight":1}`)
			within15s(t, "first key", func() bool { return strings.Contains(a.weights(), "10.0.0.11:80 w=1") })
			put(bad.k, bad.v)
			time.Sleep(300 * time.Millisecond)
			put(etcdstore.NodeKey("/t/", "tcp 10.0.0.100:80", "10.0.0.12:80"), `{"address":"10.0.0.12","weight":2}`)
			defer func() { t.Logf("IPVS: %q status: %+v", a.weights(), a.d.Status().Store) }()
			within15s(t, "good key applied despite one bad value", func() bool { return strings.Contains(a.weights(), "10.0.0.12:80 w=2") })
			inv := a.d.Status().Store.Invalid
			if !bad.invalid {
				return
			}
			if why, ok := inv[strings.TrimPrefix(bad.k, "/t/")]; !ok || len(inv) != 1 {
				t.Fatalf("store.invalid = %v, want the bad key only", inv)
			} else {
				t.Logf("reported: %s", why)
			}
			if _, err := cli.Delete(ctx, bad.k); err != nil {
				t.Fatal(err)
			}
			within15s(t, "bad key deleted: no longer reported", func() bool { return len(a.d.Status().Store.Invalid) == 0 })
		})
	}
}

// F7: decodeKey refuses unknown fields, yet every field an agent writes
// (store/etcd's Node, each set, draining included) decodes: a field added
// there that the director lacks fails here.
func TestDecodeKeyAgentFieldsKnown(t *testing.T) {
	n := etcdstore.Node{}
	v := reflect.ValueOf(&n).Elem()
	for i := range v.NumField() {
		switch f := v.Field(i); f.Kind() {
		case reflect.String:
			f.SetString("x")
		case reflect.Uint16:
			f.SetUint(80)
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Pointer:
			f.Set(reflect.New(f.Type().Elem()))
		default:
			t.Fatalf("store/etcd Node.%s: kind %s not filled by this test", v.Type().Field(i).Name, f.Kind())
		}
	}
	n.Address = "10.0.0.11"
	b, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	x, err := decodeKey(etcdstore.NodeKey("", "tcp 10.0.0.100:80", "10.0.0.11:80"), b)
	if err != nil {
		t.Fatalf("an agent's key %s: %v", b, err)
	}
	if !x.draining {
		t.Fatalf("draining lost decoding %s", b)
	}
	for _, bad := range []string{`{"address":"10.0.0.11","wieght":5}`, `{"address":"10.0.0.11"} {}`} {
		if _, err := decodeKey(etcdstore.NodeKey("", "tcp 10.0.0.100:80", "10.0.0.11:80"), []byte(bad)); !errorsIs(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", bad, err)
		}
	}
}
