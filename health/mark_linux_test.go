package health

// Integration tier (root): SO_MARK really reaches the kernel. In a fresh
// netns, policy routing sends marked packets to a VIP-like address that has
// no route otherwise (`ip rule fwmark 0x2a lookup 100` + `local ... table
// 100`, the TPROXY recipe), so only a marked probe can reach the listener.
// The unmarked probe of the same definition is the control.

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/lvsnode/lvsnode/internal/netnstest"
	"golang.org/x/sys/unix"
)

func ip(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func TestMarkedProbeReachesWhatAnUnmarkedCannot(t *testing.T) {
	if !netnstest.Enter(t) {
		return
	}
	vip := netip.MustParseAddr("198.51.100.7")
	const mark, table = 0x2a, "100"
	ip(t, "rule", "add", "fwmark", fmt.Sprint(mark), "lookup", table, "pref", "100")
	ip(t, "route", "add", "local", vip.String()+"/32", "dev", "lo", "table", table)

	// The listener holds the VIP without it being a local address
	// (IP_TRANSPARENT), as a real server's would be reached through IPVS.
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_TRANSPARENT, 1) })
		if err != nil {
			return err
		}
		return serr
	}}
	ln, err := lc.Listen(t.Context(), "tcp", vip.String()+":80")
	if err != nil {
		t.Fatal(err)
	}
	peers := make(chan string, 16)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peers <- r.RemoteAddr
		fmt.Fprintln(w, "vip served")
	})}
	go srv.Serve(ln)
	defer srv.Close()

	src := netip.MustParseAddr("127.0.0.1")
	for _, typ := range []Type{TCP, HTTP} {
		d := Definition{Type: typ, Target: vip, Port: 80, Source: src}
		if typ == HTTP {
			d.Body = "vip served"
		}
		unmarked := check(t, d) // control: no route to the VIP without the mark
		if unmarked.OK {
			t.Fatalf("%s: unmarked probe reached the VIP: the test proves nothing", typ)
		}
		wantErr(t, unmarked, ErrConnect)
		d.Mark = mark
		if r := check(t, d); !r.OK {
			t.Fatalf("%s: marked probe: %+v", typ, r)
		}
	}
	if p := <-peers; !strings.HasPrefix(p, src.String()+":") {
		t.Fatalf("the listener saw the probe from %s, want the source %s", p, src)
	}
	// Another mark is routed like no mark: the value matters, not just "set".
	if r := check(t, Definition{Type: TCP, Target: vip, Port: 80, Mark: mark + 1}); r.OK {
		t.Fatalf("mark %#x reached the VIP routed only for %#x", mark+1, mark)
	}
}
