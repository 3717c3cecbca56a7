package director

import (
	"context"
	"fmt"
)

// Reload applies a re-read config (SIGHUP): the services the file changed
// since the last merge (mergeFile: into a shared store, only the keys it
// lacks), the drain defaults, resync and
// sysctls. A reload that changes state_file, metrics or lock_file is
// refused whole (they are bound at start: restart for them); so is one
// whose services do not compile. On error nothing changed.
func (d *Daemon) Reload(ctx context.Context, cfg Config) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.cfg
	for _, f := range []struct{ name, a, b string }{
		{"state_file", old.StateFile, cfg.StateFile}, {"metrics", old.Metrics, cfg.Metrics}, {"lock_file", old.LockFile, cfg.LockFile},
		{"datapath.marks", old.DataPath.Marks, cfg.DataPath.Marks},
		// the API's listeners open at start, with the files they read
		{"api.socket", old.API.Socket, cfg.API.Socket}, {"api.listen", old.API.Listen, cfg.API.Listen},
		{"api.token_file", old.API.TokenFile, cfg.API.TokenFile},
		{"api.tls_cert", old.API.TLSCert, cfg.API.TLSCert}, {"api.tls_key", old.API.TLSKey, cfg.API.TLSKey},
	} {
		if f.a != f.b {
			return fmt.Errorf("%w: %s: %s changed (%q -> %q): restart the daemon for it; nothing reloaded", ErrInvalid, cfg.Path, f.name, f.a, f.b)
		}
	}
	if err := d.checkSyncLink(cfg); err != nil {
		return err
	}
	next := d.mergeFile(ctx, copyDesired(d.desired), cfg.Services)
	if !same(next.Services, d.desired.Services) {
		next.Generation++
	}
	d.cfg = cfg
	if err := d.install(ctx, next, false); err != nil {
		d.cfg = old
		return cfg.wrap(err)
	}
	d.kick() // a reload reconciles the whole table
	return nil
}
