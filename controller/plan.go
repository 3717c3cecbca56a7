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
	k := c.Service.ServiceKey.String()
	var s string
	switch c.Op {
	case RemoveService:
		s = "remove service " + k
	case CreateService:
		s = "add service " + k
	case UpdateService:
		s = "edit service " + k
	case RemoveDest:
		s = fmt.Sprintf("remove real server %s from %s", c.Dest.DestKey, k)
	case CreateDest:
		s = fmt.Sprintf("add real server %s to %s", c.Dest.DestKey, k)
	case UpdateDest:
		s = fmt.Sprintf("edit real server %s of %s", c.Dest.DestKey, k)
	}
	if c.Reason != "" {
		s += " (" + c.Reason + ")"
	}
	return strings.Join(strings.Fields(s), " ")
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
	wantSet := make(map[ipvs.ServiceKey]bool, len(want.Services))
	for _, e := range want.Services {
		wantSet[e.Service.ServiceKey] = true
	}
	if !opt.KeepExtra {
		for _, e := range cur.Services {
			if !wantSet[e.Service.ServiceKey] {
				svcRemovals = append(svcRemovals, Change{Op: RemoveService, Service: e.Service, Reason: "not in the desired table"})
			}
		}
	}
	for _, w := range want.Services {
		i, ok := curIdx[w.Service.ServiceKey]
		if !ok {
			upserts = append(upserts, Change{Op: CreateService, Service: w.Service, Reason: "missing", Line: w.Line})
			for j, d := range w.Dests {
				upserts = append(upserts, Change{Op: CreateDest, Service: w.Service, Dest: d, Reason: "missing", Line: w.destLine(j)})
			}
			continue
		}
		c := cur.Services[i]
		if !sameService(c.Service, w.Service) {
			upserts = append(upserts, Change{Op: UpdateService, Service: w.Service, Reason: serviceDelta(c.Service, w.Service), Line: w.Line})
		}
		up, rm := planDests(c, w, opt)
		upserts = append(upserts, up...)
		destRemovals = append(destRemovals, rm...)
	}
	return append(append(upserts, destRemovals...), svcRemovals...)
}

// planDests returns the additions and edits of w's real servers, and apart
// the removals (which Plan puts after every addition).
func planDests(c, w Entry, opt PlanOptions) (upserts, removals []Change) {
	curD := make(map[ipvs.DestKey]ipvs.Destination, len(c.Dests))
	for _, d := range c.Dests {
		curD[d.DestKey] = d
	}
	wantD := make(map[ipvs.DestKey]bool, len(w.Dests))
	for _, d := range w.Dests {
		wantD[d.DestKey] = true
	}
	if !opt.KeepExtra {
		for _, d := range c.Dests {
			if !wantD[d.DestKey] {
				removals = append(removals, Change{Op: RemoveDest, Service: w.Service, Dest: d, Reason: "not in the desired table"})
			}
		}
	}
	for j, d := range w.Dests {
		cd, ok := curD[d.DestKey]
		switch {
		case !ok:
			upserts = append(upserts, Change{Op: CreateDest, Service: w.Service, Dest: d, Reason: "missing", Line: w.destLine(j)})
		case !sameDest(cd, d):
			upserts = append(upserts, Change{Op: UpdateDest, Service: w.Service, Dest: d, Reason: destDelta(cd, d), Line: w.destLine(j)})
		}
	}
	return upserts, removals
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
