package etcdstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Service is one service a real server registers itself in: Service is
// ipvsadm-like text ("tcp 10.0.0.100:80"), Node the real server's value.
type Service struct {
	Service string
	Node    Node
}

// State is what a registration says of the real server.
type State int

const (
	// Absent: no registration (before the first READY, and after a stop:
	// the lease is revoked, its keys vanish, the directors drain the real
	// server and remove it once its connections end).
	Absent State = iota
	// Serving: registered at its weight.
	Serving
	// Draining: registered with draining set: the directors give it
	// weight 0 and wait for its connections (also while not ready).
	Draining
)

func (s State) String() string {
	return [...]string{"absent", "serving", "draining"}[s]
}

// DefaultTTL is a registration's lease: a real server whose agent died
// leaves the directors' tables (drained) within it.
const DefaultTTL = 10 * time.Second

// Registrar keeps a real server's registration (one key per service,
// under one lease it keeps alive) true to the State it is given. When
// etcd is unreachable it retries every second; a lease that expired
// meanwhile is replaced and the keys written again.
type Registrar struct {
	Config   Config
	Services []Service
	TTL      time.Duration // default DefaultTTL
	Log      *slog.Logger
	// OnChange, if set, is told each state once written (for tests and
	// the figures: the moment a registration reached etcd).
	OnChange func(State)

	cli   *clientv3.Client
	lease clientv3.LeaseID
	ka    context.CancelFunc
	lost  chan struct{} // closed when the keepalive stream ends
	wrote State
}

// Run writes every state received until ctx ends, then revokes the lease
// (the keys vanish at once rather than after the TTL).
func (r *Registrar) Run(ctx context.Context, states <-chan State) error {
	if r.TTL <= 0 {
		r.TTL = DefaultTTL
	}
	if r.Log == nil {
		r.Log = slog.Default()
	}
	cli, err := Dial(r.Config)
	for err != nil { // with user: etcd down at start; retry, bounded by Timeout each
		if errors.Is(err, ErrInvalid) {
			return err
		}
		r.Log.Warn("registration: etcd unreachable, retrying", "err", err)
		if !wait(ctx, time.Second) {
			return nil
		}
		cli, err = Dial(r.Config)
	}
	r.cli = cli
	defer cli.Close()
	want := Absent
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	// the lease before READY (no key under it yet): at READY only the
	// keys are written, one round trip (a lease granted then took 2 s
	// under the lab's emulated CPU, the connection's set-up included)
	if err := r.grant(ctx); err != nil {
		r.Log.Warn("registration: etcd unreachable, the lease is granted at READY", "err", err)
	}
	for {
		var lost <-chan struct{}
		if r.lease != 0 {
			lost = r.lost
		}
		select {
		case <-ctx.Done():
			r.revoke()
			return nil
		case s := <-states:
			want = s
		case <-retry.C:
		case <-lost:
			r.Log.Warn("registration: etcd lease lost; registering again", "lease", fmt.Sprintf("%x", r.lease))
			r.dropLease()
		}
		if want == r.wrote && (want == Absent || r.lease != 0) {
			continue
		}
		if err := r.write(ctx, want); err != nil {
			r.Log.Warn("registration: etcd unreachable, retrying in 1s", "state", want.String(), "err", err)
			retry.Reset(time.Second)
			continue
		}
		if r.OnChange != nil {
			r.OnChange(want)
		}
	}
}

// write makes etcd hold state s.
func (r *Registrar) write(ctx context.Context, s State) error {
	if s == Absent {
		r.revoke()
		r.wrote = Absent
		return nil
	}
	if r.lease == 0 {
		if err := r.grant(ctx); err != nil {
			return err
		}
	}
	ops := make([]clientv3.Op, 0, len(r.Services))
	for _, sv := range r.Services {
		n := sv.Node
		n.Draining = s == Draining
		b, err := json.Marshal(n)
		if err != nil {
			return err
		}
		ops = append(ops, clientv3.OpPut(NodeKey(r.Config.Prefix, sv.Service, addrPort(n, sv.Service)), string(b), clientv3.WithLease(r.lease)))
	}
	tctx, cancel := context.WithTimeout(ctx, r.Config.Timeout)
	defer cancel()
	if _, err := r.cli.Txn(tctx).Then(ops...).Commit(); err != nil {
		return err
	}
	r.wrote = s
	r.Log.Info("registration written", "state", s.String(), "services", len(r.Services), "lease", fmt.Sprintf("%x", r.lease))
	return nil
}

func (r *Registrar) grant(ctx context.Context) error {
	tctx, cancel := context.WithTimeout(ctx, r.Config.Timeout)
	defer cancel()
	ttl := int64((r.TTL + time.Second - 1) / time.Second)
	g, err := r.cli.Grant(tctx, ttl)
	if err != nil {
		return err
	}
	kctx, kcancel := context.WithCancel(context.Background())
	ch, err := r.cli.KeepAlive(kctx, g.ID)
	if err != nil {
		kcancel()
		return err
	}
	lost := make(chan struct{})
	go func() { // drain the answers; the channel closes when the lease is gone
		for range ch {
		}
		close(lost)
	}()
	r.lease, r.ka, r.lost = g.ID, kcancel, lost
	return nil
}

func (r *Registrar) dropLease() {
	if r.ka != nil {
		r.ka()
	}
	r.lease, r.ka, r.wrote = 0, nil, Absent
}

// revoke deletes the registration now (its keys go with the lease).
func (r *Registrar) revoke() {
	if r.lease == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.Config.Timeout)
	defer cancel()
	if _, err := r.cli.Revoke(ctx, r.lease); err != nil {
		r.Log.Warn("registration: revoke failed: it leaves when its lease expires", "ttl", r.TTL, "err", err)
	} else {
		r.Log.Info("registration revoked")
	}
	r.dropLease()
}

// addrPort is the real server's "ADDR:PORT" in service (port 0: the
// service's port), as directors name it.
func addrPort(n Node, service string) string {
	port := n.Port
	if port == 0 {
		port = servicePort(service)
	}
	return joinHostPort(n.Address, port)
}

// wait waits d or until ctx ends; it reports whether ctx is still live.
func wait(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
