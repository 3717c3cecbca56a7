package director

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	etcdstore "github.com/lvsnode/lvsnode/store/etcd"
)

var _ Shared = (*EtcdStore)(nil)

// EtcdStore is the Shared store on etcd: the desired services live under
// the prefix (store/etcd's layout), shared by every director of the group
// and written by the agents that register themselves; what is this
// director's own (each real server's health and drain state as it sees
// it, the services it programmed, its data-path marks) and a copy of the
// last known services stay in the local state file, so a director that
// starts while etcd is down serves its last known table.
//
// Save writes only the keys this director changed (the API's edits), one
// transaction, never keys it merely learned from the watch: two directors
// editing two real servers do not overwrite each other, and a registered
// real server keeps its agent's lease (puts of a leased key keep the
// lease). Concurrent edits of the same key: the last one wins.
type EtcdStore struct {
	// Name is this director in directors/ (default: the host name).
	Name string

	cfg   etcdstore.Config
	climu sync.Mutex
	cli   *clientv3.Client // client(): replaced once authenticated
	done  chan struct{}    // closed by Close
	local FileStore
	log   *slog.Logger
	// wrapWatch, when set (tests), wraps the watcher of each watch
	wrapWatch func(watcher) watcher

	mu     sync.Mutex
	remote map[string]remoteKV // relative key -> what etcd holds (as of rev)
	rev    int64
	prev   map[string]string // the daemon's services as last loaded or saved
	wrote  int64             // the revision of this director's last write
	status StoreStatus
	// directors is directors/*: the revision each director reported
	directors map[string]DirectorReport
	// invalid is the keys ignored because their value does not compile
	// (relative key -> why), logged once each: the rest is applied.
	invalid map[string]string
	stalled bool // a watch stalled and none delivered since (logged once)
	// authErr is why the last authentication failed (nil: none failed,
	// or one succeeded since): the anonymous client's "user name is
	// empty" is reported as it (authFailed).
	authErr error
	// fileConflicts is director.yaml's keys that disagree with the
	// shared state as of the last SeedFile (etcdseed.go); fileKV is the
	// file's keys then, so that one settled since is not reported.
	fileConflicts map[string]string
	fileKV        map[string]string
}

type remoteKV struct {
	decoded
	lease int64
}

// NewEtcdStore connects (lazily: etcd may be down) to cfg's etcd, with
// stateFile as the local part. With user, authentication needs etcd: if
// it does not answer within cfg.Timeout, the store starts on a client
// without credentials (whose calls fail: the last known table is served)
// and authenticates in the background, once a second, until it can.
func NewEtcdStore(cfg etcdstore.Config, stateFile string, log *slog.Logger) (*EtcdStore, error) {
	if log == nil {
		log = slog.Default()
	}
	cli, err := etcdstore.Dial(cfg)
	authed, dialErr := err == nil, err
	if err != nil && cfg.User != "" && !errors.Is(err, etcdstore.ErrInvalid) {
		log.Warn("etcd: cannot authenticate yet, retrying in the background", "err", authFailed(cfg, err))
		cli, err = etcdstore.Dial(cfg.Anonymous())
	}
	if err != nil {
		return nil, err
	}
	s := &EtcdStore{cfg: cfg, cli: cli, done: make(chan struct{}), local: FileStore{Path: stateFile}, log: log,
		remote: map[string]remoteKV{}, directors: map[string]DirectorReport{}, invalid: map[string]string{}, status: StoreStatus{Backend: "etcd", Since: time.Now()}}
	if !authed {
		s.authErr = dialErr
	}
	if !authed {
		go s.authenticate()
	}
	return s, nil
}

// authenticate dials with the credentials until it succeeds or the store
// is closed, then replaces the client.
func (s *EtcdStore) authenticate() {
	for {
		select {
		case <-s.done:
			return
		case <-time.After(time.Second):
		}
		cli, err := etcdstore.Dial(s.cfg)
		if err != nil {
			s.mu.Lock()
			s.authErr = err
			s.mu.Unlock()
			continue
		}
		s.climu.Lock()
		select {
		case <-s.done:
			s.climu.Unlock()
			cli.Close()
			return
		default:
		}
		old := s.cli
		s.cli = cli
		s.climu.Unlock()
		old.Close() // its calls in flight fail, and are retried on the new one
		s.mu.Lock()
		s.authErr = nil
		s.mu.Unlock()
		s.log.Info("etcd: authenticated")
		return
	}
}

// client is the current etcd client.
func (s *EtcdStore) client() *clientv3.Client {
	s.climu.Lock()
	defer s.climu.Unlock()
	return s.cli
}

// Close closes the etcd client.
func (s *EtcdStore) Close() error {
	s.climu.Lock()
	defer s.climu.Unlock()
	select {
	case <-s.done:
		return nil
	default:
		close(s.done)
	}
	return s.cli.Close()
}

// StoreStatus is whether etcd answers and the revision last read.
func (s *EtcdStore) StoreStatus() StoreStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.Directors = make(map[string]DirectorReport, len(s.directors))
	for k, v := range s.directors {
		st.Directors[k] = v
	}
	if len(s.invalid) > 0 {
		st.Invalid = make(map[string]string, len(s.invalid))
		for k, v := range s.invalid {
			st.Invalid[k] = v
		}
	}
	for k, v := range s.fileConflicts {
		if s.agreesLocked(k) {
			continue // settled since (edit-node, etcdctl): no longer reported
		}
		if st.FileConflicts == nil {
			st.FileConflicts = map[string]string{}
		}
		st.FileConflicts[k] = v
	}
	return st
}

func (s *EtcdStore) setReachable(ok bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	err = s.explainLocked(err)
	if s.status.Reachable != ok {
		s.status.Reachable, s.status.Since = ok, time.Now()
		switch {
		case ok:
			s.log.Info("etcd reachable", "endpoints", strings.Join(s.cfg.Endpoints, ","))
		case errors.Is(err, errRefused):
			s.log.Error("etcd refuses this director: keeping the last known table", "err", err)
		default:
			s.log.Warn("etcd unreachable: keeping the last known table", "err", err)
		}
	}
	s.status.Error = ""
	if err != nil {
		s.status.Error = err.Error()
	}
}

// errRefused is wrapped by the errors of an etcd that answers but
// refuses this director (authentication, permissions): a configuration
// to fix, not an outage to wait out. Reachable is false all the same
// (the last known table is served).
var errRefused = errors.New("etcd refuses this director")

// explainLocked says what err is when etcd refuses: the anonymous client
// (the credentials failed) gets "user name is empty", a user without a
// role on the prefix "permission denied".
func (s *EtcdStore) explainLocked(err error) error {
	switch {
	case err == nil:
		return nil
	case s.authErr != nil && errors.Is(err, rpctypes.ErrUserEmpty):
		if e := authFailed(s.cfg, s.authErr); errors.Is(e, errRefused) {
			return e
		}
		// etcd was down when authenticating: it answers now, and the
		// background authentication (each second) follows
		return fmt.Errorf("user %q not authenticated yet (retried each second): %v", s.cfg.User, s.authErr)
	case errors.Is(err, rpctypes.ErrPermissionDenied):
		return fmt.Errorf("%w: permission denied on prefix %q for user %q (store.user): grant its role readwrite on the prefix: %v",
			errRefused, s.cfg.Prefix, s.cfg.User, err)
	}
	return err
}

// authFailed names an authentication failure as such (wrong user or
// password); other errors (etcd down while authenticating) are returned
// as they are.
func authFailed(cfg etcdstore.Config, err error) error {
	if errors.Is(err, rpctypes.ErrAuthFailed) || errors.Is(err, rpctypes.ErrGRPCAuthFailed) {
		return fmt.Errorf("%w: authentication failed for user %q (store.user, store.password_file): %v", errRefused, cfg.User, err)
	}
	return err
}

// Load reads the local state and, when etcd answers, replaces its
// services with the shared ones. An empty prefix (a new group, or one
// moving from the file store) is seeded with this director's services by
// the first Save. etcd unreachable: the services last known, no error.
func (s *EtcdStore) Load(ctx context.Context) (Desired, error) {
	d, err := s.local.Load(ctx)
	if err != nil {
		return d, err
	}
	resp, err := s.get(ctx)
	if err != nil {
		s.mu.Lock()
		s.prev = encodeServices(d.Services)
		err = s.explainLocked(err)
		s.mu.Unlock()
		if errors.Is(err, errRefused) {
			s.log.Error("etcd refuses this director at start: serving the last known table from the state file", "err", err)
		} else {
			s.log.Warn("etcd unreachable at start: serving the last known table from the state file", "err", err)
		}
		return d, nil
	}
	r := s.replace(resp)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status.Read = true // d holds the shared state from now on (or seeds it)
	if len(resp.Kvs) == 0 {
		s.prev = map[string]string{} // everything is written by the first Save
		return d, nil
	}
	d.Services = r.Services
	s.prev, s.status.Revision = encodeServices(d.Services), r.Revision
	s.status.Digest = digest(s.prev)
	return d, nil
}

// get reads the whole prefix.
func (s *EtcdStore) get(ctx context.Context) (*clientv3.GetResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	resp, err := s.client().Get(ctx, s.cfg.Prefix, clientv3.WithPrefix())
	s.setReachable(err == nil, err)
	return resp, err
}

// replace makes the cache resp's keys and returns them as a Remote.
func (s *EtcdStore) replace(resp *clientv3.GetResponse) Remote {
	s.mu.Lock()
	defer s.mu.Unlock()
	was := s.invalid
	s.remote, s.directors, s.invalid = map[string]remoteKV{}, map[string]DirectorReport{}, map[string]string{}
	for _, kv := range resp.Kvs {
		k := strings.TrimPrefix(string(kv.Key), s.cfg.Prefix)
		if why, ok := was[k]; ok {
			s.invalid[k] = why // logged already
		}
		s.putLocked(string(kv.Key), kv.Value, kv.Lease)
	}
	s.rev = resp.Header.Revision
	return s.remoteLocked()
}

func (s *EtcdStore) putLocked(key string, v []byte, lease int64) {
	k := strings.TrimPrefix(key, s.cfg.Prefix)
	if name, ok := strings.CutPrefix(k, etcdstore.DirectorsDir); ok {
		var r DirectorReport
		if json.Unmarshal(v, &r) == nil {
			s.directors[name] = r
		}
		return
	}
	x, err := decodeKey(k, v)
	if err == nil {
		err = s.checkLocked(x)
	}
	if err != nil {
		if s.invalid[k] != err.Error() { // once per key and error
			s.log.Warn("etcd: key ignored, the rest applies", "key", key, "err", err)
		}
		s.invalid[k] = err.Error()
		delete(s.remote, k)
		return
	}
	delete(s.invalid, k)
	s.remote[k] = remoteKV{x, lease}
}

// checkLocked compiles x alone (a service key as a service without real
// servers, a real server's key with its service's settings as known), as
// install compiles the whole state: one value that cannot compile is
// ignored rather than refusing every other key with it.
func (s *EtcdStore) checkLocked(x decoded) error {
	sp := ServiceSpec{Service: x.service}
	if x.rs == "" {
		sp = x.spec
	} else {
		if r, ok := s.remote[etcdstore.ServiceKey("", x.service)]; ok {
			sp = r.spec
		}
		sp.Nodes = []NodeSpec{x.node}
	}
	_, err := compile(clone([]ServiceSpec{sp}), newMarkAlloc(1, ^uint32(0), nil), nil)
	return err
}

// remoteLocked is the cache as a Remote.
func (s *EtcdStore) remoteLocked() Remote {
	keys := make(map[string]decoded, len(s.remote))
	r := Remote{Registered: map[string]Registration{}, Revision: s.rev}
	for k, x := range s.remote {
		keys[k] = x.decoded
		if x.rs != "" && x.lease != 0 {
			r.Registered[x.service+" "+x.rs] = Registration{Lease: x.lease, Draining: x.draining}
		}
	}
	r.Services = assemble(keys)
	return r
}

// Stale: see Shared.
func (s *EtcdStore) Stale(rev int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return rev < s.wrote
}

// Adopted: see Shared.
func (s *EtcdStore) Adopted(rev int64, svcs []ServiceSpec) {
	kv := encodeServices(svcs)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prev, s.status.Revision, s.status.Digest = kv, rev, digest(kv)
	s.status.Read = true
}

// digest is a short hash of a key -> value set (StoreStatus.Digest).
func digest(kv map[string]string) string {
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s\x00%s\x00", k, kv[k])
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

// Save writes the local state, after the shared keys this director
// changed since the last Load or Save (one transaction per 100 keys).
// etcd unreachable: such a change is refused (ErrStoreUnavailable) and
// nothing is written; a registered real server's key whose lease ended
// before the watch said so refuses it too (ErrNotFound), etcd staying
// reachable. A save that changes no shared key only writes the local file.
func (s *EtcdStore) Save(ctx context.Context, d Desired) error {
	kv := encodeServices(d.Services)
	s.mu.Lock()
	var ops []clientv3.Op
	for k, v := range kv {
		r, inRemote := s.remote[k]
		if p, ok := s.prev[k]; (ok && p == v) || (inRemote && r.canon == v) {
			continue // unchanged here, or already there
		}
		var opts []clientv3.OpOption
		if inRemote && r.lease != 0 {
			opts = append(opts, clientv3.WithIgnoreLease()) // an agent's registration keeps its lease
			if r.draining {
				var n NodeSpec // and its draining flag
				_ = json.Unmarshal([]byte(v), &n)
				v = mustJSON(sharedNode{NodeSpec: n, Draining: true})
			}
		}
		ops = append(ops, clientv3.OpPut(s.cfg.Prefix+k, v, opts...))
	}
	for k := range s.prev {
		if _, keep := kv[k]; keep {
			continue
		}
		if _, there := s.remote[k]; there {
			ops = append(ops, clientv3.OpDelete(s.cfg.Prefix+k))
		}
	}
	s.mu.Unlock()
	for len(ops) > 0 {
		n := min(len(ops), 100) // etcd's default --max-txn-ops is 128
		tctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		resp, err := s.client().Txn(tctx).Then(ops[:n]...).Commit()
		cancel()
		if errors.Is(err, rpctypes.ErrKeyNotFound) {
			// etcd answered: a key put with its lease kept (a registered
			// real server's) is gone, its lease ended before the watch
			// said so. Not an outage.
			return fmt.Errorf("%w: a registered real server's key under %s ended meanwhile (its lease expired or was revoked): the change is refused", ErrNotFound, s.cfg.Prefix)
		}
		if err != nil {
			if tctx.Err() != nil || ctx.Err() == nil {
				s.setReachable(false, err)
			}
			s.mu.Lock()
			err = s.explainLocked(err)
			s.mu.Unlock()
			return fmt.Errorf("%w: etcd %s: %v: the change is refused", ErrStoreUnavailable, strings.Join(s.cfg.Endpoints, ","), err)
		}
		ops = ops[n:]
		s.mu.Lock()
		s.wrote = resp.Header.Revision
		s.mu.Unlock()
	}
	s.mu.Lock()
	s.prev = kv
	s.mu.Unlock()
	return s.local.Save(ctx, d)
}

// Watch sends the shared state (see Shared): a full read, then every
// change from that revision on; when etcd stops answering (a failed probe
// every second, or the watch failing) it waits, reads everything again
// when etcd is back, and goes on. A watch that stalls while etcd answers
// (watchStallAfter) or that etcd compacted past is replaced the same way,
// without reporting etcd unreachable. The new watch starts after the
// read's revision: each change is applied once, by the read or the watch.
func (s *EtcdStore) Watch(ctx context.Context, changed func(Remote)) error {
	go s.report(ctx)
	for ctx.Err() == nil {
		resp, err := s.get(ctx)
		if err != nil {
			sleep(ctx, time.Second)
			continue
		}
		changed(s.replace(resp))
		s.follow(ctx, resp.Header.Revision, changed)
	}
	return nil
}

// follow applies watch events until the watch ends, a probe fails, or
// the probe finds the watch stalled.
func (s *EtcdStore) follow(ctx context.Context, rev int64, changed func(Remote)) {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	w := s.watchClient()
	var watched atomic.Int64 // the revision the watch delivered or acknowledged
	watched.Store(rev)
	go func() { // the watch alone never says that etcd went away, or that it hangs
		var lag watchLag
		for sleep(wctx, time.Second) {
			pctx, pcancel := context.WithTimeout(wctx, s.cfg.Timeout)
			resp, err := s.client().Get(pctx, s.cfg.Prefix, clientv3.WithCountOnly())
			pcancel()
			if wctx.Err() != nil {
				return
			}
			if err != nil {
				s.setReachable(false, err)
				cancel()
				return
			}
			if lag.stalled(resp.Header.Revision, watched.Load(), time.Now()) {
				s.restarted("stalled", watched.Load(), resp.Header.Revision)
				cancel()
				return
			}
			if lag.want != 0 { // behind: an idle watch acknowledges the revision at once
				_ = w.RequestProgress(wctx)
			}
		}
	}()
	for wr := range w.Watch(wctx, s.cfg.Prefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1)) {
		if wctx.Err() != nil {
			return // ended by the probe
		}
		if wr.CompactRevision != 0 { // not an outage: read again, from now
			s.restarted("compacted", watched.Load(), wr.CompactRevision)
			return
		}
		if err := wr.Err(); err != nil {
			s.setReachable(false, err)
			return
		}
		watched.Store(max(watched.Load(), wr.Header.Revision))
		s.mu.Lock()
		if s.stalled {
			s.log.Info("etcd watch delivering again")
			s.stalled = false
		}
		layout := false // a report of a director alone changes no table
		for _, ev := range wr.Events {
			if !strings.HasPrefix(string(ev.Kv.Key), s.cfg.Prefix+etcdstore.DirectorsDir) {
				layout = true
			}
			if ev.Type == clientv3.EventTypeDelete {
				k := strings.TrimPrefix(string(ev.Kv.Key), s.cfg.Prefix)
				delete(s.remote, k)
				delete(s.invalid, k)
				delete(s.directors, strings.TrimPrefix(k, etcdstore.DirectorsDir))
				continue
			}
			s.putLocked(string(ev.Kv.Key), ev.Kv.Value, ev.Kv.Lease)
		}
		if !layout {
			s.mu.Unlock()
			continue
		}
		s.rev = wr.Header.Revision
		r := s.remoteLocked()
		s.mu.Unlock()
		changed(r)
	}
}

// sleep waits d or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// report writes directors/NAME = {"revision": N, "digest": D} under this
// director's lease (10 s, kept alive) each second the revision it is at
// changed, so every director's status shows the whole group's.
func (s *EtcdStore) report(ctx context.Context) {
	name, err := os.Hostname()
	if err != nil || name == "" {
		name = fmt.Sprintf("pid-%d", os.Getpid())
	}
	if s.Name != "" {
		name = s.Name
	}
	key := s.cfg.Prefix + etcdstore.DirectorsDir + name
	var lease clientv3.LeaseID
	var alive <-chan *clientv3.LeaseKeepAliveResponse
	wrote := int64(-1)
	for sleep(ctx, time.Second) {
		if alive != nil {
		drain:
			for {
				select {
				case _, ok := <-alive:
					if !ok { // the lease is gone: a new one, and write again
						lease, alive, wrote = 0, nil, -1
						break drain
					}
				default:
					break drain
				}
			}
		}
		st := s.StoreStatus()
		if st.Revision == wrote && lease != 0 {
			continue
		}
		tctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
		if lease == 0 {
			g, err := s.client().Grant(tctx, 10)
			if err != nil {
				cancel()
				continue
			}
			ka, err := s.client().KeepAlive(ctx, g.ID)
			if err != nil {
				cancel()
				continue
			}
			lease, alive = g.ID, ka
		}
		_, err := s.client().Put(tctx, key, mustJSON(DirectorReport{Revision: st.Revision, Digest: st.Digest}), clientv3.WithLease(lease))
		cancel()
		if err == nil {
			wrote = st.Revision
		}
	}
}
