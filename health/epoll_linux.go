package health

import (
	"errors"
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// connPoller waits for the nonblocking connects of every TCP probe of the
// process with one epoll set and one goroutine, as keepalived's event loop
// does, instead of one registration in Go's netpoller (and the net.Conn,
// poll.FD and context around it) per probe.
//
// The epoll set is itself registered in Go's netpoller (os.NewFile on the
// nonblocking epoll fd), so the goroutine sleeps in the runtime's own
// epoll_wait rather than holding a thread in a blocking syscall: with one
// CPU (the lab's VM) a blocked thread would cost a handoff per wake-up.
type connPoller struct {
	epfd int

	mu      sync.Mutex
	next    uint64
	waiting map[uint64]chan<- uint32 // probe id -> its done channel (cap 1)
}

var (
	pollerOnce sync.Once
	poller     *connPoller
	pollerErr  error
)

// sharedPoller returns the process's poller, starting it on first use.
func sharedPoller() (*connPoller, error) {
	pollerOnce.Do(func() { poller, pollerErr = newConnPoller() })
	return poller, pollerErr
}

func newConnPoller() (*connPoller, error) {
	p := &connPoller{waiting: map[uint64]chan<- uint32{}}
	var events [128]unix.EpollEvent
	epfd, _, err := watchEpoll(func(epfd int) {
		for {
			n, err := rawEpollPoll(epfd, events[:])
			if errors.Is(err, unix.EINTR) {
				continue
			}
			if n <= 0 {
				return // drained: wait for the set to be readable again
			}
			p.mu.Lock()
			for _, ev := range events[:n] {
				if done, ok := p.waiting[evID(ev)]; ok {
					delete(p.waiting, evID(ev))
					done <- ev.Events // cap 1, one send per registration: never blocks
				}
			}
			p.mu.Unlock()
		}
	})
	p.epfd = epfd
	return p, err
}

// watchEpoll creates an epoll set and a goroutine that calls ready each
// time the set becomes readable (edge-triggered: ready must drain it, or
// leave it to someone who will). The set is registered in the runtime's
// netpoller (os.NewFile on the nonblocking epoll fd), so the goroutine
// sleeps in the runtime's own epoll_wait, not in a thread of its own.
// Closing the returned file ends the goroutine.
func watchEpoll(ready func(epfd int)) (int, *os.File, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return -1, nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		return -1, nil, fmt.Errorf("epoll fd nonblocking: %w", err)
	}
	f := os.NewFile(uintptr(epfd), "health-connect-epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return -1, nil, fmt.Errorf("epoll fd: %w", err)
	}
	go rc.Read(func(fd uintptr) bool { // returns once f is closed
		ready(int(fd))
		return false // wait for the next edge
	})
	return epfd, f, nil
}

// evID is the registration id an event carries (epoll_event.data).
func evID(ev unix.EpollEvent) uint64 { return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32 }

// add waits for fd to become writable (connected) or to fail; done gets
// the event mask once, unless cancel takes the registration back first.
// The returned id, not the fd number, names the registration, so an event
// for an fd closed and reused meanwhile reaches no one.
func (p *connPoller) add(fd int, done chan<- uint32) (uint64, error) {
	p.mu.Lock()
	p.next++
	id := p.next
	p.waiting[id] = done
	p.mu.Unlock()
	if err := epollAdd(p.epfd, fd, id); err != nil {
		p.cancel(id)
		return 0, err
	}
	return id, nil
}

// cancel takes back registration id; it reports false when the event was
// already delivered (then it is in the done channel and must be drained).
// The caller closes the fd afterwards, which removes it from the set.
func (p *connPoller) cancel(id uint64) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.waiting[id]; !ok {
		return false
	}
	delete(p.waiting, id)
	return true
}

// epollAdd waits, once, for the connect on fd to complete or fail; the
// event carries id.
func epollAdd(epfd, fd int, id uint64) error {
	ev := unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLONESHOT, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
	return rawEpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &ev)
}
