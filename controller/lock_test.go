package controller

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The lock excludes another holder (here another process, as two
// controller commands are), says who holds it while waiting, and is free
// again once released.
func TestLockSerialises(t *testing.T) {
	if os.Getenv("LVSNODE_LOCK_HELPER") != "" {
		l, err := AcquireLock(os.Getenv("LVSNODE_LOCK_HELPER"), time.Second, nil)
		if err != nil {
			os.Exit(3)
		}
		os.Stdout.WriteString("locked\n")
		time.Sleep(time.Hour) // killed by the test
		l.Unlock()
		return
	}
	path := filepath.Join(t.TempDir(), "run", "controller.lock")
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockSerialises$")
	cmd.Env = append(os.Environ(), "LVSNODE_LOCK_HELPER="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	buf := make([]byte, 7)
	if _, err := out.Read(buf); err != nil || string(buf) != "locked\n" {
		t.Fatalf("helper: %q %v", buf, err)
	}
	var said []string
	_, err = AcquireLock(path, 200*time.Millisecond, func(s string) { said = append(said, s) })
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "pid ") {
		t.Fatalf("second holder: %v", err)
	}
	if len(said) != 1 || !strings.HasPrefix(said[0], "waiting for another lvsnode controller command to finish (pid ") {
		t.Errorf("waiting message: %q", said)
	}
	cmd.Process.Kill()
	cmd.Wait()
	l, err := AcquireLock(path, time.Second, nil)
	if err != nil {
		t.Fatalf("after the holder died: %v", err)
	}
	l.Unlock()
}
