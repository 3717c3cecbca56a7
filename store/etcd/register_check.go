package etcdstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The registrar's own keys: a registered real server is its agent's, so
// a key that is gone, or held by a lease that is no more, is written again (the
// review of issue 12 found a registration lost for good, the agent
// alive and silent, after an `etcdctl del`, a director's remove-node, or
// another agent registering the same address and then stopping).

// RegisterStatus is what a Registrar reports (agent status --json, the
// agent's metrics).
type RegisterStatus struct {
	State string `json:"state"` // absent, serving, draining: as last written
	// Registered: its keys are in etcd under its lease as of the last
	// write or check.
	Registered bool   `json:"registered"`
	Lease      string `json:"lease,omitempty"` // hex, as etcdctl prints it
	// Error is the last failure, said for a human; Reason its class
	// (see Reason), or "held" while another live lease holds a key.
	// Both are cleared by the next successful write.
	Error  string `json:"error,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Errors counts failures by Reason; Rewrites counts keys written again
	// because they were deleted, taken by another lease, or their lease
	// was lost.
	Errors   map[string]uint64 `json:"errors,omitempty"`
	Rewrites map[string]uint64 `json:"rewrites,omitempty"`
}

type status struct {
	mu sync.Mutex
	s  RegisterStatus
}

// Status is the registration's state now; safe from any goroutine.
func (r *Registrar) Status() RegisterStatus {
	r.st.mu.Lock()
	defer r.st.mu.Unlock()
	s := r.st.s
	if s.State == "" {
		s.State = Absent.String()
	}
	s.Errors, s.Rewrites = copyCounts(s.Errors), copyCounts(s.Rewrites)
	return s
}

func copyCounts(m map[string]uint64) map[string]uint64 {
	if m == nil {
		return nil
	}
	out := make(map[string]uint64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (r *Registrar) setStatus(s State, registered bool) {
	r.st.mu.Lock()
	defer r.st.mu.Unlock()
	r.st.s.State, r.st.s.Registered = s.String(), registered
	r.st.s.Lease = ""
	if r.lease != 0 {
		r.st.s.Lease = fmt.Sprintf("%x", int64(r.lease))
	}
	if registered || s == Absent {
		r.st.s.Error, r.st.s.Reason = "", ""
	}
}

// count counts a key written again for why.
func (r *Registrar) count(why string) {
	r.st.mu.Lock()
	defer r.st.mu.Unlock()
	if r.st.s.Rewrites == nil {
		r.st.s.Rewrites = map[string]uint64{}
	}
	r.st.s.Rewrites[why]++
}

// failed logs err, met while doing, classified (Reason: "registration:
// etcd unreachable, retrying", "registration: etcd refused the user or
// password ..., retrying"), and counts it. Every failure is retried
// within a second.
func (r *Registrar) failed(doing string, err error) {
	reason, what := Reason(err)
	r.Log.Warn("registration: "+what+", retrying", "while", doing, "reason", reason, "err", err)
	r.st.mu.Lock()
	defer r.st.mu.Unlock()
	if r.st.s.Errors == nil {
		r.st.s.Errors = map[string]uint64{}
	}
	r.st.s.Errors[reason]++
	r.st.s.Registered, r.st.s.Error, r.st.s.Reason = false, what+": "+err.Error(), reason
}

// Reason classifies an etcd error: "auth" (etcd refused the user or its
// password, or wants one), "permission" (the user may not write the
// prefix), "txn_limit" and "duplicate_key" (a transaction etcd refuses:
// the agent's configuration checks both at start), "conflict" (its keys
// kept changing under it) or "unreachable" (anything else: etcd down,
// timeouts, no leader). what says it for a human. Every one is retried
// (with credentials fixed, or etcd back, the registration is written).
func Reason(err error) (reason, what string) {
	for e := err; e != nil; e = errors.Unwrap(e) {
		switch rpctypes.Error(e) {
		case rpctypes.ErrAuthFailed, rpctypes.ErrUserNotFound:
			return "auth", "etcd refused the user or password (register.user, register.password-file)"
		case rpctypes.ErrUserEmpty:
			return "auth", "etcd has authentication enabled and no user was given (register.user, register.password-file)"
		case rpctypes.ErrAuthNotEnabled:
			return "auth", "a user was given but etcd has authentication disabled"
		case rpctypes.ErrInvalidAuthToken, rpctypes.ErrAuthOldRevision:
			return "auth", "etcd refused the client's token (the user's password or roles changed?)"
		case rpctypes.ErrPermissionDenied:
			return "permission", "the etcd user may not write the prefix (grant it readwrite on it)"
		case rpctypes.ErrTooManyOps:
			return "txn_limit", "more services than etcd takes in one transaction (--max-txn-ops)"
		case rpctypes.ErrDuplicateKey:
			return "duplicate_key", "a service registered twice"
		}
	}
	if errors.Is(err, errConflict) {
		return "conflict", "its keys kept changing under it"
	}
	return "unreachable", "etcd unreachable"
}

// Reasons are Reason's classes; RewriteReasons why a key is written
// again (Status's Rewrites).
var (
	Reasons        = []string{"unreachable", "auth", "permission", "txn_limit", "duplicate_key", "conflict"}
	RewriteReasons = []string{"deleted", "taken", "lease_lost"} // taken: by a lease that is no more
)

var errConflict = errors.New("registration: its keys changed under it in each of 5 rounds")

// MaxServices is how many services one registration may name: its keys
// are written in one transaction, and etcd refuses one with more
// operations than its --max-txn-ops (default 128).
const MaxServices = 128

// RegistrationKey is the key sv is registered under with prefix (""
// means DefaultPrefix): two services with one key are one registration,
// which etcd refuses to write twice in a transaction.
func RegistrationKey(prefix string, sv Service) string {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return NodeKey(prefix, sv.Service, addrPort(sv.Node, sv.Service))
}

// key is sv's key.
func (r *Registrar) key(sv Service) string {
	return NodeKey(r.Config.Prefix, sv.Service, addrPort(sv.Node, sv.Service))
}

// nodeValue is n as a key's JSON fields.
func nodeValue(n Node) (map[string]json.RawMessage, error) {
	b, err := json.Marshal(n)
	if err != nil {
		return nil, err
	}
	var v map[string]json.RawMessage
	return v, json.Unmarshal(b, &v)
}

// verify reads its keys: false when one is gone, or held without a lease
// or by a lease that is no more (then r.mine says to write it anew: ours
// over it). A key under its own lease changed by someone else (an
// operator's edit-node) is fine. held names the keys held by another
// live lease: another agent registering the same address, whose key it
// is while its lease lives (taking it back would start a tug of war
// between two live agents); when that lease ends the key goes with it
// and is written again here.
func (r *Registrar) verify(ctx context.Context) (ok bool, held []string, err error) {
	var gets []clientv3.Op
	for _, sv := range r.Services {
		gets = append(gets, clientv3.OpGet(r.key(sv)))
	}
	tctx, cancel := context.WithTimeout(ctx, r.Config.Timeout)
	defer cancel()
	resp, err := r.cli.Txn(tctx).Then(gets...).Commit()
	if err != nil {
		return false, nil, err
	}
	if r.noted == nil {
		r.noted = map[string]clientv3.LeaseID{}
	}
	ok = true
	for i, sv := range r.Services {
		k := r.key(sv)
		kvs := resp.Responses[i].GetResponseRange().Kvs
		switch {
		case len(kvs) == 0:
			r.Log.Warn("registration: key "+k+" deleted by someone else: registering again (to take a registered real server out, drain or stop its agent)", "key", k)
			r.count("deleted")
			delete(r.mine, k)
			delete(r.noted, k)
			ok = false
		case clientv3.LeaseID(kvs[0].Lease) != r.lease:
			other := clientv3.LeaseID(kvs[0].Lease)
			live := false
			if other != 0 {
				ttl, err := r.cli.TimeToLive(tctx, other)
				if err != nil {
					return false, nil, err
				}
				live = ttl.TTL > 0
			}
			if live {
				if r.noted[k] != other { // once per lease
					r.Log.Warn(fmt.Sprintf("registration: key %s taken by lease %x (another agent registers the same address?): it is that lease's while it lives; registering again when it ends", k, int64(other)), "key", k)
					r.noted[k] = other
				}
				held = append(held, fmt.Sprintf("key %s held by lease %x", k, int64(other)))
				continue
			}
			r.Log.Warn(fmt.Sprintf("registration: key %s taken by lease %x, which is no more: registering again", k, int64(other)), "key", k)
			r.count("taken")
			v, err := nodeValue(sv.Node)
			if err != nil {
				return false, nil, err
			}
			r.mine[k] = written{rev: kvs[0].ModRevision, value: v} // ours over theirs, unless it changes again
			ok = false
		default:
			delete(r.noted, k)
		}
	}
	return ok, held, nil
}

// setHeld says in Status that keys are another lease's (nil: none).
func (r *Registrar) setHeld(held []string) {
	r.st.mu.Lock()
	defer r.st.mu.Unlock()
	if len(held) == 0 {
		if r.st.s.Reason == "held" {
			r.st.s.Registered, r.st.s.Error, r.st.s.Reason = true, "", ""
		}
		return
	}
	r.st.s.Registered, r.st.s.Reason = false, "held"
	r.st.s.Error = strings.Join(held, ", ") + " (another agent registers the same address?): written again when it ends"
}

// watch pokes the registrar when one of its keys is deleted or put under
// another lease, until ctx (the lease's) ends. The periodic check covers
// what a watch can miss (etcd restarted, compaction).
func (r *Registrar) watch(ctx context.Context) {
	lease, poke := r.lease, r.poke
	for _, sv := range r.Services {
		ch := r.cli.Watch(ctx, r.key(sv))
		go func() {
			for wr := range ch {
				for _, ev := range wr.Events {
					if ev.Type == clientv3.EventTypeDelete || clientv3.LeaseID(ev.Kv.Lease) != lease {
						select {
						case poke <- struct{}{}:
						default:
						}
					}
				}
			}
		}()
	}
}
