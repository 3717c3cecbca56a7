package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
	"time"

	etcdstore "github.com/lvsnode/lvsnode/store/etcd"
	"github.com/lvsnode/lvsnode/systemd"
)

// RegisterConfig is the register: section (and its --register-* flags and
// LVSNODE_REGISTER_* variables): the real server puts itself into the
// directors' shared desired state in etcd (director.yaml store: type etcd)
// once it is READY, under a lease, so it joins the pool by itself and a
// dead one leaves it.
type RegisterConfig struct {
	Endpoints    []Value
	Prefix       Value
	CA           Value
	Cert         Value
	Key          Value
	User         Value
	PasswordFile Value
	Timeout      Value
	Address      Value   // this real server's address as the directors reach it (RIP)
	TTL          Value   // the lease (default 10s)
	Services     []Value // "tcp 10.0.0.100:80 [weight=N] [port=P]"
}

// Registration is a validated register: section.
type Registration struct {
	Etcd     etcdstore.Config
	TTL      time.Duration
	Services []etcdstore.Service
}

// fileRegister is register: in the YAML file.
type fileRegister struct {
	Endpoints    []lineString `yaml:"endpoints"`
	Prefix       lineString   `yaml:"prefix"`
	CA           lineString   `yaml:"ca"`
	Cert         lineString   `yaml:"cert"`
	Key          lineString   `yaml:"key"`
	User         lineString   `yaml:"user"`
	PasswordFile lineString   `yaml:"password-file"`
	Timeout      lineString   `yaml:"timeout"`
	Address      lineString   `yaml:"address"`
	TTL          lineString   `yaml:"ttl"`
	Services     []struct {
		Service lineString `yaml:"service"`
		Weight  lineString `yaml:"weight"`
		Port    lineString `yaml:"port"`
	} `yaml:"services"`
}

// values turns the file's section into Values that name path:line.
func (f fileRegister) values(at func(lineString) Value) RegisterConfig {
	one := func(l lineString) Value {
		if l.S == "" {
			return Value{}
		}
		return at(l)
	}
	r := RegisterConfig{Prefix: one(f.Prefix), CA: one(f.CA), Cert: one(f.Cert), Key: one(f.Key), User: one(f.User),
		PasswordFile: one(f.PasswordFile), Timeout: one(f.Timeout), Address: one(f.Address), TTL: one(f.TTL)}
	for _, e := range f.Endpoints {
		r.Endpoints = append(r.Endpoints, at(e))
	}
	for _, s := range f.Services {
		v := at(s.Service)
		if s.Weight.S != "" {
			v.S += " weight=" + s.Weight.S
		}
		if s.Port.S != "" {
			v.S += " port=" + s.Port.S
		}
		r.Services = append(r.Services, v)
	}
	return r
}

// DefaultRegisterTTL is the registration's lease (see etcdstore.DefaultTTL).
const DefaultRegisterTTL = etcdstore.DefaultTTL

// registration validates the register: section for a real server in
// mode m (the forwarding method it registers with); nil when no endpoint
// is given (no registration).
func (c RegisterConfig) registration(o Options) (*Registration, error) {
	if len(c.Endpoints) == 0 {
		for _, v := range append([]Value{c.Address, c.TTL, c.Prefix, c.Timeout, c.CA, c.Cert, c.Key, c.User, c.PasswordFile}, c.Services...) {
			if v.S != "" {
				return nil, v.errorf("register: needs endpoints (register.endpoints, --register-endpoint, LVSNODE_REGISTER_ENDPOINT)")
			}
		}
		return nil, nil
	}
	r := &Registration{TTL: DefaultRegisterTTL, Etcd: etcdstore.Config{Prefix: c.Prefix.S, CA: c.CA.S, Cert: c.Cert.S,
		Key: c.Key.S, User: c.User.S, PasswordFile: c.PasswordFile.S}}
	for _, e := range c.Endpoints {
		r.Etcd.Endpoints = append(r.Etcd.Endpoints, strings.TrimSpace(e.S))
	}
	if c.Timeout.S != "" {
		d, err := time.ParseDuration(c.Timeout.S)
		if err != nil || d <= 0 {
			return nil, c.Timeout.errorf("register.timeout %q: want a duration above 0 (e.g. 5s)", c.Timeout.S)
		}
		r.Etcd.Timeout = d
	}
	// etcdstore names its keys as director.yaml writes them
	// (password_file); here they are named as this file writes them, and
	// the error points at the first one named that was given (file:line,
	// --flag or LVSNODE_ variable)
	var named []string
	if err := r.Etcd.ValidateNamed(func(k string) string {
		named = append(named, k)
		return "register." + strings.ReplaceAll(k, "_", "-")
	}); err != nil {
		vals := map[string]Value{"prefix": c.Prefix, "ca": c.CA, "cert": c.Cert, "key": c.Key, "user": c.User,
			"password_file": c.PasswordFile, "timeout": c.Timeout}
		at := c.Endpoints[0]
		for i := len(named) - 1; i >= 0; i-- { // the first named that was given
			if v := vals[named[i]]; v.Where != "" {
				at = v
			}
		}
		return nil, at.errorf("%s", strings.TrimPrefix(err.Error(), etcdstore.ErrInvalid.Error()+": "))
	}
	if c.TTL.S != "" {
		d, err := time.ParseDuration(c.TTL.S)
		if err != nil || d < 2*time.Second {
			return nil, c.TTL.errorf("register.ttl %q: want a duration of at least 2s (etcd's leases count whole seconds)", c.TTL.S)
		}
		r.TTL = d
	}
	if c.Address.S == "" {
		return nil, c.Endpoints[0].errorf("register: needs address (this real server's address as the directors reach it: register.address, --register-address, LVSNODE_REGISTER_ADDRESS)")
	}
	addr, err := netip.ParseAddr(strings.TrimSpace(c.Address.S))
	if err != nil || !addr.IsGlobalUnicast() && !addr.IsPrivate() {
		return nil, c.Address.errorf("register.address %q is not a unicast IP address", c.Address.S)
	}
	if len(c.Services) == 0 {
		return nil, c.Endpoints[0].errorf("register: needs at least one service (register.services, --register-service \"tcp 10.0.0.100:80 weight=1\")")
	}
	// etcd writes the keys in one transaction, which it refuses with a
	// key twice or more operations than its --max-txn-ops (default 128):
	// refused here, at start, rather than retried for ever
	if len(c.Services) > etcdstore.MaxServices {
		v := c.Services[etcdstore.MaxServices]
		return nil, v.errorf("register.services: %d services, at most %d (etcd's default --max-txn-ops: they are written in one transaction)", len(c.Services), etcdstore.MaxServices)
	}
	seen := map[string]Value{} // key -> the service that names it
	for _, v := range c.Services {
		s, err := registerService(v.S, addr.Unmap(), o)
		if err != nil {
			return nil, v.errorf("register.services %q: %v", v.S, err)
		}
		k := etcdstore.RegistrationKey(r.Etcd.Prefix, s)
		if first, dup := seen[k]; dup {
			return nil, v.errorf("register.services %q: the same registration as %q (%s): one key, given twice", v.S, first.S, first.Where)
		}
		seen[k] = v
		r.Services = append(r.Services, s)
	}
	return r, nil
}

// registerService reads "tcp 10.0.0.100:80 [weight=N] [port=P]" (no
// comma: the flag's list separator).
func registerService(s string, addr netip.Addr, o Options) (etcdstore.Service, error) {
	var f, opts []string
	for _, w := range strings.Fields(s) {
		if strings.Contains(w, "=") {
			opts = append(opts, w)
		} else {
			f = append(f, w)
		}
	}
	svc := strings.Join(f, " ")
	switch {
	case len(f) == 2 && (f[0] == "tcp" || f[0] == "udp" || f[0] == "sctp"):
		if _, err := netip.ParseAddrPort(f[1]); err != nil {
			return etcdstore.Service{}, fmt.Errorf("want PROTO ADDR:PORT, e.g. tcp 10.0.0.100:80")
		}
	case (len(f) == 2 || len(f) == 3 && f[2] == "ipv6") && f[0] == "fwm":
		if n, err := strconv.ParseUint(f[1], 0, 32); err != nil || n == 0 {
			return etcdstore.Service{}, fmt.Errorf("fwm wants a mark above 0")
		}
	default:
		return etcdstore.Service{}, fmt.Errorf("want tcp|udp|sctp ADDR:PORT or fwm N [ipv6]")
	}
	n := etcdstore.Node{Address: addr.String(), Method: string(o.Mode)}
	if o.Mode == ModeTUN {
		n.TunType, n.TunPort = string(o.TunType), uint16(o.TunPort)
	}
	for _, kv := range opts {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		x, err := strconv.ParseUint(v, 10, 32)
		switch {
		case k == "weight" && err == nil && x <= 65535:
			w := uint32(x)
			n.Weight = &w
		case k == "port" && err == nil && x > 0 && x <= 65535:
			n.Port = uint16(x)
		case k == "weight": // named as both the YAML (weight:) and the flag (weight=) write it
			return etcdstore.Service{}, fmt.Errorf("weight %q: want 0..65535", v)
		case k == "port":
			return etcdstore.Service{}, fmt.Errorf("port %q: want 1..65535", v)
		default:
			return etcdstore.Service{}, fmt.Errorf("%q: want weight=0..65535 or port=1..65535", kv)
		}
	}
	return etcdstore.Service{Service: svc, Node: n}, nil
}

// registerState is what the registration should say now: absent until
// the daemon was first READY; then serving while ready and serving, and
// draining while it drains or is not ready (weight 0: its connections
// are kept, no new ones).
func registerState(ready bool, p Phase, wasReady bool) etcdstore.State {
	switch {
	case ready && p == Serving:
		return etcdstore.Serving
	case !wasReady:
		return etcdstore.Absent
	}
	return etcdstore.Draining
}

// StartRegistration keeps d's registration (o.Register) true to its
// readiness until stop is called, which revokes it (the directors drain
// and remove the real server at once instead of after the lease): call
// stop when Run has returned. d's Notifier is wrapped so that READY=1
// reaches etcd without waiting for the next poll.
func StartRegistration(d *Daemon, r *Registration, log *slog.Logger) (stop func()) {
	poke := make(chan struct{}, 1)
	d.Notify = pokeNotifier{d.Notify, poke}
	states := make(chan etcdstore.State, 1)
	reg := &etcdstore.Registrar{Config: r.Etcd, Services: r.Services, TTL: r.TTL, Log: log}
	d.registration.Store(reg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := reg.Run(ctx, states); err != nil {
			log.Error("registration", "err", err)
		}
	}()
	go func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		last, wasReady := etcdstore.Absent, false
		for {
			ready, _ := d.Ready()
			s := registerState(ready, d.phase(), wasReady)
			wasReady = wasReady || s == etcdstore.Serving
			if s != last {
				// the moment the agent became READY (serving), drained, ...
				log.Info("registration state", "state", s.String())
				select { // latest wins
				case <-states:
				default:
				}
				states <- s
				last = s
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			case <-poke:
			}
		}
	}()
	return func() { cancel(); <-done }
}

// pokeNotifier forwards to the daemon's notifier and pokes the
// registration on every state it reports.
type pokeNotifier struct {
	systemd.Notifier
	poke chan struct{}
}

func (p pokeNotifier) Notify(s string) error {
	err := p.Notifier.Notify(s)
	select {
	case p.poke <- struct{}{}:
	default:
	}
	return err
}
