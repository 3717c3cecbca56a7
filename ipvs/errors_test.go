package ipvs

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"testing"
)

func TestMapErr(t *testing.T) {
	cases := []struct {
		err  error
		on   errContext
		want error
	}{
		{syscall.EPERM, onDest, ErrPermission},
		{fmt.Errorf("netlink receive: %w", syscall.ESRCH), onService, ErrNotFound},
		{syscall.EEXIST, onService, ErrExists},
		{syscall.ENOENT, onService, ErrScheduler},
		{syscall.ENOENT, onDest, ErrNotFound},
		{fmt.Errorf("genetlink: %w", fs.ErrNotExist), onConnect, ErrNoIPVS},
	}
	for _, c := range cases {
		got := mapErr("op", c.err, c.on)
		if !errors.Is(got, c.want) {
			t.Errorf("mapErr(%v, %d) = %v, want %v", c.err, c.on, got, c.want)
		}
	}
	if got := mapErr("op", syscall.EINVAL, onDest); !errors.Is(got, syscall.EINVAL) || !strings.Contains(got.Error(), "loopback down") {
		t.Errorf("EINVAL: %v", got)
	}
	if !strings.Contains(ErrNoIPVS.Error(), "modprobe ip_vs") {
		t.Errorf("ErrNoIPVS does not say how to fix it: %v", ErrNoIPVS)
	}
}
