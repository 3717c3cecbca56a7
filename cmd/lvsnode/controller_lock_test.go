package main

import (
	"os"
	"path/filepath"
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
	l, err := controller.AcquireLock(ctlLockPath, time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Unlock()
	old := ctlLockWait
	ctlLockWait = 100 * time.Millisecond
	defer func() { ctlLockWait = old }()
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
