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
//
// A registered real server is owned by its agent: the Registrar watches
// its keys (and re-reads them every Check) and writes again a key that
// is gone (an `etcdctl del`, a director's remove-node, the lease of
// another agent registering the same address revoked or expired) or held
// without a lease or by one that is no more. A key another agent holds
// under its live lease is left to it (said once, and in Status) and
// written again once that lease ends. To take a registered real server
// out of the pool, drain or stop its agent, not remove-node.
//
// It owns a key's presence and its draining flag, nothing else: a key it
// finds changed since its own last write (an operator's edit-node on a
// director, which rewrites the key under the same lease) keeps every
// field of that edit and gets only draining (and the lease) from it, so
// the agent's next state change does not undo the operator's weight. A
// key it finds at its first write under another lease (its own earlier
// run, killed; or another agent) gets its configuration, as after a
// clean stop, whose revoke deleted the key.
type Registrar struct {
	Config   Config
	Services []Service
	TTL      time.Duration // default DefaultTTL
	Log      *slog.Logger
	// OnChange, if set, is told each state once written (for tests and
	// the figures: the moment a registration reached etcd).
	OnChange func(State)
	// Check is how often its keys are re-read even when the watch says
	// nothing (default TTL/3).
	Check time.Duration

	st status // what Status reports

	cli   *clientv3.Client
	lease clientv3.LeaseID
	ka    context.CancelFunc
	lost  chan struct{} // closed when the keepalive stream ends
	poke  chan struct{} // a watched key changed: check the keys
	// noted is, per key, the last lease seen holding it (logged once)
	noted map[string]clientv3.LeaseID
	wrote State
	// mine is, per key, this registrar's last write (its mod_revision
	// and value): a key whose mod_revision is another was changed by
	// someone else since (merge).
	mine map[string]written
}

// written is a key as this registrar last wrote it.
type written struct {
	rev   int64
	value map[string]json.RawMessage
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
		r.failed("connecting", err)
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
	r.poke = make(chan struct{}, 1) // before the lease: its watch pokes it
	if err := r.grant(ctx); err != nil {
		r.failed("granting the lease (else granted at READY)", err)
	}
	if r.Check <= 0 {
		r.Check = r.TTL / 3
	}
	check := time.NewTicker(r.Check)
	defer check.Stop()
	for {
		var lost <-chan struct{}
		if r.lease != 0 {
			lost = r.lost
		}
		stale := false
		select {
		case <-ctx.Done():
			r.revoke()
			r.setStatus(Absent, false)
			return nil
		case s := <-states:
			want = s
		case <-retry.C:
			stale = r.wrote != Absent && r.lease != 0 // a check that failed
		case <-lost:
			r.Log.Warn("registration: etcd lease lost; registering again", "lease", fmt.Sprintf("%x", r.lease))
			r.count("lease_lost")
			r.dropLease()
			r.setStatus(want, false)
		case <-check.C:
			stale = r.wrote != Absent && r.lease != 0
		case <-r.poke:
			stale = r.wrote != Absent && r.lease != 0
		}
		if stale {
			ok, held, err := r.verify(ctx)
			if err != nil && ctx.Err() != nil {
				continue
			}
			if err != nil {
				r.failed("reading its keys", err)
				retry.Reset(time.Second)
				continue
			}
			r.setHeld(held)
			if !ok {
				r.wrote = Absent // written again below
			} else if len(held) == 0 {
				r.setStatus(r.wrote, true) // after a check that failed
			}
		}
		if want == r.wrote && (want == Absent || r.lease != 0) {
			continue
		}
		if err := r.write(ctx, want); err != nil {
			if ctx.Err() != nil {
				continue // stopping: revoked next
			}
			r.failed("writing "+want.String(), err)
			retry.Reset(time.Second)
			continue
		}
		r.setStatus(want, want != Absent)
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
	if r.mine == nil {
		r.mine = map[string]written{}
	}
	want := map[string]map[string]json.RawMessage{} // key -> the value to write
	for _, sv := range r.Services {
		k := r.key(sv)
		if w, ok := r.mine[k]; ok {
			want[k] = w.value // as last written: an operator's edit merged then stays
			continue
		}
		v, err := nodeValue(sv.Node)
		if err != nil {
			return err
		}
		want[k] = v
	}
	// each round compares every key's mod_revision to this registrar's
	// last write of it (0: absent, a first write); a key someone else
	// changed meanwhile is read back, merged, and the round is retried
	for range 5 {
		var cmps []clientv3.Cmp
		var puts, gets []clientv3.Op
		vals := map[string]map[string]json.RawMessage{}
		for k, v := range want {
			v = withDraining(v, s == Draining)
			vals[k] = v
			b, _ := json.Marshal(v) // a map of raw JSON always marshals
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", r.mine[k].rev))
			puts = append(puts, clientv3.OpPut(k, string(b), clientv3.WithLease(r.lease)))
			gets = append(gets, clientv3.OpGet(k))
		}
		tctx, cancel := context.WithTimeout(ctx, r.Config.Timeout)
		resp, err := r.cli.Txn(tctx).If(cmps...).Then(puts...).Else(gets...).Commit()
		cancel()
		if err != nil {
			return err
		}
		if resp.Succeeded {
			for k, v := range vals {
				r.mine[k] = written{rev: resp.Header.Revision, value: v}
			}
			r.wrote = s
			r.Log.Info("registration written", "state", s.String(), "services", len(r.Services), "lease", fmt.Sprintf("%x", r.lease))
			return nil
		}
		revs, now, leases := map[string]int64{}, map[string][]byte{}, map[string]clientv3.LeaseID{} // the keys as they are now
		for _, rr := range resp.Responses {
			for _, kv := range rr.GetResponseRange().Kvs {
				revs[string(kv.Key)], now[string(kv.Key)], leases[string(kv.Key)] = kv.ModRevision, kv.Value, clientv3.LeaseID(kv.Lease)
			}
		}
		for k := range want {
			rev, there := revs[k]
			_, known := r.mine[k]
			switch {
			case !there: // removed, or gone with an old lease: written anew
				delete(r.mine, k)
			case rev == r.mine[k].rev: // as this registrar wrote it
			case !known && leases[k] != r.lease:
				// not written by this registrar, under another lease: left
				// by this agent's previous run (killed: its lease still
				// lives) or by another agent. The configuration is written
				// over it, as after a clean stop, whose revoke deleted the
				// key: an agent restarted after a crash does not keep an
				// earlier run's settings.
				r.Log.Info("registration: key held by a lease from before this run (a crashed run, or another agent): written with this agent's settings",
					"key", k, "lease", fmt.Sprintf("%x", int64(leases[k])))
				r.mine[k] = written{rev: rev, value: want[k]}
			default:
				var theirs map[string]json.RawMessage
				if json.Unmarshal(now[k], &theirs) != nil {
					theirs = want[k] // not a JSON object: ours is written over it
				} else {
					r.Log.Info("registration: key changed by someone else (an operator's edit?): its fields are kept, only draining is the agent's", "key", k)
				}
				want[k], r.mine[k] = theirs, written{rev: rev, value: theirs}
			}
		}
	}
	return errConflict
}

// withDraining is v (a key's JSON fields) with the agent's draining flag
// set (true) or removed (false, as Node's omitempty writes it); v itself
// is not changed.
func withDraining(v map[string]json.RawMessage, draining bool) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(v)+1)
	for f, x := range v {
		out[f] = x
	}
	delete(out, "draining")
	if draining {
		out["draining"] = json.RawMessage("true")
	}
	return out
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
	r.watch(kctx) // ends with the lease
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
