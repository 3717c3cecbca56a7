package controller

import (
	"os"
	"strings"
	"testing"

	"github.com/lvsnode/lvsnode/internal/netnstest"
)

// Each network namespace has its own IPVS table and so its own lock: a
// command in another namespace does not wait for this one's (the review
// saw one /run/lvsnode/controller.lock shared by all).
func TestLockPathPerNetns(t *testing.T) {
	const env = "LVSNODE_TEST_PARENT_LOCK"
	if os.Getenv(env) == "" {
		t.Setenv(env, LockPath())
	}
	if !netnstest.Enter(t) {
		return
	}
	parent, here := os.Getenv(env), LockPath()
	if here == parent || !strings.HasPrefix(here, LockDir+"/controller.") {
		t.Errorf("lock in a fresh netns %s, in the parent's %s: want two paths", here, parent)
	}
}
