package main

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/controller"
	"github.com/lvsnode/lvsnode/ipvs"
)

func init() {
	// Unit tests never touch /run/lvsnode.
	dir, err := os.MkdirTemp("", "lvsnode-lock")
	if err != nil {
		panic(err)
	}
	ctlLockPath = filepath.Join(dir, "controller.lock")
}

// Commands that change the table wait for the lock and fail with a clear
// message when it stays taken; reads do not wait for it.
func TestControllerCLILock(t *testing.T) {
	holdLock(t)
	f := ipvs.NewFake()
	out, rc := ctlRun(t, f, "add-node", "-t", "10.0.0.100:80", "-r", "10.0.0.11")
	if rc != 1 || !strings.Contains(out, "waiting for another lvsnode controller command to finish (pid ") ||
		!strings.Contains(out, "another lvsnode controller command is changing the IPVS table (pid ") || len(f.Log) != 0 {
		t.Errorf("add-node while locked: rc %d, changes %q:\n%s", rc, f.Log, out)
	}
	if out, rc := ctlRun(t, f, "list"); rc != 0 {
		t.Errorf("list while locked: rc %d %s", rc, out)
	}
}

// drain-node holds the lock only while it changes the table: during its
// wait another command (here an add-node on another service, run from the
// fake's poll hook) takes the lock at once; the final removal reads the
// real server again, so a weight set back above 0 meanwhile is kept.
// timeouts without values only reads and never waits for the lock.
func TestControllerCLIDrainLocksOnlyItsChanges(t *testing.T) {
	svc := ipvs.ServiceKey{Protocol: ipvs.TCP, Addr: netip.MustParseAddr("10.0.0.100"), Port: 80}
	rs := ipvs.DestKey{Addr: netip.MustParseAddr("10.0.0.11"), Port: 80}
	for _, undo := range []bool{false, true} {
		f := ipvs.NewFake()
		if out, rc := ctlRun(t, f, "add-node", "-t", "10.0.0.100:80", "-r", "10.0.0.11"); rc != 0 {
			t.Fatal(out)
		}
		f.SetCounters(svc, rs, 1, 0, ipvs.Stats{})
		polls, lockedDuringWait, inOther := 0, 0, false
		f.BeforeList = func(f *ipvs.Fake) {
			if inOther || !slices.ContainsFunc(f.Log, func(s string) bool { return strings.HasPrefix(s, "update-dest") }) || polls >= 2 {
				return // finding the target, or the final read
			}
			polls++
			l, err := controller.AcquireLock(ctlLockPath, 0, nil)
			if err != nil {
				lockedDuringWait++
				return
			}
			inOther = true
			defer func() { inOther = false }()
			other := &controller.Controller{IPVS: f}
			if err := other.AddNode(mustSpec(t, "-t", "10.0.0.100:81", "-r", "10.0.0.12")); err != nil {
				t.Error(err)
			}
			if undo && polls == 1 {
				if err := other.EditNode(mustSpec(t, "-t", "10.0.0.100:80", "-r", "10.0.0.11", "-w", "3")); err != nil {
					t.Error(err)
				}
			}
			l.Unlock()
			if polls == 2 {
				f.SetCounters(svc, rs, 0, 0, ipvs.Stats{})
			}
		}
		out, rc := ctlRun(t, f, "drain-node", "-t", "10.0.0.100:80", "-r", "10.0.0.11", "--interval", "1ms", "--timeout", "1s")
		if lockedDuringWait > 0 {
			t.Errorf("undo=%v: the lock was held during %d of the drain's waits:\n%s", undo, lockedDuringWait, out)
		}
		save, _ := ctlRun(t, f, "save")
		if !undo && (rc != 0 || strings.Contains(save, "10.0.0.11")) {
			t.Errorf("drain: rc %d\n%s\nafter:\n%s", rc, out, save)
		}
		if undo && (rc != 1 || !strings.Contains(out, "weight set above 0 by another command") ||
			!strings.Contains(save, "-a -t 10.0.0.100:80 -r 10.0.0.11:80 -g -w 3")) {
			t.Errorf("drain undone by an edit-node: rc %d\n%s\nafter:\n%s", rc, out, save)
		}
	}
	holdLock(t)
	if out, rc := ctlRun(t, ipvs.NewFake(), "timeouts"); rc != 0 || strings.Contains(out, "waiting") {
		t.Errorf("timeouts (show) while locked: rc %d %s", rc, out)
	}
	if out, rc := ctlRun(t, ipvs.NewFake(), "timeouts", "--udp", "60"); rc != 1 {
		t.Errorf("timeouts --udp 60 while locked: rc %d %s", rc, out)
	}
}

func mustSpec(t *testing.T, args ...string) controller.Spec {
	t.Helper()
	var f controller.Flags
	for i := 0; i+1 < len(args); i += 2 {
		switch args[i] {
		case "-t":
			f.TCP = args[i+1]
		case "-r":
			f.Real = args[i+1]
		case "-w":
			f.Weight = args[i+1]
		}
	}
	s, err := controller.Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// holdLock takes the lock as another command would, until the test ends,
// and makes commands wait for it only 100 ms.
func holdLock(t *testing.T) {
	t.Helper()
	l, err := controller.AcquireLock(ctlLockPath, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	old := ctlLockWait
	ctlLockWait = 100 * time.Millisecond
	t.Cleanup(func() { ctlLockWait = old; l.Unlock() })
}
