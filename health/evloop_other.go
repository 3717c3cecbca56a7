//go:build !linux

package health

import (
	"context"
	"errors"
)

// evLoop: no event loop elsewhere than Linux; every run has its goroutine.
type evLoop struct {
	s       *Scheduler
	changes *changeQueue
	epfd    int
	next    uint64
	wake    chan struct{}
	due     dueHeap
	dl      dlHeap

	inflight map[uint64]*run
}

func newEvLoop(*Scheduler) (*evLoop, error) { return nil, errors.New("no event loop on this system") }

func (l *evLoop) run(context.Context) {}
