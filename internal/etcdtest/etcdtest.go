// Package etcdtest starts a real etcd (Debian's etcd-server) on loopback
// for integration tests, in a temporary data directory.
//
// A test that needs it skips when the etcd binary is absent, except under
// LVSNODE_REQUIRE_ETCD_TESTS=1 (CI, .ci/run), where it fails instead: CI
// must run these tests, not skip them.
package etcdtest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Server is one etcd member on 127.0.0.1.
type Server struct {
	Endpoint string // http://127.0.0.1:PORT
	tb       testing.TB
	bin      string
	dir      string
	client   int
	peer     int
	cmd      *exec.Cmd
	done     chan struct{}
}

// Binary is where etcd is, or "" (skip or fail, see the package doc).
func Binary() string {
	if p, err := exec.LookPath("etcd"); err == nil {
		return p
	}
	return ""
}

// Require skips (or, under LVSNODE_REQUIRE_ETCD_TESTS=1, fails) when the
// etcd binary is absent, and returns its path.
func Require(tb testing.TB) string {
	tb.Helper()
	bin := Binary()
	if bin != "" {
		return bin
	}
	msg := "needs etcd (Debian: apt-get install etcd-server) on PATH to run a real etcd on loopback"
	if os.Getenv("LVSNODE_REQUIRE_ETCD_TESTS") == "1" {
		tb.Fatal(msg + " (LVSNODE_REQUIRE_ETCD_TESTS=1 forbids skipping)")
	}
	tb.Skip(msg)
	return ""
}

// Start runs an etcd for the test and stops it at cleanup.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return StartIn(tb, tb.TempDir())
}

// StartIn is Start with its data in dir (a benchmark gives a tmpfs, so
// that the disk's fsync latency, shared with whatever else runs, is not
// what it measures).
func StartIn(tb testing.TB, dir string) *Server {
	tb.Helper()
	s := &Server{tb: tb, bin: Require(tb), dir: dir, client: freePort(tb), peer: freePort(tb)}
	s.Endpoint = fmt.Sprintf("http://127.0.0.1:%d", s.client)
	s.Start()
	tb.Cleanup(s.Stop)
	return s
}

// Start (re)starts the member on the same ports and data, and waits
// until it answers. A member that exits at once is started again (up to 3
// times): on a loaded host a restart right after a SIGKILL can find its
// port still held, or taken by a test's freePort meanwhile.
func (s *Server) Start() {
	s.tb.Helper()
	for try := 1; ; try++ {
		err := s.start()
		if err == nil {
			return
		}
		if try == 3 {
			s.tb.Fatal(err)
		}
		s.tb.Logf("etcd start %d: %v; again", try, err)
		time.Sleep(time.Second)
	}
}

func (s *Server) start() error {
	if s.cmd != nil {
		return nil
	}
	peer := fmt.Sprintf("http://127.0.0.1:%d", s.peer)
	cmd := exec.Command(s.bin, "--name", "t", "--data-dir", filepath.Join(s.dir, "data"),
		"--listen-client-urls", s.Endpoint, "--advertise-client-urls", s.Endpoint,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "t="+peer, "--log-level", "error")
	log, err := os.OpenFile(filepath.Join(s.dir, "etcd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		s.tb.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("etcd: %v", err)
	}
	log.Close()
	s.cmd, s.done = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(s.done) }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		req, _ := http.NewRequestWithContext(ctx, "GET", s.Endpoint+"/health", nil)
		resp, err := http.DefaultClient.Do(req)
		cancel()
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		select {
		case <-s.done:
			b, _ := os.ReadFile(filepath.Join(s.dir, "etcd.log"))
			s.cmd = nil
			return fmt.Errorf("etcd exited at start (%v):\n%s", cmd.ProcessState, b)
		case <-time.After(100 * time.Millisecond):
		}
	}
	s.Stop()
	return fmt.Errorf("etcd did not answer %s/health within 20 s", s.Endpoint)
}

// Stop kills the member (SIGKILL: as a crash or a lost host); Start
// brings it back with its data.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

func freePort(tb testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
