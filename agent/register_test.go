package agent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	etcdstore "github.com/lvsnode/lvsnode/store/etcd"
)

func TestRegisterConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.yaml")
	os.WriteFile(path, []byte(`mode: tun
tun-type: gue
tun-port: 6080
vips: [10.0.0.100]
register:
  endpoints: [http://10.0.0.5:2379]
  address: 10.0.1.11
  ttl: 4s
  services:
    - {service: tcp 10.0.0.100:80, weight: 3}
    - {service: fwm 7, port: 8080}
`), 0o644)
	c, err := LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	o, err := c.Options()
	if err != nil {
		t.Fatal(err)
	}
	r := o.Register
	if r == nil || r.TTL != 4*time.Second || r.Etcd.Prefix != etcdstore.DefaultPrefix || len(r.Services) != 2 {
		t.Fatalf("registration %+v", r)
	}
	n := r.Services[0].Node
	if r.Services[0].Service != "tcp 10.0.0.100:80" || *n.Weight != 3 || n.Method != "tun" || n.TunType != "gue" || n.TunPort != 6080 || n.Address != "10.0.1.11" {
		t.Fatalf("service 0: %+v %+v", r.Services[0], n)
	}
	if r.Services[1].Node.Port != 8080 || r.Services[1].Node.Weight != nil {
		t.Fatalf("service 1: %+v", r.Services[1].Node)
	}

	for _, b := range []struct {
		c    Config
		want string
	}{
		{Config{Register: RegisterConfig{Address: Value{"10.0.1.11", "--register-address"}}}, "--register-address: register: needs endpoints"},
		{Config{Register: RegisterConfig{Endpoints: []Value{{"10.0.0.5:2379", "a.yaml:3"}}}}, `register.endpoints: "10.0.0.5:2379": want http://HOST:PORT`},
		{Config{Register: RegisterConfig{Endpoints: []Value{{"http://e:2379", "a.yaml:3"}}}}, "a.yaml:3: register: needs address"},
		{Config{Register: RegisterConfig{Endpoints: []Value{{"http://e:2379", "a.yaml:3"}}, Address: Value{"x", "a.yaml:4"}}}, `a.yaml:4: register.address "x"`},
		{Config{Register: RegisterConfig{Endpoints: []Value{{"http://e:2379", "a.yaml:3"}}, Address: Value{"10.0.1.11", "a.yaml:4"}}}, "a.yaml:3: register: needs at least one service"},
		{Config{Register: RegisterConfig{Endpoints: []Value{{"http://e:2379", "a.yaml:3"}}, Address: Value{"10.0.1.11", "a.yaml:4"},
			Services: []Value{{"tcp 10.0.0.100", "--register-service"}}}}, `--register-service: register.services "tcp 10.0.0.100": want PROTO ADDR:PORT`},
		{Config{Register: RegisterConfig{Endpoints: []Value{{"http://e:2379", "a.yaml:3"}}, Address: Value{"10.0.1.11", "a.yaml:4"},
			Services: []Value{{"tcp 10.0.0.100:80 weight=x", "--register-service"}}}}, `weight "x": want 0..65535`},
		{Config{Register: RegisterConfig{Endpoints: []Value{{"http://e:2379", "a.yaml:3"}}, Address: Value{"10.0.1.11", "a.yaml:4"},
			TTL: Value{"1s", "LVSNODE_REGISTER_TTL"}, Services: []Value{{"tcp 10.0.0.100:80", "x"}}}}, "LVSNODE_REGISTER_TTL: register.ttl \"1s\": want a duration of at least 2s"},
	} {
		b.c.VIPs = []Value{{"10.0.0.100", "--vip"}}
		_, err := b.c.Options()
		if err == nil || !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%v, want ErrBadInput %q", err, b.want)
		}
	}
}

// Every register: error names the key as agent.yaml writes it
// (password-file, not director.yaml's password_file) and points where it
// was given (issue 12 review).
func TestRegisterErrorsNameYAMLKeys(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	os.WriteFile(pw, []byte("secret\n"), 0o644) // readable by others: refused
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, []byte("not a PEM\n"), 0o600)
	path := filepath.Join(dir, "agent.yaml")
	for _, c := range []struct{ register, want string }{
		{"  user: rs\n  password-file: " + pw, `agent.yaml:8: register.password-file: ` + pw + ` is readable by others`},
		{"  user: rs", `agent.yaml:7: register.user and register.password-file go together`},
		{"  password-file: " + pw, `agent.yaml:7: register.user and register.password-file go together`},
		{"  ca: " + ca, `agent.yaml:7: register.ca ` + ca + `: no PEM certificate`},
		{"  cert: " + ca, `agent.yaml:7: register.cert and register.key go together`},
		{"  prefix: lvs", `agent.yaml:7: register.prefix: "lvs" must start with /`},
	} {
		os.WriteFile(path, []byte("mode: dr\nvips: [10.0.0.100]\nregister:\n  endpoints: [http://10.0.0.5:2379]\n  address: 10.0.1.11\n  services: [{service: tcp 10.0.0.100:80}]\n"+c.register+"\n"), 0o644)
		cf, err := LoadFile(path)
		if err == nil {
			_, err = cf.Options()
		}
		if err == nil || !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "_") {
			t.Errorf("%q: %v, want ErrBadInput %q (and no underscored key)", c.register, err, c.want)
		}
	}
}

// A service listed twice, or more than etcd takes in one transaction, is
// refused at start, naming where: etcd refused the write ("duplicate key
// given in txn request", "too many operations in txn request") and the
// agent retried it for ever, READY and registered nowhere (issue 12 review).
func TestRegisterRefusesWhatEtcdRefuses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "agent.yaml")
	os.WriteFile(path, []byte(`mode: dr
vips: [10.0.0.100]
register:
  endpoints: [http://10.0.0.5:2379]
  address: 10.0.1.11
  services:
    - {service: tcp 10.0.0.100:80}
    - {service: tcp 10.0.0.100:443}
    - {service: tcp 10.0.0.100:80, weight: 3}
`), 0o644)
	c, err := LoadFile(path)
	if err == nil {
		_, err = c.Options()
	}
	want := `agent.yaml:9: register.services "tcp 10.0.0.100:80 weight=3": the same registration as "tcp 10.0.0.100:80" (` + path + `:7)`
	if err == nil || !errors.Is(err, ErrBadInput) || !strings.Contains(err.Error(), want) {
		t.Errorf("%v, want ErrBadInput %q", err, want)
	}
	// port= makes another key: not a duplicate
	cf := Config{VIPs: []Value{{"10.0.0.100", "--vip"}}, Register: RegisterConfig{Endpoints: []Value{{"http://e:2379", "a.yaml:3"}},
		Address: Value{"10.0.1.11", "a.yaml:4"}, Services: []Value{{"tcp 10.0.0.100:80", "a.yaml:5"}, {"tcp 10.0.0.100:80 port=8080", "a.yaml:6"}}}}
	if _, err := cf.Options(); err != nil {
		t.Errorf("port=8080 beside the service's port: %v", err)
	}
	cf.Register.Services = nil
	for i := range etcdstore.MaxServices + 1 {
		cf.Register.Services = append(cf.Register.Services, Value{fmt.Sprintf("tcp 10.0.0.100:%d", 1000+i), fmt.Sprintf("a.yaml:%d", 5+i)})
	}
	if _, err := cf.Options(); err == nil || !strings.Contains(err.Error(), "a.yaml:133: register.services: 129 services, at most 128") {
		t.Errorf("129 services: %v", err)
	}
	cf.Register.Services = cf.Register.Services[:etcdstore.MaxServices]
	if _, err := cf.Options(); err != nil {
		t.Errorf("128 services: %v", err)
	}
}

func TestRegisterState(t *testing.T) {
	for _, c := range []struct {
		ready    bool
		p        Phase
		wasReady bool
		want     etcdstore.State
	}{
		{false, Serving, false, etcdstore.Absent}, // not registered before the first READY
		{true, Serving, false, etcdstore.Serving},
		{false, Serving, true, etcdstore.Draining}, // not ready any more: weight 0, connections kept
		{false, Draining, true, etcdstore.Draining},
		{false, Drained, true, etcdstore.Draining},
		{true, Serving, true, etcdstore.Serving},
	} {
		if got := registerState(c.ready, c.p, c.wasReady); got != c.want {
			t.Errorf("ready %v phase %s wasReady %v: %s, want %s", c.ready, c.p, c.wasReady, got, c.want)
		}
	}
}
