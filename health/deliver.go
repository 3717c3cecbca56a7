package health

import "sync"

// changeQueue hands the event loop's state changes to OnChange on a
// goroutine of its own, in order: the loop runs every TCP check, and an
// OnChange that waits (the director's takes its lock, held while it saves
// its state file) must not hold back every other probe.
type changeQueue struct {
	mu     sync.Mutex
	cond   *sync.Cond
	events []Event
	closed bool
}

// startChanges starts the delivery goroutine (on s.wg: Close waits for it,
// so no OnChange runs after Close returns, events not yet delivered are
// dropped with the scheduler).
func (s *Scheduler) startChanges() *changeQueue {
	q := &changeQueue{}
	q.cond = sync.NewCond(&q.mu)
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		<-s.ctx.Done()
		q.mu.Lock()
		q.closed = true
		q.mu.Unlock()
		q.cond.Broadcast()
	}()
	go func() {
		defer s.wg.Done()
		for {
			q.mu.Lock()
			for len(q.events) == 0 && !q.closed {
				q.cond.Wait()
			}
			if q.closed {
				q.mu.Unlock()
				return
			}
			ev := q.events[0]
			q.events = q.events[1:]
			q.mu.Unlock()
			s.onChange(ev)
		}
	}()
	return q
}

// put queues ev; it never blocks on OnChange.
func (q *changeQueue) put(ev Event) {
	q.mu.Lock()
	q.events = append(q.events, ev)
	q.mu.Unlock()
	q.cond.Signal()
}
