package rtnl

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// An interrupted dump is retried with growing pauses and then reported as
// ErrInterrupted (the agent's "read again soon, not drift"), never as
// the library's raw error; any other answer ends the retries at once.
func TestRetryDumpGivesUpWithErrInterrupted(t *testing.T) {
	calls := 0
	start := time.Now()
	_, err := RetryDump(func() ([]int, error) {
		calls++
		return []int{1}, fmt.Errorf("list: %w", netlink.ErrDumpInterrupted)
	})
	if !errors.Is(err, ErrInterrupted) || calls != DumpRetries {
		t.Fatalf("err %v after %d calls, want ErrInterrupted after %d", err, calls, DumpRetries)
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Fatalf("retried for %v only: no pause between attempts", d)
	}
	calls = 0
	v, err := RetryDump(func() ([]int, error) {
		if calls++; calls < 3 {
			return nil, netlink.ErrDumpInterrupted
		}
		return []int{7}, nil
	})
	if err != nil || len(v) != 1 || calls != 3 {
		t.Fatalf("%v %v after %d calls", v, err, calls)
	}
}
