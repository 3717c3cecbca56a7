package agent

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Fault 10 of issue 7: kill -9 between CreateTemp and rename left
// .agent-state.json.* files behind forever.
func TestStaleStateTempFilesRemovedOnNextRun(t *testing.T) {
	h := newHost(t)
	dir := filepath.Dir(h.agent.StateFile)
	base := filepath.Base(h.agent.StateFile)
	stale := filepath.Join(dir, "."+base+".123456789") // as os.CreateTemp names them
	other := filepath.Join(dir, ".someone-elses.123")
	for _, p := range []string{stale, other} {
		if err := os.WriteFile(p, []byte("{"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h.apply(t, opts(t, "10.0.0.100"))
	if _, err := os.Stat(stale); err == nil {
		t.Fatalf("%s left behind", stale)
	}
	if _, err := os.Stat(other); err != nil {
		t.Fatalf("removed a file that is not lvsnode's: %v", err)
	}
}

// Fault 10 of issue 7: a FIFO as state file hung every command.
func TestStateFileThatIsAFIFOIsRefusedAtOnce(t *testing.T) {
	h := newHost(t)
	if err := syscall.Mkfifo(h.agent.StateFile, 0o644); err != nil {
		t.Fatal(err)
	}
	o := opts(t, "10.0.0.100")
	done := make(chan error, 3)
	go func() { _, _, err := h.agent.Apply(NewPlan(o), o); done <- err }()
	go func() { _, err := h.agent.Check(NewPlan(o)); done <- err }()
	go func() { _, _, err := h.agent.Teardown(nil); done <- err }()
	for i := 0; i < 3; i++ {
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "not a regular file") {
				t.Fatalf("err = %v, want a refusal naming the non-regular file", err)
			}
		case <-time.After(2 * time.Second):
			// Unblock the reader so the test binary can exit.
			if f, err := os.OpenFile(h.agent.StateFile, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				f.Close()
			}
			t.Fatal("hung on the FIFO")
		}
	}
	if len(h.nl.Log) != 0 || len(h.sys.Writes) != 0 {
		t.Fatalf("changed the host: %v %v", h.nl.Log, h.sys.Writes)
	}
}

// A symlinked state file was replaced by a regular file on the first save,
// leaving its target stale: it is refused, with nothing changed.
func TestStateFileThatIsASymlinkIsRefused(t *testing.T) {
	h := newHost(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "real.json")
	if err := os.WriteFile(target, []byte(`{"version":1}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, h.agent.StateFile); err != nil {
		t.Fatal(err)
	}
	o := opts(t, "10.0.0.100")
	_, ch, err := h.agent.Apply(NewPlan(o), o)
	if err == nil || !strings.Contains(err.Error(), "symbolic link") || !strings.Contains(err.Error(), target) || len(ch) != 0 {
		t.Fatalf("apply through a symlink: %v %q", err, ch)
	}
	if fi, err := os.Lstat(h.agent.StateFile); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v", err)
	}
	if _, _, err := h.agent.Teardown(nil); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("teardown through a symlink: %v", err)
	}
}
