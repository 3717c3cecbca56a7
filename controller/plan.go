package controller

import (
	"fmt"
	"strings"

	"github.com/lvsnode/lvsnode/ipvs"
)

// Op is one kind of change to the IPVS table.
type Op int

// The changes a plan is made of.
const (
	RemoveService Op = iota
	CreateService
	UpdateService
	RemoveDest
	CreateDest
	UpdateDest
)

// Change is one step of a plan, with the reason it is needed.
type Change struct {
	Op      Op
	Service ipvs.Service
	Dest    ipvs.Destination
	Reason  string
	// Line is the restore input line that asks for the change (its -A or
	// -a); 0 when there is none, as for removals, which come from the
	// kernel's table.
	Line int
}

func (c Change) String() string {
	s := c.op().String() // one wording, ipvs's, for a change and its refusal
	if c.Reason != "" {
		s += " (" + c.Reason + ")"
	}
	return strings.Join(strings.Fields(s), " ")
}

// op is the change as the ipvs client applies it.
func (c Change) op() ipvs.Op {
	return ipvs.Op{Kind: opKinds[c.Op], Service: c.Service, Dest: c.Dest}
}

// PlanOptions tune Plan.
type PlanOptions struct {
	// KeepExtra leaves services and real servers that are in the kernel
	// but not in the desired table. By default they are removed, so the
	// kernel ends up equal to the desired table.
	KeepExtra bool
}

// Plan computes the changes that turn table cur into table want. It is a
// pure function: no kernel access. Additions and edits come first, then the
// removal of real servers, and services are removed last: the kernel can
// still refuse a change that parsing cannot foresee (a scheduler module
// that is missing), and a plan cut short there must leave the table with
// everything it had, never less. Applying the plan to cur and planning
// again yields no changes.
func Plan(cur, want Table, opt PlanOptions) []Change {
	var upserts, destRemovals, svcRemovals []Change
	curIdx := make(map[ipvs.ServiceKey]int, len(cur.Services))
	for i, e := range cur.Services {
		curIdx[e.Service.ServiceKey] = i
	}
	wanted := make([]bool, len(cur.Services)) // by index in cur
	for _, w := range want.Services {
		i, ok := curIdx[w.Service.ServiceKey]
		if !ok {
			upserts = append(upserts, Change{Op: CreateService, Service: w.Service, Reason: "missing", Line: w.Line})
			for j, d := range w.Dests {
				upserts = append(upserts, Change{Op: CreateDest, Service: w.Service, Dest: d, Reason: "missing", Line: w.destLine(j)})
			}
			continue
		}
		wanted[i] = true
		c := cur.Services[i]
		if !sameService(c.Service, w.Service) {
			upserts = append(upserts, Change{Op: UpdateService, Service: w.Service, Reason: serviceDelta(c.Service, w.Service), Line: w.Line})
		}
		upserts, destRemovals = planDests(upserts, destRemovals, c, w, opt)
	}
	if !opt.KeepExtra {
		for i, e := range cur.Services {
			if !wanted[i] {
				svcRemovals = append(svcRemovals, Change{Op: RemoveService, Service: e.Service, Reason: "not in the desired table"})
			}
		}
	}
	return append(append(upserts, destRemovals...), svcRemovals...)
}

// smallService is the number of real servers up to which planDests
// matches them by scanning rather than through maps: two maps per
// service cost more than the scans, and made planning a no-op restore of
// a large table slower than reading it.
const smallService = 32

// planDests appends the additions and edits of w's real servers to
// upserts, and apart the removals (which Plan puts after every addition).
func planDests(upserts, removals []Change, c, w Entry, opt PlanOptions) ([]Change, []Change) {
	inCur, inWant := newDestIndex(c.Dests), newDestIndex(w.Dests)
	if !opt.KeepExtra {
		for _, d := range c.Dests {
			if inWant.find(d.DestKey) < 0 {
				removals = append(removals, Change{Op: RemoveDest, Service: w.Service, Dest: d, Reason: "not in the desired table"})
			}
		}
	}
	for j, d := range w.Dests {
		i := inCur.find(d.DestKey)
		switch {
		case i < 0:
			upserts = append(upserts, Change{Op: CreateDest, Service: w.Service, Dest: d, Reason: "missing", Line: w.destLine(j)})
		case !sameDest(c.Dests[i], d):
			upserts = append(upserts, Change{Op: UpdateDest, Service: w.Service, Dest: d, Reason: destDelta(c.Dests[i], d), Line: w.destLine(j)})
		}
	}
	return upserts, removals
}

// destIndex finds a real server of one service by its key: by scanning
// up to smallService of them, through a map above.
type destIndex struct {
	ds []ipvs.Destination
	m  map[ipvs.DestKey]int
}

func newDestIndex(ds []ipvs.Destination) destIndex {
	x := destIndex{ds: ds}
	if len(ds) > smallService {
		x.m = make(map[ipvs.DestKey]int, len(ds))
		for i, d := range ds {
			x.m[d.DestKey] = i
		}
	}
	return x
}

// find returns the index of k, -1 if it is not there.
func (x destIndex) find(k ipvs.DestKey) int {
	if x.m != nil {
		if i, ok := x.m[k]; ok {
			return i
		}
		return -1
	}
	for i := range x.ds {
		if x.ds[i].DestKey == k {
			return i
		}
	}
	return -1
}

func serviceDelta(a, b ipvs.Service) string {
	var parts []string
	if a.Scheduler != b.Scheduler {
		parts = append(parts, fmt.Sprintf("scheduler %s -> %s", a.Scheduler, b.Scheduler))
	}
	if a.Flags != b.Flags {
		parts = append(parts, fmt.Sprintf("flags %#x -> %#x", a.Flags, b.Flags))
	}
	if a.Timeout != b.Timeout && b.Flags&ipvs.FlagPersistent != 0 {
		parts = append(parts, fmt.Sprintf("persistence %ds -> %ds", a.Timeout, b.Timeout))
	}
	if (normMask(a) != normMask(b) || mask4(a) != mask4(b)) && b.Flags&ipvs.FlagPersistent != 0 {
		parts = append(parts, fmt.Sprintf("netmask %s -> %s", maskName(a), maskName(b)))
	}
	if a.PEName != b.PEName {
		parts = append(parts, fmt.Sprintf("persistence engine %q -> %q", a.PEName, b.PEName))
	}
	return strings.Join(parts, ", ")
}

func destDelta(a, b ipvs.Destination) string {
	var parts []string
	if a.Weight != b.Weight {
		parts = append(parts, fmt.Sprintf("weight %d -> %d", a.Weight, b.Weight))
	}
	if a.Forward != b.Forward && a.Forward != ipvs.Local {
		parts = append(parts, fmt.Sprintf("method %s -> %s", a.Forward, b.Forward))
	}
	if a.UpperThreshold != b.UpperThreshold || a.LowerThreshold != b.LowerThreshold {
		parts = append(parts, fmt.Sprintf("thresholds %d/%d -> %d/%d", a.UpperThreshold, a.LowerThreshold, b.UpperThreshold, b.LowerThreshold))
	}
	if len(parts) == 0 {
		parts = append(parts, "tunnel settings")
	}
	return strings.Join(parts, ", ")
}
