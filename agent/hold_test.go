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

// Fault 7, the rest of the configuration: an apply with another gateway,
// tunnel type or port, or sysctl file than the daemon's is a change too.
func TestCLIChangeOfAnyHostSettingRefusedWhileHeld(t *testing.T) {
	h := newHost(t)
	state := h.agent.StateFile
	tun := modeOpts(t, "mode", "tun", "vip", "10.0.0.1", "tun-type", "gue", "tun-port", "6080")
	hd, err := TakeHold(state, HolderOf(tun, ""))
	if err != nil {
		t.Fatal(err)
	}
	defer hd.Release()
	if err := CheckHolder(state, &tun); err != nil {
		t.Fatalf("the daemon's own configuration: %v", err)
	}
	for _, c := range []struct {
		o    Options
		flag string
	}{
		{modeOpts(t, "mode", "tun", "vip", "10.0.0.1", "tun-type", "gre"), "--tun-type"},
		{modeOpts(t, "mode", "tun", "vip", "10.0.0.1", "tun-type", "gue", "tun-port", "6081"), "--tun-port"},
		{func() Options { o := tun; o.SysctlFile = "/etc/sysctl.d/99-x.conf"; return o }(), "--sysctl-file"},
	} {
		if err := CheckHolder(state, &c.o); !errors.Is(err, ErrHeld) || !strings.Contains(err.Error(), c.flag) {
			t.Errorf("%s changed: %v, want ErrHeld naming %s", c.flag, err, c.flag)
		}
	}
	hd.Release()
	nat := modeOpts(t, "mode", "nat", "gateway", "10.0.0.2")
	hd, err = TakeHold(state, HolderOf(nat, ""))
	if err != nil {
		t.Fatal(err)
	}
	other := modeOpts(t, "mode", "nat", "gateway", "10.0.0.3")
	if err := CheckHolder(state, &other); !errors.Is(err, ErrHeld) || !strings.Contains(err.Error(), "--gateway") {
		t.Errorf("gateway changed: %v, want ErrHeld naming --gateway", err)
	}
	if err := CheckHolder(state, &nat); err != nil {
		t.Errorf("the daemon's own gateway: %v", err)
	}
}
