package director

import (
	"context"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// watchStallAfter bounds how long the watch may lag etcd while etcd
// answers: five probe periods (the probe runs each second). A watch that
// has not delivered, by an event or a progress notification, a revision
// the probe saw that long ago is stalled (a stream that silently hangs, a
// proxy that drops it): the store reads the prefix again and watches from
// there, rather than keep an old table while reporting etcd reachable.
// An idle prefix is not a stall: the probe asks for a progress
// notification, which an idle, up-to-date watch answers at once.
const watchStallAfter = 5 * time.Second

// watcher is what the store uses of clientv3.Watcher (the client's own):
// the seam where a test makes a watch stall, or etcd compact under it.
type watcher interface {
	Watch(ctx context.Context, key string, opts ...clientv3.OpOption) clientv3.WatchChan
	// RequestProgress asks etcd for a progress notification on ctx's
	// stream: a response without events at the current revision.
	RequestProgress(ctx context.Context) error
}

var _ watcher = (*clientv3.Client)(nil)

// watchClient is the current client's watcher (wrapped by a test's seam).
func (s *EtcdStore) watchClient() watcher {
	var w watcher = s.client()
	if s.wrapWatch != nil {
		w = s.wrapWatch(w)
	}
	return w
}

// watchLag tells a stalled watch from a slow or an idle one: each
// revision the probe sees must be reached by the watch (delivered or
// acknowledged) within watchStallAfter. It follows the oldest revision
// not reached yet, so a watch kept busy behind a busy prefix, reaching
// each revision a moment after the probe saw it, is never stalled.
type watchLag struct {
	want  int64     // a revision the probe saw that the watch had not reached; 0: none
	since time.Time // when the probe saw it
}

// stalled records that the probe saw revision probe at now, while the
// watch had reached watched, and says whether the watch is stalled.
func (l *watchLag) stalled(probe, watched int64, now time.Time) bool {
	if watched >= l.want {
		l.want = 0
	}
	if l.want == 0 && watched < probe {
		l.want, l.since = probe, now
	}
	return l.want != 0 && now.Sub(l.since) >= watchStallAfter
}

// restarted counts a watch ended without etcd going away ("stalled" or
// "compacted"; Reachable is left as it is) and logs it: a stall once
// until a watch delivers again, a compaction (routine for a director
// that fell behind etcd's compaction) at info.
func (s *EtcdStore) restarted(why string, watched, rev int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if why == "compacted" {
		s.status.WatchCompactions++
		s.log.Info("etcd compacted past the watch: reading the prefix again", "watched", watched, "compacted", rev)
		return
	}
	s.status.WatchStalls++
	if !s.stalled {
		s.log.Warn("etcd watch stalled while etcd answers: reading the prefix again and watching anew",
			"watched", watched, "etcd", rev, "after", watchStallAfter)
	}
	s.stalled = true
}
