package tunnel

import (
	"errors"
	"testing"

	"github.com/vishvananda/netlink"

	"github.com/lvsnode/lvsnode/internal/rtnl"
	"github.com/lvsnode/lvsnode/loopback"
)

// The tunnel client's interrupted dumps mean what loopback's do: the agent
// tests loopback.ErrInterrupted to read again soon instead of reporting
// drift, whichever boundary gave up.
func TestInterruptedDumpIsLoopbacksErrInterrupted(t *testing.T) {
	_, err := rtnl.RetryDump(func() ([]Route, error) { return nil, netlink.ErrDumpInterrupted })
	if !errors.Is(err, loopback.ErrInterrupted) {
		t.Fatalf("%v is not loopback.ErrInterrupted", err)
	}
	if !errors.Is(ErrNoLink, loopback.ErrNoLink) {
		t.Fatal("the two clients' missing-device errors differ")
	}
}
