package controller

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/lvsnode/lvsnode/ipvs"
)

// Table is a whole IPVS table: services in order, each with its real
// servers. It is both what the kernel has (ReadTable) and what the user
// wants (ParseRules).
type Table struct {
	Services []Entry
	// ClearLine is the line of a -C in restore input (0: none). Restore
	// makes the kernel equal to the table anyway; -C only conflicts with
	// --keep-extra, which restore refuses.
	ClearLine int
	// Notes are remarks on the input for the user (ParseRules), such as a
	// bare -M number, which ipvsadm -R and restore read as 0.0.0.N.
	Notes []string
}

// Entry is one service and its real servers.
type Entry struct {
	Service ipvs.Service
	Dests   []ipvs.Destination
	// Line is the restore input line of the service's -A, and DestLines[i]
	// that of Dests[i]'s -a (ParseRules); 0 and nil for a table read from
	// the kernel. Errors name them. (A slice beside Dests, not a map: a
	// map per service made parsing a large input markedly slower.)
	Line      int
	DestLines []int
}

// destLine is the input line of Dests[i], 0 if not known.
func (e Entry) destLine(i int) int {
	if i < len(e.DestLines) {
		return e.DestLines[i]
	}
	return 0
}

// Size returns the number of services and of real servers.
func (t Table) Size() (services, dests int) {
	for _, e := range t.Services {
		dests += len(e.Dests)
	}
	return len(t.Services), dests
}

// readAttempts bounds how often ReadTable dumps the table when each dump
// turned out not to be a snapshot.
const readAttempts = 5

// ReadTable dumps the kernel table: one service dump, then one real
// server dump per service. Nothing is re-read while planning.
//
// A dump is not a snapshot: the kernel's IPVS dumps walk the table by
// position between the messages of a dump (and between the per-service
// real server dumps), and Linux 6.1 never flags them interrupted. While
// another program changes the table, an entry added before the walk's
// position shifts the rest, which then come twice; one removed makes the
// next one skipped. ReadTable sees the first (a key twice, or a dump
// flagged ipvs.ErrDumpInterrupted) and dumps again, up to readAttempts
// times; when every read was torn (a table churned without pause) it
// returns the last one with each key once, never twice, so a save never
// repeats a line. A skipped entry cannot be seen in the answer: restore
// re-plans when the kernel says a planned addition already exists, from
// a read that fetches its own services by key (readTableFor, RestoreTable);
// save and dry-run may miss it (controller/README.md,
// "Reads are not snapshots").
func ReadTable(c ipvs.Client) (Table, error) {
	var t Table
	var err error
	for range readAttempts {
		var torn bool
		if t, torn, err = readTableOnce(c); err == nil && !torn {
			return t, nil
		}
		if err != nil && !errors.Is(err, ipvs.ErrDumpInterrupted) {
			return Table{}, err
		}
	}
	if err != nil {
		return Table{}, fmt.Errorf("read the table %d times, and each time another program changed it meanwhile: %w", readAttempts, err)
	}
	return t, nil
}

// readTableFor reads the table as ReadTable does, then reads each of
// want's services the dumps did not return by its key (GET_SERVICE, not
// a positional walk, so exact even while another program churns the
// table), with its real servers. A dump can skip an entry and nothing in
// its answer says so (ReadTable); this is the read a restore plans from
// once the kernel has said its first read was stale: the services it
// means to write are then read exactly, however often the dumps tear.
func readTableFor(c ipvs.Client, want Table) (Table, error) {
	t, err := ReadTable(c)
	if err != nil {
		return Table{}, err
	}
	have := make(map[ipvs.ServiceKey]bool, len(t.Services))
	for _, e := range t.Services {
		have[e.Service.ServiceKey] = true
	}
	for _, w := range want.Services {
		k := w.Service.ServiceKey
		if have[k] {
			continue
		}
		s, err := c.Service(k)
		if errors.Is(err, ipvs.ErrNotFound) {
			continue // truly absent
		}
		if err != nil {
			return Table{}, err
		}
		ds, err := c.Destinations(k)
		if err != nil {
			return Table{}, err
		}
		ds, _ = dedup(ds, func(d ipvs.Destination) ipvs.DestKey { return d.DestKey })
		t.Services = append(t.Services, Entry{Service: s, Dests: ds})
		have[k] = true
	}
	return t, nil
}

// readTableOnce reads the table once, each key once, and reports whether
// a key came twice.
func readTableOnce(c ipvs.Client) (Table, bool, error) {
	svcs, err := c.Services()
	if err != nil {
		return Table{}, false, err
	}
	svcs, torn := dedup(svcs, func(s ipvs.Service) ipvs.ServiceKey { return s.ServiceKey })
	t := Table{Services: make([]Entry, 0, len(svcs))}
	for _, s := range svcs {
		ds, err := c.Destinations(s.ServiceKey)
		if err != nil {
			return Table{}, false, err
		}
		var tornDests bool
		ds, tornDests = dedup(ds, func(d ipvs.Destination) ipvs.DestKey { return d.DestKey })
		torn = torn || tornDests
		t.Services = append(t.Services, Entry{Service: s, Dests: ds})
	}
	return t, torn, nil
}

// dedup drops the later copies of a key that comes twice in xs, and says
// whether there were any: pairwise for the short lists most services
// have, with a map above that.
func dedup[T any, K comparable](xs []T, key func(T) K) ([]T, bool) {
	dup := false
	if len(xs) <= 16 {
		for i := 0; i < len(xs); i++ {
			for j := i + 1; j < len(xs); j++ {
				if key(xs[i]) == key(xs[j]) {
					xs = slices.Delete(xs, j, j+1)
					j--
					dup = true
				}
			}
		}
		return xs, dup
	}
	seen := make(map[K]struct{}, len(xs))
	out := xs[:0]
	for _, x := range xs {
		k := key(x)
		if _, ok := seen[k]; ok {
			dup = true
			continue
		}
		seen[k] = struct{}{}
		out = append(out, x)
	}
	return out, dup
}

// Sort orders services and real servers the way ipvsadm lists and saves
// them (libipvs ipvs_cmp_services / ipvs_cmp_dests).
func (t Table) Sort() {
	slices.SortStableFunc(t.Services, func(a, b Entry) int { return cmpService(a.Service.ServiceKey, b.Service.ServiceKey) })
	for _, e := range t.Services {
		if len(e.DestLines) != len(e.Dests) {
			slices.SortStableFunc(e.Dests, func(a, b ipvs.Destination) int { return cmpDest(a.DestKey, b.DestKey) })
			continue
		}
		type lined struct {
			d    ipvs.Destination
			line int
		}
		l := make([]lined, len(e.Dests))
		for i, d := range e.Dests {
			l[i] = lined{d, e.DestLines[i]}
		}
		slices.SortStableFunc(l, func(a, b lined) int { return cmpDest(a.d.DestKey, b.d.DestKey) })
		for i, x := range l {
			e.Dests[i], e.DestLines[i] = x.d, x.line
		}
	}
}

// cmpService mirrors libipvs: fwmark, family, protocol, address, port. The
// address words are compared by C's int subtraction of unsigned values, so
// addresses more than 2^31 apart order the way ipvsadm orders them.
func cmpService(a, b ipvs.ServiceKey) int {
	if a.FWMark != b.FWMark {
		return int(int32(a.FWMark - b.FWMark))
	}
	if fa, fb := famNum(a.Is6()), famNum(b.Is6()); fa != fb {
		return fa - fb
	}
	if a.Protocol != b.Protocol {
		return int(a.Protocol) - int(b.Protocol)
	}
	if r := cmpAddrWords(a.Addr.AsSlice(), b.Addr.AsSlice()); r != 0 {
		return r
	}
	return int(a.Port) - int(b.Port)
}

func cmpDest(a, b ipvs.DestKey) int {
	if r := cmpAddrWords(a.Addr.AsSlice(), b.Addr.AsSlice()); r != 0 {
		return r
	}
	return int(a.Port) - int(b.Port)
}

func famNum(v6 bool) int {
	if v6 {
		return 10
	}
	return 2
}

func cmpAddrWords(a, b []byte) int {
	n := min(len(a), len(b))
	for i := 0; i+4 <= n; i += 4 {
		x, y := binary.BigEndian.Uint32(a[i:]), binary.BigEndian.Uint32(b[i:])
		if r := int32(x - y); r != 0 {
			return int(r)
		}
	}
	return len(a) - len(b)
}

// sameService reports whether two services have the same settings as far
// as ipvsadm can express them. Timeout and netmask only matter for
// persistent services.
func sameService(a, b ipvs.Service) bool {
	const mask = ^ipvs.FlagHashed
	if a.Scheduler != b.Scheduler || a.Flags&mask != b.Flags&mask || a.PEName != b.PEName {
		return false
	}
	if a.Flags&ipvs.FlagPersistent != 0 {
		return a.Timeout == b.Timeout && normMask(a) == normMask(b) && mask4(a) == mask4(b)
	}
	return true
}

// mask4 is the service's IPv4 mask when it is not a prefix, else 0.
func mask4(s ipvs.Service) uint32 {
	if s.Is6() {
		return 0
	}
	return s.Mask4
}

// normMask is the service's netmask as a prefix length; 0 is /0 (IPv4
// persistence over all clients), not "unset".
func normMask(s ipvs.Service) int {
	if s.Netmask < 0 || s.Netmask > ipvs.FullMask(s.Is6()) || mask4(s) != 0 {
		return ipvs.FullMask(s.Is6())
	}
	return s.Netmask
}

// sameDest reports whether the kernel's real server cur already is want.
// The kernel reports Local for a real server that is the director itself,
// whatever method was asked, so Local matches any method. Tunnel settings
// only matter for the tunnel method, the port only for GUE.
func sameDest(cur, want ipvs.Destination) bool {
	if cur.Weight != want.Weight || cur.UpperThreshold != want.UpperThreshold || cur.LowerThreshold != want.LowerThreshold {
		return false
	}
	if cur.Forward == ipvs.Local {
		return true
	}
	if cur.Forward != want.Forward {
		return false
	}
	if cur.Forward != ipvs.Tunnel {
		return true
	}
	if cur.TunnelType != want.TunnelType {
		return false
	}
	switch cur.TunnelType {
	case ipvs.GUE:
		return cur.TunnelPort == want.TunnelPort && cur.TunnelFlags == want.TunnelFlags
	case ipvs.GRE:
		return cur.TunnelFlags == want.TunnelFlags
	}
	return true
}
