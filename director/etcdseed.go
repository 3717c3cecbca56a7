package director

import (
	"context"
	"fmt"
	"sort"
	"strings"

	clientv3 "go.etcd.io/etcd/client/v3"
)

var _ fileSeeder = (*EtcdStore)(nil)

// SeedFile: see fileSeeder. Each key is created with a transaction that
// compares its create_revision to 0 (absent), so of two directors
// seeding the same key at once the first wins and the other reports it.
// A key the file had at its last merge and the shared state no longer
// has (removed through the API or by another director) is not added
// back; one the file dropped is not deleted (remove-node, etcdctl del).
func (s *EtcdStore) SeedFile(ctx context.Context, cur Desired, file []ServiceSpec) (Desired, error) {
	fileKV, curKV := encodeServices(file), encodeServices(cur.Services)
	fileSvc := map[string]string{} // file key -> its service's name
	for _, sp := range file {
		for k := range encodeServices([]ServiceSpec{sp}) {
			fileSvc[k] = serviceID(sp)
		}
	}
	var prevKV map[string]string // nil on a first start: every absent key is seeded
	if cur.Config != nil {
		prevKV = encodeServices(cur.Config)
	}
	s.mu.Lock()
	up := s.status.Reachable
	// On a first start (no state file: a new or rebuilt director) the
	// file cannot tell a key removed through the API from one never
	// written, so it seeds only services the shared state lacks whole:
	// a real server removed from a shared service stays removed.
	shared := map[string]bool{}
	if prevKV == nil {
		for _, r := range s.remote {
			shared[r.service] = true
		}
	}
	seeds, conflicts := map[string]string{}, map[string]string{}
	for k, v := range fileKV {
		r, in := s.remote[k]
		switch {
		case in && r.canon == v:
		case in:
			conflicts[k] = fmt.Sprintf("director.yaml has %s, the shared state %s: the shared value is kept", v, r.canon)
		case prevKV == nil && shared[fileSvc[k]]:
			conflicts[k] = "in director.yaml, not in the shared state, whose service exists: a first start seeds only services the shared state lacks (add-node adds it)"
		case prevKV == nil || prevKV[k] != v: // new or changed in the file
			seeds[k] = v
		case curKV[k] == v: // not in etcd yet (a move from the file store): the next Save writes it
		default:
			conflicts[k] = "in director.yaml, not in the shared state (removed through the API or by another director): not added back"
		}
	}
	for k := range prevKV {
		if _, still := fileKV[k]; !still {
			if _, in := s.remote[k]; in {
				conflicts[k] = "dropped from director.yaml, kept in the shared state: remove it with remove-node (or etcdctl del)"
			}
		}
	}
	s.mu.Unlock()
	if !up {
		return cur, fmt.Errorf("%w: etcd %s", ErrStoreUnavailable, strings.Join(s.cfg.Endpoints, ","))
	}
	keys := make([]string, 0, len(seeds))
	for k := range seeds {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	added := map[string]string{}
	for len(keys) > 0 {
		batch := keys[:min(len(keys), 50)] // 50 compares + 50 puts: under etcd's --max-txn-ops 128
		keys = keys[len(batch):]
		if ok, err := s.create(ctx, batch, seeds); err != nil {
			return cur, fmt.Errorf("%w: etcd %s: %v", ErrStoreUnavailable, strings.Join(s.cfg.Endpoints, ","), err)
		} else if ok {
			for _, k := range batch {
				added[k] = seeds[k]
			}
			continue
		}
		for _, k := range batch { // one exists already: each alone
			ok, err := s.create(ctx, []string{k}, seeds)
			switch {
			case err != nil:
				return cur, fmt.Errorf("%w: etcd %s: %v", ErrStoreUnavailable, strings.Join(s.cfg.Endpoints, ","), err)
			case ok:
				added[k] = seeds[k]
			case s.holds(k, seeds[k]):
				// created meanwhile with the file's own value (directors
				// with the same file started together): no conflict
				added[k] = seeds[k]
			default:
				conflicts[k] = "created by another director meanwhile: its value is kept"
			}
		}
	}
	for k, why := range conflicts {
		s.log.Warn("shared store: director.yaml disagrees with the shared state; not overwritten", "key", s.cfg.Prefix+k, "why", why)
	}
	s.mu.Lock()
	s.fileConflicts, s.fileKV = conflicts, fileKV
	s.mu.Unlock()
	next := cur
	next.Config = clone(file)
	if len(added) > 0 {
		next.Services = withKeys(cur.Services, added)
	}
	return next, nil
}

// create puts keys (relative, values in kv) if none exists yet, in one
// transaction; ok is false when one did. What it wrote joins the cache
// at once, so the Save that follows does not write it again; so does,
// for a single key, what another writer created there (holds).
func (s *EtcdStore) create(ctx context.Context, keys []string, kv map[string]string) (ok bool, err error) {
	var cmps []clientv3.Cmp
	var puts []clientv3.Op
	for _, k := range keys {
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(s.cfg.Prefix+k), "=", 0))
		puts = append(puts, clientv3.OpPut(s.cfg.Prefix+k, kv[k]))
	}
	tctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	txn := s.client().Txn(tctx).If(cmps...).Then(puts...)
	if len(keys) == 1 {
		txn = txn.Else(clientv3.OpGet(s.cfg.Prefix + keys[0]))
	}
	resp, err := txn.Commit()
	if err != nil {
		s.setReachable(false, err)
		return false, err
	}
	if !resp.Succeeded {
		if len(keys) == 1 { // what the other writer created, cached (holds)
			for _, kv := range resp.Responses[0].GetResponseRange().GetKvs() {
				s.mu.Lock()
				s.putLocked(string(kv.Key), kv.Value, kv.Lease)
				s.mu.Unlock()
			}
		}
		return false, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.wrote = resp.Header.Revision
	for _, k := range keys {
		s.putLocked(s.cfg.Prefix+k, []byte(kv[k]), 0)
	}
	return true, nil
}

// holds says whether the cache has relative key k at value v (canonical,
// as encodeServices writes it).
func (s *EtcdStore) holds(k, v string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.remote[k]
	return ok && r.canon == v
}

// agreesLocked says whether the shared state now agrees with the file of
// the last SeedFile on relative key k: the same value, or absent from
// both. A conflict on such a key is settled (StoreStatus leaves it out).
func (s *EtcdStore) agreesLocked(k string) bool {
	r, in := s.remote[k]
	v, inFile := s.fileKV[k]
	if !inFile {
		return !in
	}
	return in && r.canon == v
}
