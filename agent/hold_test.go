package agent

import (
	"errors"
	"strings"
	"testing"
)

// Fault 7 of issue 7: with `agent run` keeping set A, `agent apply --vip B`
// printed "verified" and exited 0, and the daemon reverted it within
// 100 ms; teardown likewise. While a daemon holds the state file, a CLI
// change is refused naming it.
func TestCLIChangeRefusedWhileADaemonHoldsTheHost(t *testing.T) {
	h := newHost(t)
	a, b := opts(t, "10.0.0.1"), opts(t, "10.0.0.2")
	state := h.agent.StateFile
	if err := CheckHolder(state, &b); err != nil {
		t.Fatalf("no daemon yet: %v", err)
	}
	hd, err := TakeHold(state, Holder{PID: 4242, Config: "/etc/lvsnode/agent.yaml", Mode: a.Mode, VIPs: a.VIPs})
	if err != nil {
		t.Fatal(err)
	}
	err = CheckHolder(state, &b)
	if !errors.Is(err, ErrHeld) || !strings.Contains(err.Error(), "pid 4242") || !strings.Contains(err.Error(), "/etc/lvsnode/agent.yaml") {
		t.Fatalf("apply of another set: %v, want ErrHeld naming pid and config", err)
	}
	if err := CheckHolder(state, nil); !errors.Is(err, ErrHeld) {
		t.Fatalf("teardown: %v, want ErrHeld", err)
	}
	if err := CheckHolder(state, &a); err != nil {
		t.Fatalf("apply of the daemon's own set (idempotent): %v", err)
	}
	if _, err := TakeHold(state, Holder{PID: 1}); !errors.Is(err, ErrHeld) || !strings.Contains(err.Error(), "pid 4242") {
		t.Fatalf("a second daemon: %v", err)
	}
	hd.Release()
	if err := CheckHolder(state, &b); err != nil {
		t.Fatalf("after the daemon is gone: %v", err)
	}
}
