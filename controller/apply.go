package controller

import (
	"errors"
	"fmt"
	"strings"

	"github.com/lvsnode/lvsnode/ipvs"
)

// Report says what became of each change of a plan, in plan order: Errs[i]
// is nil when the kernel acknowledged Changes[i] (it took effect), wraps
// ipvs.ErrNotSent when it was not sent, ipvs.ErrUnknownOutcome when its
// answer was lost, and is the kernel's refusal otherwise.
type Report struct {
	Changes []Change
	Errs    []error
}

// Applied counts the changes that took effect.
func (r Report) Applied() int {
	n := 0
	for _, err := range r.Errs {
		if err == nil {
			n++
		}
	}
	return n
}

// counts returns how many changes were refused, not sent, of unknown outcome.
func (r Report) counts() (refused, notSent, unknown int) {
	for _, err := range r.Errs {
		switch {
		case err == nil:
		case errors.Is(err, ipvs.ErrNotSent):
			notSent++
		case errors.Is(err, ipvs.ErrUnknownOutcome):
			unknown++
		default:
			refused++
		}
	}
	return
}

// Lines describes every change with its outcome, one line each:
// "applied: ...", "refused: line 3: ...", "not sent: ...", "unknown: ...".
func (r Report) Lines() []string {
	out := make([]string, 0, len(r.Changes))
	for i, ch := range r.Changes {
		err := r.Errs[i]
		switch {
		case err == nil:
			out = append(out, "applied: "+ch.String())
		case errors.Is(err, ipvs.ErrNotSent):
			out = append(out, "not sent: "+ch.String())
		case errors.Is(err, ipvs.ErrUnknownOutcome):
			out = append(out, "outcome unknown: "+ch.String())
		default:
			out = append(out, "refused: "+lineOf(ch)+err.Error())
		}
	}
	return out
}

func lineOf(ch Change) string {
	if ch.Line > 0 {
		return fmt.Sprintf("line %d: ", ch.Line)
	}
	return ""
}

// staleRead reports whether every failure in r is the kernel saying the
// table was not what the plan was made from: an addition that already
// exists, or a service or real server to change or remove that does not.
// A table read while another program changes it can miss such an entry
// (ReadTable); the remedy is to read again and plan anew, not to fail.
func (r Report) staleRead() bool {
	stale := false
	for i, err := range r.Errs {
		switch op := r.Changes[i].Op; {
		case err == nil, errors.Is(err, ipvs.ErrNotSent):
		case errors.Is(err, ipvs.ErrNotFound), (op == CreateService || op == CreateDest) && errors.Is(err, ipvs.ErrExists):
			stale = true
		default:
			return false
		}
	}
	return stale
}

// Err summarises the report on one line, nil when every change took
// effect: how many did, then the first failure (with its input line),
// then how many others failed and how.
func (r Report) Err() error {
	first := -1
	for i, err := range r.Errs {
		if err != nil {
			first = i
			break
		}
	}
	if first < 0 {
		return nil
	}
	refused, notSent, unknown := r.counts()
	var more []string
	for _, c := range []struct {
		n    int
		what string
	}{{refused, "refused"}, {unknown, "of unknown outcome"}, {notSent, "not sent"}} {
		if c.n > 0 {
			more = append(more, fmt.Sprintf("%d %s", c.n, c.what))
		}
	}
	return fmt.Errorf("applied %d of %d changes, then: %s%w (in all: %s)",
		r.Applied(), len(r.Changes), lineOf(r.Changes[first]), r.Errs[first], strings.Join(more, ", "))
}

// Apply carries out a plan in two phases: first every addition and edit,
// then, only when the kernel acknowledged every one of them, the removals.
// The kernel handles every message of a batch even after refusing one, so
// putting removals after additions in one batch would not protect them:
// only the round trip between the phases does. A refusal, or a change
// whose outcome is unknown, stops Apply: a table cut short keeps
// everything it had (plus what was added), never less. The report says
// what became of each change; its Err is Apply's error.
func Apply(c ipvs.Client, plan []Change) (Report, error) {
	r := Report{Changes: plan, Errs: make([]error, len(plan))}
	var upserts, removals []int
	for i, ch := range plan {
		if ch.Op == RemoveService || ch.Op == RemoveDest {
			removals = append(removals, i)
		} else {
			upserts = append(upserts, i)
		}
	}
	ok := applyPhase(c, plan, upserts, r.Errs)
	if ok {
		applyPhase(c, plan, removals, r.Errs)
	} else {
		for _, i := range removals {
			r.Errs[i] = fmt.Errorf("%s: %w (removals wait until every addition and edit is acknowledged)", plan[i], ipvs.ErrNotSent)
		}
	}
	return r, r.Err()
}

// applyPhase applies plan[idx...] in one Apply and records the outcomes;
// it reports whether every one took effect.
func applyPhase(c ipvs.Client, plan []Change, idx []int, errs []error) bool {
	if len(idx) == 0 {
		return true
	}
	ops := make([]ipvs.Op, len(idx))
	for j, i := range idx {
		ops[j] = plan[i].op()
	}
	ok := true
	for j, err := range c.Apply(ops) {
		errs[idx[j]] = err
		ok = ok && err == nil
	}
	return ok
}

var opKinds = map[Op]ipvs.OpKind{
	RemoveService: ipvs.OpRemoveService, CreateService: ipvs.OpCreateService, UpdateService: ipvs.OpUpdateService,
	RemoveDest: ipvs.OpRemoveDest, CreateDest: ipvs.OpCreateDest, UpdateDest: ipvs.OpUpdateDest,
}

// reportCutShort prints, after a plan stopped part-way, what became of
// each change, then reads the table again and prints what still differs
// from want (or why it could not be read).
func (c *Controller) reportCutShort(r Report, want Table, o PlanOptions) {
	for _, l := range r.Lines() {
		c.say("%s", l)
	}
	cur, err := ReadTable(c.IPVS)
	if err != nil {
		c.say("could not read the table again to show what still differs: %v", err)
		return
	}
	left := Plan(cur, want, o)
	c.say("the table read again still differs from the input by %d changes:", len(left))
	for _, ch := range left {
		c.say("  to %s", ch)
	}
}
