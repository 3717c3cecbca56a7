package director

import "context"

// fileSeeder is a shared store on which director.yaml's services only
// seed the shared state (EtcdStore.SeedFile): several directors whose
// files differ must not overwrite each other's services at every start
// and reload, flipping the table with the last one started.
type fileSeeder interface {
	// SeedFile writes file's keys that the shared state lacks (new in
	// the file since cur.Config; on a first start, the keys of services
	// the shared state lacks whole), never
	// one that exists, and returns cur with them and Config = file. Keys
	// where file and the shared state disagree are reported (status
	// store.file_conflicts, lvsnode_store_file_conflicts, a warning).
	// When the store cannot be written it returns cur unchanged (its
	// Config too: the next reload seeds again) and an error wrapping
	// ErrStoreUnavailable.
	SeedFile(ctx context.Context, cur Desired, file []ServiceSpec) (Desired, error)
}

// mergeFile merges the config file's services into cur at start and
// reload: three ways (mergeConfig) into a store of this director's own;
// as seeds into a shared one, whose state wins (fileSeeder). A seed the
// store refused (etcd down) is left pending: seedPending does it once
// the store answers. Called with d.mu held.
func (d *Daemon) mergeFile(ctx context.Context, cur Desired, file []ServiceSpec) Desired {
	s, ok := d.o.Store.(fileSeeder)
	if !ok {
		return mergeConfig(cur, file)
	}
	next, err := s.SeedFile(ctx, cur, file)
	d.unseeded = err != nil
	if err != nil {
		d.log.Warn("shared store: director.yaml's services not seeded yet, the last known table stays: seeded once etcd answers", "err", err)
	}
	return next
}

// seedPending seeds director.yaml's services when the last start or
// reload could not (etcd was down): Follow calls it at each state the
// store delivers, which it only does once etcd answers. Before, a group
// booted together with etcd, its directors up first, served an empty
// table until someone sent each a SIGHUP.
func (d *Daemon) seedPending(ctx context.Context) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.unseeded {
		return
	}
	next := d.mergeFile(ctx, copyDesired(d.desired), d.cfg.Services)
	if d.unseeded {
		return // not yet: the next state delivered tries again
	}
	if !same(next.Services, d.desired.Services) {
		next.Generation++
	}
	if err := d.install(ctx, next, false); err != nil {
		d.log.Error("shared store: director.yaml's services seeded, but the state is refused", "err", err)
		return
	}
	d.log.Info("shared store: director.yaml's services seeded now that etcd answers")
	d.kick()
}
