package health

import (
	"container/heap"
	"context"
	"time"
)

// errDeadline is the cause of a probe the loop timed out.
var errDeadline = context.DeadlineExceeded

// evProbe is a checker the scheduler's event loop drives without a
// goroutine: begin starts a probe (its completion an event carrying id in
// the loop's epoll set; done when the verdict is already known), end
// judges it on that event, abandon ends it unjudged (timeout, removal).
// The TCP checker on Linux is one.
type evProbe interface {
	begin(epfd int, id uint64, start time.Time) (fd int, r Result, done bool)
	end(fd int, start time.Time) Result
	abandon(fd int, start time.Time, cause error) Result
}

// evState is a run's part in the event loop.
type evState struct {
	probe    evProbe
	due      time.Time // clock time of the next probe, while queued
	dueIdx   int       // index in the due heap; -1 when not queued (s.mu)
	id       uint64    // the probe in flight (loop-owned from here on)
	fd       int
	began    time.Time // clock time the probe began (Status.Checked, Event.At)
	start    time.Time // real time it began (latency, timeout)
	deadline time.Time // real time it times out
	dlIdx    int       // index in the deadline heap
}

// dueHeap orders queued runs by their next probe (guarded by s.mu).
type dueHeap []*run

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].ev.due.Before(h[j].ev.due) }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].ev.dueIdx, h[j].ev.dueIdx = i, j
}
func (h *dueHeap) Push(x any) { r := x.(*run); r.ev.dueIdx = len(*h); *h = append(*h, r) }
func (h *dueHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	old[len(old)-1] = nil
	*h, r.ev.dueIdx = old[:len(old)-1], -1
	return r
}

// dlHeap orders the probes in flight by their timeout (loop-owned).
type dlHeap []*run

func (h dlHeap) Len() int           { return len(h) }
func (h dlHeap) Less(i, j int) bool { return h[i].ev.deadline.Before(h[j].ev.deadline) }
func (h dlHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].ev.dlIdx, h[j].ev.dlIdx = i, j
}
func (h *dlHeap) Push(x any) { r := x.(*run); r.ev.dlIdx = len(*h); *h = append(*h, r) }
func (h *dlHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return r
}

// queue schedules r's next probe at due and wakes the loop. Called with
// s.mu held.
func (l *evLoop) queue(r *run, due time.Time) {
	r.ev.due = due
	heap.Push(&l.due, r)
	l.kick()
}

// unqueue takes a removed run off the due heap; a probe of it in flight
// ends unreported (record skips gone runs). Called with s.mu held.
func (l *evLoop) unqueue(r *run) {
	if r.ev.dueIdx >= 0 {
		heap.Remove(&l.due, r.ev.dueIdx)
	}
}

func (l *evLoop) kick() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// wakeTick is the loop's timer resolution: it wakes for due probes at most
// once per tick and begins all that are due, instead of once per probe
// (1,000 real servers every second: 100 wake-ups a second, not 1,000). A
// probe begins up to a tick late; its next one stays in phase.
const wakeTick = 10 * time.Millisecond

// startBatch bounds the probes begun in a row before the loop reaps again:
// on a saturated machine, finishing the probes in flight comes before
// beginning more (or they would all time out).
const startBatch = 32

// startDue begins the probes due at now, at most startBatch; more reports
// that others are due still. A run late by more than half its interval
// (the daemon stalled, its start was gated, the machine is saturated)
// skips to its next slot in phase instead of probing late: the probes
// stay spread over the interval rather than bunching up.
func (l *evLoop) startDue(now time.Time) (more bool) {
	s := l.s
	for n := 0; ; n++ {
		s.mu.Lock()
		if len(l.due) == 0 || l.due[0].ev.due.After(now) {
			s.mu.Unlock()
			return false
		}
		if n == startBatch {
			s.mu.Unlock()
			return true
		}
		r := heap.Pop(&l.due).(*run)
		if late := now.Sub(r.ev.due); late > r.def.Interval/2 {
			r.ev.due = r.ev.due.Add((late/r.def.Interval + 1) * r.def.Interval)
			heap.Push(&l.due, r)
			s.mu.Unlock()
			continue
		}
		s.mu.Unlock()
		l.begin(r, now)
	}
}

// begin starts r's probe; a verdict known at once is recorded at once.
func (l *evLoop) begin(r *run, now time.Time) {
	l.next++
	start := time.Now()
	fd, res, done := r.ev.probe.begin(l.epfd, l.next, start)
	if done {
		l.finish(r, res, now)
		return
	}
	r.ev.id, r.ev.fd, r.ev.began, r.ev.start = l.next, fd, now, start
	r.ev.deadline = start.Add(r.def.Timeout)
	l.inflight[l.next] = r
	heap.Push(&l.dl, r)
}

// complete ends the probe in flight with id, on its epoll event.
func (l *evLoop) complete(id uint64) {
	r, ok := l.inflight[id]
	if !ok {
		return
	}
	delete(l.inflight, id)
	heap.Remove(&l.dl, r.ev.dlIdx)
	l.finish(r, r.ev.probe.end(r.ev.fd, r.ev.start), r.ev.began)
}

// expire ends the probes in flight whose timeout has passed at now.
func (l *evLoop) expire(now time.Time) {
	for len(l.dl) > 0 && !l.dl[0].ev.deadline.After(now) {
		r := heap.Pop(&l.dl).(*run)
		delete(l.inflight, r.ev.id)
		l.finish(r, r.ev.probe.abandon(r.ev.fd, r.ev.start, errDeadline), r.ev.began)
	}
}

// finish records a probe's result and queues the run's next probe, an
// interval after this one was due (in phase, whatever the loop's lateness;
// at once if the probe took longer).
func (l *evLoop) finish(r *run, res Result, began time.Time) {
	s := l.s
	s.onProbe(r.def, res)
	if ev, ok := s.record(r, res, began); ok {
		l.changes.put(ev) // not inline: an OnChange that waits would stall every check
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !r.gone {
		r.ev.due = r.ev.due.Add(r.def.Interval)
		heap.Push(&l.due, r)
	}
}

// closeInflight abandons every probe in flight (the scheduler is closing).
func (l *evLoop) closeInflight() {
	for id, r := range l.inflight {
		r.ev.probe.abandon(r.ev.fd, r.ev.start, errDeadline)
		delete(l.inflight, id)
	}
	l.dl = nil
}
