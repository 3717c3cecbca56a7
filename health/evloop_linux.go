package health

import (
	"context"
	"errors"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// evLoop is the scheduler's event loop for TCP runs, as keepalived's
// checker works: one goroutine holds a heap of runs by their next probe
// and the connects in flight in one epoll set; it begins what is due,
// judges what completed, times out what did not. No goroutine, timer or
// channel per run or per probe: at 1,000 real servers the per-run
// goroutines woke the runtime 2-3 times per probe, and on a saturated CPU
// (the lab's) the completions waited behind new probes until they all
// timed out.
type evLoop struct {
	s       *Scheduler
	changes *changeQueue // OnChange delivered off the loop (deliver.go)
	epfd    int
	file    *os.File      // the epoll set, watched by the runtime's netpoller
	wake    chan struct{} // cap 1: the epoll set has events, or the due heap changed
	due     dueHeap       // guarded by s.mu

	// owned by the loop goroutine
	next     uint64
	inflight map[uint64]*run // probe id -> its run
	dl       dlHeap
}

func newEvLoop(s *Scheduler) (*evLoop, error) {
	l := &evLoop{s: s, wake: make(chan struct{}, 1), inflight: map[uint64]*run{}}
	epfd, f, err := watchEpoll(func(int) { l.kick() })
	if err != nil {
		return nil, err
	}
	l.epfd, l.file = epfd, f
	return l, nil
}

// run is the loop, until ctx ends.
func (l *evLoop) run(ctx context.Context) {
	defer l.s.wg.Done()
	defer l.file.Close() // ends the watcher goroutine
	defer l.closeInflight()
	var (
		events   [128]unix.EpollEvent
		dueT     Timer     // the clock's: the director's gate holds timers made before it opens
		dueArmed time.Time // what dueT is armed for
		lastFire time.Time // when dueT last fired
		dlT      = time.NewTimer(time.Hour)
		fire     bool
	)
	defer func() {
		dlT.Stop()
		if dueT != nil {
			dueT.Stop()
		}
	}()
	for ctx.Err() == nil {
		l.reap(events[:])
		l.expire(time.Now())
		if fire {
			if fire = l.startDue(l.s.clock.Now()); fire {
				continue
			}
			l.reap(events[:]) // connects that completed inline (loopback, veth)
		}
		// Sleep until the earliest due probe (on the clock), the earliest
		// timeout (real time), an epoll event or a change of the heap.
		var dueC <-chan time.Time
		l.s.mu.Lock()
		if len(l.due) > 0 {
			next := l.due[0].ev.due
			if n := lastFire.Add(wakeTick); next.Before(n) {
				next = n
			}
			if dueT == nil || !next.Equal(dueArmed) {
				if dueT != nil {
					select {
					case <-dueT.C(): // fired meanwhile: begin what is due, rather than lose it to Stop
						l.s.mu.Unlock()
						dueT, fire, lastFire = nil, true, l.s.clock.Now()
						continue
					default:
					}
					dueT.Stop()
				}
				dueT, dueArmed = l.s.clock.NewTimer(max(0, next.Sub(l.s.clock.Now()))), next
			}
			dueC = dueT.C()
		}
		l.s.mu.Unlock()
		var dlC <-chan time.Time
		if len(l.dl) > 0 {
			dlT.Reset(time.Until(l.dl[0].ev.deadline))
			dlC = dlT.C
		}
		select {
		case <-ctx.Done():
			return
		case <-dueC:
			dueT, fire, lastFire = nil, true, l.s.clock.Now()
		case <-dlC:
		case <-l.wake:
		}
		dlT.Stop()
	}
}

// reap judges every probe whose connect completed or failed.
func (l *evLoop) reap(events []unix.EpollEvent) {
	for {
		n, err := rawEpollPoll(l.epfd, events)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		for _, ev := range events[:max(0, n)] {
			l.complete(evID(ev))
		}
		if n < len(events) {
			return
		}
	}
}
