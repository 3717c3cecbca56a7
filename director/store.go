package director

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// Store keeps the desired state (and the runtime state the daemon must
// remember) across restarts. The reconcile loop knows nothing else about
// it: a shared store (etcd, issue 12) replaces FileStore without touching
// it. Load of a store that was never saved returns an empty Desired and no
// error; Save is atomic (a crash leaves the old or the new state, never a
// mix) and durable when it returns.
type Store interface {
	Load(ctx context.Context) (Desired, error)
	Save(ctx context.Context, d Desired) error
}

var (
	_ Store = (*FileStore)(nil)
	_ Store = (*MemStore)(nil)
)

// FileStore is a Store in one JSON file, written to a temporary file in
// the same directory, fsynced, then renamed over the old one.
type FileStore struct {
	Path string
	enc  specEncoder
}

func (f *FileStore) Load(context.Context) (Desired, error) {
	b, err := os.ReadFile(f.Path)
	if errors.Is(err, os.ErrNotExist) {
		return Desired{}, nil
	}
	if err != nil {
		return Desired{}, fmt.Errorf("state file %s: %w", f.Path, err)
	}
	var d Desired
	if err := json.Unmarshal(b, &d); err != nil {
		return Desired{}, fmt.Errorf("%w: state file %s: %v (move it away to start from the config alone)", ErrInvalid, f.Path, err)
	}
	return d, nil
}

func (f *FileStore) Save(_ context.Context, d Desired) error {
	// Compact, not indented: every runtime change saves the whole state
	// before it is answered, and with 1,000 services indenting doubled
	// the encoding's time (jq shows it indented).
	b, err := f.enc.encode(d)
	if err != nil {
		return err
	}
	dir := filepath.Dir(f.Path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("state file %s: %w", f.Path, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(f.Path)+".*")
	if err != nil {
		return fmt.Errorf("state file %s: %w", f.Path, err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if _, err = tmp.Write(append(b, '\n')); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), f.Path)
	}
	if err == nil { // the rename itself survives a crash once the directory is synced
		if dh, derr := os.Open(dir); derr == nil {
			_ = dh.Sync()
			dh.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("state file %s: %w", f.Path, err)
	}
	return nil
}

// MemStore is a Store in memory, for tests; it keeps a JSON copy so that
// what is loaded is what a file would give back.
type MemStore struct {
	mu    sync.Mutex
	b     []byte
	enc   specEncoder
	Saves int
}

func (m *MemStore) Load(context.Context) (Desired, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var d Desired
	if m.b == nil {
		return d, nil
	}
	err := json.Unmarshal(m.b, &d)
	return d, err
}

func (m *MemStore) Save(_ context.Context, d Desired) error {
	b, err := m.enc.encode(d)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.b, m.Saves = b, m.Saves+1
	return nil
}
