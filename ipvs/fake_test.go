package ipvs

import (
	"errors"
	"testing"
)

// The Fake batches as the kernel client does: a refusal does not stop the
// rest of its batch (as on the kernel: lab/scenarios/controller-phased.sh),
// only the batches after it.
func TestFakeBatchGoesOnAfterRefusal(t *testing.T) {
	f := NewFake()
	ops := make([]Op, BatchSize+10)
	for i := range ops {
		ops[i] = CreateServiceOp(Service{ServiceKey: ServiceKey{FWMark: uint32(i + 1)}, Scheduler: "rr"})
	}
	ops[1].Service.Scheduler = "nope"
	errs := f.Apply(ops)
	if !errors.Is(errs[1], ErrScheduler) || errs[0] != nil || errs[2] != nil || errs[BatchSize-1] != nil {
		t.Errorf("first batch: %v %v %v %v", errs[0], errs[1], errs[2], errs[BatchSize-1])
	}
	for _, err := range errs[BatchSize:] {
		if !errors.Is(err, ErrNotSent) {
			t.Fatalf("second batch: %v", err)
		}
	}
	if svcs, _ := f.Services(); len(svcs) != BatchSize-1 || f.Batches != 1 {
		t.Errorf("%d services in %d batches, want %d in 1", len(svcs), f.Batches, BatchSize-1)
	}
}
