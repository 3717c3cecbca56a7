package main

import (
	"os/exec"
	"syscall"
	"testing"
)

// commandAs runs lvsnode as uid (no capabilities), for privilege checks.
func commandAs(t *testing.T, uid uint32, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(lvsnodeBin(t), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	return cmd
}
