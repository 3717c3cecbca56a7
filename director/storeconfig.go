package director

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"

	etcdstore "github.com/lvsnode/lvsnode/store/etcd"
)

// StoreConfig is director.yaml's store: block: where the desired state
// lives. type: file (the default) keeps it in state_file, for one
// director; type: etcd shares it between the directors of a group and
// the agents that register themselves (examples/director.yaml).
type StoreConfig struct {
	Type             string `yaml:"type"` // file | etcd
	Name             string `yaml:"name"` // this director in status' store.directors (default: the host name)
	etcdstore.Config `yaml:",inline"`
	lines            lines // where each key is (for errors' file:line)
}

// Store types.
const (
	StoreFile = "file"
	StoreEtcd = "etcd"
)

// validate checks the store: block (called by Config.validate).
func (s *StoreConfig) validate(path string) error {
	switch s.Type {
	case "", StoreFile:
		s.Type = StoreFile
		if len(s.Endpoints) > 0 {
			return fmt.Errorf("%w: %s: store.endpoints is set but store.type is file: add `type: etcd`", ErrInvalid, path)
		}
	case StoreEtcd:
		if err := s.Config.Validate("store"); err != nil {
			msg := strings.TrimPrefix(err.Error(), etcdstore.ErrInvalid.Error()+": ")
			key, _, _ := strings.Cut(strings.TrimPrefix(msg, "store."), ":")
			key, _, _ = strings.Cut(key, " ")
			if l := s.lines.at(key); l > 0 {
				return fmt.Errorf("%w: %s:%d: %s", ErrInvalid, path, l, msg)
			}
			return fmt.Errorf("%w: %s: %s", ErrInvalid, path, msg)
		}
	default:
		return fmt.Errorf("%w: %s: store.type %q: want file or etcd", ErrInvalid, path, s.Type)
	}
	return nil
}

// OpenStore is the Store cfg asks for: a FileStore on state_file, or an
// EtcdStore (with state_file as its local part). Close it with
// CloseStore.
func OpenStore(cfg Config, log *slog.Logger) (Store, error) {
	if cfg.Store.Type != StoreEtcd {
		return &FileStore{Path: cfg.StateFile}, nil
	}
	s, err := NewEtcdStore(cfg.Store.Config, cfg.StateFile, log)
	if errors.Is(err, etcdstore.ErrInvalid) {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, cfg.Path, err)
	}
	if err != nil {
		return nil, err
	}
	s.Name = cfg.Store.Name
	return s, nil
}

// CloseStore releases what OpenStore opened.
func CloseStore(s Store) {
	if c, ok := s.(interface{ Close() error }); ok {
		_ = c.Close()
	}
}
