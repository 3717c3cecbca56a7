package ipvs

import (
	"fmt"
	"slices"
)

// Fake is an in-memory Client with the kernel's error contract, for tests
// that run without root or IPVS. Its Apply batches as the kernel client
// does and, like the kernel, carries on with the rest of a batch after
// refusing a change (lab/scenarios/controller-phased.sh shows the kernel
// doing so). Its zero value is not ready: use NewFake.
type Fake struct {
	// Log records every change made ("create-service TCP 10.0.0.100:80",
	// ...) in order; reads and refused changes are not logged. Tests
	// count changes with it.
	Log []string
	// Fail, when set, is consulted before each change; a non-nil error is
	// the kernel refusing it (to test partial failures).
	Fail func(op string) error
	// Lose, when set, is consulted after each change of Apply: true loses
	// the answers from that change to the end of its batch, as a full
	// receive buffer would (ENOBUFS): the changes are made (or refused)
	// but Apply reports their outcome unknown.
	//
	// Not proven against the kernel: that netlink_rcv_skb goes on
	// processing a batch whose acks it cannot queue (netlink_ack drops
	// them and the socket reports ENOBUFS) is read from the kernel source,
	// not shown in the lab. Showing it needs a client with a receive buffer
	// small enough to overflow, which lvsnode (4 MiB, SO_RCVBUFFORCE) never
	// has; lab/run builds and copies only the lvsnode binary, and a test
	// hook in product code is not wanted. The controller relies on it only
	// to stop and report "outcome unknown", which is safe whichever way
	// the kernel behaves.
	Lose func(op string) bool
	// Batches counts the batches Apply sent (system calls, on the kernel).
	Batches int
	// BeforeList, when set, runs at the start of every Destinations call;
	// drain tests use it to let connections finish.
	BeforeList func(f *Fake)
	// Schedulers the fake kernel "has"; others fail with ErrScheduler.
	Schedulers []string
	// PEs are the persistence engines it has (the kernel: ip_vs_pe_sip);
	// others fail with ErrScheduler, as the kernel answers ENOENT to both.
	PEs []string

	order    []ServiceKey
	svcs     map[ServiceKey]*fakeService
	timeouts Timeouts
	links    map[string]int // interface name -> MTU (SetLink)
	linkIdx  map[string]int // interface name -> index (fake_daemon.go: a re-created link gets a new one)
	nextLink int
	daemons  map[uint32]Daemon // running sync daemons by role
}

type fakeService struct {
	svc   Service
	order []DestKey
	dests map[DestKey]Destination
}

var _ Client = (*Fake)(nil)

// NewFake returns an empty fake table knowing every scheduler, with the
// kernel's default timeouts, interfaces lo and eth0 (MTU 1500; SetLink
// adds others) and no sync daemon.
func NewFake() *Fake {
	return &Fake{
		Schedulers: Linux61Schedulers,
		PEs:        []string{"sip"},
		svcs:       map[ServiceKey]*fakeService{},
		timeouts:   Timeouts{TCP: 900, TCPFin: 120, UDP: 300},
		links:      map[string]int{"lo": 65536, "eth0": 1500},
	}
}

func (f *Fake) change(op string, subject fmt.Stringer) error {
	entry := op + " " + subject.String()
	if f.Fail != nil {
		if err := f.Fail(entry); err != nil {
			return err
		}
	}
	f.Log = append(f.Log, entry)
	return nil
}

func (f *Fake) Info() (Info, error) { return Info{Version: [3]int{1, 2, 1}, TableSize: 4096}, nil }

func (f *Fake) Services() ([]Service, error) {
	out := make([]Service, 0, len(f.order))
	for _, k := range f.order {
		out = append(out, f.svcs[k].svc)
	}
	return out, nil
}

func (f *Fake) Service(k ServiceKey) (Service, error) {
	s, ok := f.svcs[k]
	if !ok {
		return Service{}, fmt.Errorf("read service %s: %w", k, ErrNotFound) // the kernel's ESRCH
	}
	return s.svc, nil
}

func (f *Fake) Destinations(k ServiceKey) ([]Destination, error) {
	if f.BeforeList != nil {
		f.BeforeList(f)
	}
	s, ok := f.svcs[k]
	if !ok {
		return nil, nil // the kernel answers an empty dump
	}
	out := make([]Destination, 0, len(s.order))
	for _, d := range s.order {
		out = append(out, s.dests[d])
	}
	return out, nil
}

func (f *Fake) checkScheduler(s Service) error {
	if !slices.Contains(f.Schedulers, s.Scheduler) {
		return fmt.Errorf("service %s: %q: %w", s.ServiceKey, s.Scheduler, ErrScheduler)
	}
	if s.PEName != "" && !slices.Contains(f.PEs, s.PEName) {
		return fmt.Errorf("service %s: persistence engine %q: %w", s.ServiceKey, s.PEName, ErrScheduler)
	}
	return nil
}

func (f *Fake) createService(s Service) error {
	if _, ok := f.svcs[s.ServiceKey]; ok {
		return fmt.Errorf("add service %s: %w", s.ServiceKey, ErrExists)
	}
	if err := f.checkScheduler(s); err != nil {
		return err
	}
	if err := f.change("create-service", s.ServiceKey); err != nil {
		return err
	}
	s.Flags &^= FlagHashed
	s.Stats = Stats{}
	f.svcs[s.ServiceKey] = &fakeService{svc: s, dests: map[DestKey]Destination{}}
	f.order = append(f.order, s.ServiceKey)
	return nil
}

func (f *Fake) updateService(s Service) error {
	cur, ok := f.svcs[s.ServiceKey]
	if !ok {
		return fmt.Errorf("edit service %s: %w", s.ServiceKey, ErrNotFound)
	}
	if err := f.checkScheduler(s); err != nil {
		return err
	}
	if err := f.change("update-service", s.ServiceKey); err != nil {
		return err
	}
	s.Stats = cur.svc.Stats
	s.Flags &^= FlagHashed
	cur.svc = s
	return nil
}

func (f *Fake) removeService(k ServiceKey) error {
	if _, ok := f.svcs[k]; !ok {
		return fmt.Errorf("remove service %s: %w", k, ErrNotFound)
	}
	if err := f.change("remove-service", k); err != nil {
		return err
	}
	delete(f.svcs, k)
	f.order = slices.DeleteFunc(f.order, func(x ServiceKey) bool { return x == k })
	return nil
}

func (f *Fake) destCheck(d Destination) error {
	if d.LowerThreshold > d.UpperThreshold {
		return fmt.Errorf("real server %s: lower threshold above upper (ERANGE)", d.DestKey)
	}
	if d.Forward == Tunnel && d.TunnelType == GUE && d.TunnelPort == 0 {
		return fmt.Errorf("real server %s: gue tunnel without port (EINVAL)", d.DestKey)
	}
	return nil
}

func (f *Fake) createDest(k ServiceKey, d Destination) error {
	s, ok := f.svcs[k]
	if !ok {
		return fmt.Errorf("add real server %s to %s: %w", d.DestKey, k, ErrNotFound)
	}
	if err := f.syncMixedCheck(fmt.Sprintf("add real server %s to %s", d.DestKey, k), k, d.DestKey); err != nil {
		return err
	}
	if err := CheckDestAddr(d.Addr); err != nil { // the kernel's EINVAL
		return fmt.Errorf("add real server %s to %s: %w", d.DestKey, k, err)
	}
	if _, ok := s.dests[d.DestKey]; ok {
		return fmt.Errorf("add real server %s to %s: %w", d.DestKey, k, ErrExists)
	}
	if err := f.destCheck(d); err != nil {
		return err
	}
	if err := f.change("create-dest "+k.String(), d.DestKey); err != nil {
		return err
	}
	d.ActiveConns, d.InactiveConns, d.PersistentConns, d.Stats = 0, 0, 0, Stats{}
	s.dests[d.DestKey] = d
	// The kernel lists a service's real servers newest first (it adds
	// to the head of svc->destinations; seen in the lab with --nosort).
	s.order = append([]DestKey{d.DestKey}, s.order...)
	return nil
}

func (f *Fake) updateDest(k ServiceKey, d Destination) error {
	s, ok := f.svcs[k]
	if !ok {
		return fmt.Errorf("edit real server %s of %s: %w", d.DestKey, k, ErrNotFound)
	}
	if err := f.syncMixedCheck(fmt.Sprintf("edit real server %s of %s", d.DestKey, k), k, d.DestKey); err != nil {
		return err
	}
	cur, ok := s.dests[d.DestKey]
	if !ok {
		return fmt.Errorf("edit real server %s of %s: %w", d.DestKey, k, ErrNotFound)
	}
	if err := f.destCheck(d); err != nil {
		return err
	}
	if err := f.change("update-dest "+k.String(), d.DestKey); err != nil {
		return err
	}
	d.ActiveConns, d.InactiveConns, d.PersistentConns, d.Stats = cur.ActiveConns, cur.InactiveConns, cur.PersistentConns, cur.Stats
	s.dests[d.DestKey] = d
	return nil
}

func (f *Fake) removeDest(k ServiceKey, d DestKey) error {
	s, ok := f.svcs[k]
	if !ok {
		return fmt.Errorf("remove real server %s from %s: %w", d, k, ErrNotFound)
	}
	if _, ok := s.dests[d]; !ok {
		return fmt.Errorf("remove real server %s from %s: %w", d, k, ErrNotFound)
	}
	if err := f.change("remove-dest "+k.String(), d); err != nil {
		return err
	}
	delete(s.dests, d)
	s.order = slices.DeleteFunc(s.order, func(x DestKey) bool { return x == d })
	return nil
}

// Apply implements Client.Apply as the kernel client does: BatchSize
// changes per batch, every change of a batch handled even after a refusal,
// and no batch after one with a refusal or a lost answer.
func (f *Fake) Apply(ops []Op) []error {
	errs := make([]error, len(ops))
	stop := ""
	for start := 0; start < len(ops); start += BatchSize {
		end := min(start+BatchSize, len(ops))
		if stop != "" {
			for i := start; i < len(ops); i++ {
				errs[i] = notSent(ops[i], stop)
			}
			break
		}
		f.Batches++
		lost := false
		for i := start; i < end; i++ {
			err := f.apply1(ops[i])
			if err != nil {
				stop = "an earlier batch had a refusal"
			}
			if !lost && f.Lose != nil && f.Lose(ops[i].String()) {
				lost = true
			}
			if lost {
				err = fmt.Errorf("%s: %w: the kernel got it, but reading its answer failed (fake)", ops[i], ErrUnknownOutcome)
				stop = "an earlier change's outcome is unknown"
			}
			errs[i] = err
		}
	}
	return errs
}

func (f *Fake) apply1(op Op) error {
	k := op.Service.ServiceKey
	switch op.Kind {
	case OpCreateService:
		return f.createService(op.Service)
	case OpUpdateService:
		return f.updateService(op.Service)
	case OpRemoveService:
		return f.removeService(k)
	case OpCreateDest:
		return f.createDest(k, op.Dest)
	case OpUpdateDest:
		return f.updateDest(k, op.Dest)
	}
	return f.removeDest(k, op.Dest.DestKey)
}

type label string

func (l label) String() string { return string(l) }

func (f *Fake) Flush() error {
	if err := f.change("flush", label("all")); err != nil {
		return err
	}
	f.order, f.svcs = nil, map[ServiceKey]*fakeService{}
	return nil
}

func (f *Fake) Zero(k *ServiceKey) error {
	for key, s := range f.svcs {
		if k != nil && key != *k {
			continue
		}
		s.svc.Stats = Stats{}
		for dk, d := range s.dests {
			d.Stats = Stats{}
			s.dests[dk] = d
		}
	}
	if k != nil {
		if _, ok := f.svcs[*k]; !ok {
			return fmt.Errorf("zero counters of %s: %w", *k, ErrNotFound)
		}
		return f.change("zero", *k)
	}
	return f.change("zero", label("all"))
}

func (f *Fake) Timeouts() (Timeouts, error) { return f.timeouts, nil }

func (f *Fake) SetTimeouts(t Timeouts) error {
	if err := f.change("set-timeouts", label(fmt.Sprint(t))); err != nil {
		return err
	}
	if t.TCP != 0 {
		f.timeouts.TCP = t.TCP
	}
	if t.TCPFin != 0 {
		f.timeouts.TCPFin = t.TCPFin
	}
	if t.UDP != 0 {
		f.timeouts.UDP = t.UDP
	}
	return nil
}

func (f *Fake) Close() error { return nil }

// SetCounters sets the connection counters and stats of a real server, as
// traffic would. It panics if the service or real server does not exist.
func (f *Fake) SetCounters(k ServiceKey, d DestKey, active, inactive uint32, st Stats) {
	s := f.svcs[k]
	dest := s.dests[d]
	dest.ActiveConns, dest.InactiveConns, dest.Stats = active, inactive, st
	s.dests[d] = dest
}

// SetServiceStats sets the counters of a service.
func (f *Fake) SetServiceStats(k ServiceKey, st Stats) { f.svcs[k].svc.Stats = st }

// SetPersistConns sets the number of persistence templates that point at
// a real server (PersistConn), as returning clients would. It panics if
// the service or real server does not exist.
func (f *Fake) SetPersistConns(k ServiceKey, d DestKey, n uint32) {
	s := f.svcs[k]
	dest := s.dests[d]
	dest.PersistentConns = n
	s.dests[d] = dest
}
