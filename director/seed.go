package director

import "context"

// fileSeeder is a shared store on which director.yaml's services only
// seed the shared state (EtcdStore.SeedFile): several directors whose
// files differ must not overwrite each other's services at every start
// and reload, flipping the table with the last one started.
type fileSeeder interface {
	// SeedFile writes file's keys that the shared state lacks (new in
	// the file since cur.Config, or all of it on a first start), never
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
// as seeds into a shared one, whose state wins (fileSeeder). Called with
// d.mu held.
func (d *Daemon) mergeFile(ctx context.Context, cur Desired, file []ServiceSpec) Desired {
	s, ok := d.o.Store.(fileSeeder)
	if !ok {
		return mergeConfig(cur, file)
	}
	next, err := s.SeedFile(ctx, cur, file)
	if err != nil {
		d.log.Warn("shared store: director.yaml's services not seeded, the last known table stays: reload (SIGHUP) once etcd answers", "err", err)
	}
	return next
}
