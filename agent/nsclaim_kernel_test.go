package agent

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lvsnode/lvsnode/internal/netnstest"
)

// Two agents with different state files in one namespace deleted each
// other's VIPs (each re-adopted the other's marked items, then removed
// them as stale). The second is refused, naming the first's state file,
// until the first tears down.
func TestKernelSecondStateFileInANamespaceIsRefused(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	claim, err := NSClaimPath(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a, b := kernelAgent(t), kernelAgent(t)
	b.StateFile = filepath.Join(t.TempDir(), "other.json")
	a.NSClaim, b.NSClaim = claim, claim
	oa, ob := opts(t, "10.0.0.1"), opts(t, "10.0.0.2")
	if _, _, err := a.Apply(NewPlan(oa), oa); err != nil {
		t.Fatal(err)
	}
	before := ipOut(t, "addr", "show", "dev", "lo")
	_, ch, err := b.Apply(NewPlan(ob), ob)
	if !errors.Is(err, ErrNSOwned) || !strings.Contains(err.Error(), a.StateFile) || len(ch) != 0 {
		t.Fatalf("second state file: %v %q, want ErrNSOwned naming %s", err, ch, a.StateFile)
	}
	t.Logf("refused: %v", err)
	if _, _, err := b.Teardown(nil); !errors.Is(err, ErrNSOwned) {
		t.Fatalf("teardown by the second state file: %v, want ErrNSOwned", err)
	}
	if err := b.CheckNS(); !errors.Is(err, ErrNSOwned) {
		t.Fatalf("CheckNS: %v", err)
	}
	if after := ipOut(t, "addr", "show", "dev", "lo"); after != before {
		t.Fatalf("lo changed:\n%s\nwas:\n%s", after, before)
	}
	if _, _, err := a.Teardown(nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := b.Apply(NewPlan(ob), ob); err != nil {
		t.Fatalf("after the first tore down: %v", err)
	}
}

// With a state file present, a marked item it does not list is not taken
// (and so not deleted as stale): it may be another state file's.
func TestKernelMarkedItemNotAdoptedWhenAStateFileExists(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	a, b := kernelAgent(t), kernelAgent(t)
	b.StateFile = filepath.Join(t.TempDir(), "other.json")
	oa, ob := opts(t, "10.0.0.1"), opts(t, "10.0.0.1", "10.0.0.2")
	if _, _, err := a.Apply(NewPlan(oa), oa); err != nil {
		t.Fatal(err)
	}
	// No claims here: b (its state new) takes 10.0.0.1 over and adds 10.0.0.2.
	if _, _, err := b.Apply(NewPlan(ob), ob); err != nil {
		t.Fatal(err)
	}
	if _, ch, err := a.Apply(NewPlan(oa), oa); err != nil || len(ch) != 0 {
		t.Fatalf("re-apply of the first: %v %q", err, ch)
	}
	if !strings.Contains(ipOut(t, "addr", "show", "dev", "lo"), "10.0.0.2/32") {
		t.Fatal("the other state file's VIP was deleted")
	}
}
