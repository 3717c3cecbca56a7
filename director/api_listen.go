package director

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// ErrAPIInUse: another process answers on the API socket (a second daemon,
// or the first one still running). The new daemon refuses to start rather
// than steal the socket from under it.
var ErrAPIInUse = errors.New("another director answers on the API socket")

// ErrToken: the bearer token file is missing, empty, or readable by every
// user, or a TCP listener was asked for without one.
var ErrToken = errors.New("API token")

// listenUnix binds path for root only (mode 0600) without a moment where it
// is reachable with looser permissions, and refuses when a daemon already
// answers there. A stale socket (nothing accepts on it: the last daemon was
// killed) is replaced; anything that is not a socket is left alone and
// refused. The parent directory is created 0755 if missing and refused if
// other users may write to it (they could swap the socket).
//
// It also takes an exclusive lock on path+".lock" for as long as the
// returned lock file stays open: two daemons starting at once would
// otherwise both find the socket stale and the second would replace the
// first's.
func listenUnix(path string) (*net.UnixListener, *os.File, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, fmt.Errorf("API socket %s: %w", path, err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("API socket %s: %w", path, err)
	}
	if st.Mode().Perm()&0o022 != 0 {
		return nil, nil, fmt.Errorf("API socket %s: directory %s is writable by others (mode %04o): refusing", path, dir, st.Mode().Perm())
	}
	lock, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("API socket %s: %w", path, err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, nil, fmt.Errorf("%w: %s is locked by another process (%s.lock)", ErrAPIInUse, path, path)
	}
	l, err := bindPrivate(path)
	if err != nil {
		lock.Close()
		return nil, nil, err
	}
	return l, lock, nil
}

// bindPrivate binds a root-only socket and renames it over path.
func bindPrivate(path string) (*net.UnixListener, error) {
	dir := filepath.Dir(path)
	if err := clearStale(path); err != nil {
		return nil, err
	}
	// Bind in a private directory, set the mode, then rename into place:
	// connect(2) needs search permission on the directory, so nobody but
	// root reaches the socket before it is 0600, and the rename is atomic.
	tmp, err := os.MkdirTemp(dir, ".director-sock-")
	if err != nil {
		return nil, fmt.Errorf("API socket %s: %w", path, err)
	}
	defer os.RemoveAll(tmp)
	tpath := filepath.Join(tmp, "s")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: tpath, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("API socket %s: %w", path, err)
	}
	l.SetUnlinkOnClose(false) // the bound name moves; Close of the server removes path
	if err := os.Chmod(tpath, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("API socket %s: %w", path, err)
	}
	if err := os.Rename(tpath, path); err != nil {
		l.Close()
		return nil, fmt.Errorf("API socket %s: %w", path, err)
	}
	return l, nil
}

// clearStale checks that path may be replaced: absent, or a socket nobody
// accepts on (stale). It fails with ErrAPIInUse when a process answers, and
// refuses a path that is not a socket.
func clearStale(path string) error {
	st, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("API socket %s: %w", path, err)
	}
	if st.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("API socket %s: exists and is not a socket (%s): refusing to remove it", path, st.Mode().Type())
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("%w: %s (stop it first, or give this one another --api-socket)", ErrAPIInUse, path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("API socket %s: cannot tell whether a daemon answers: %w", path, err)
	}
	return nil // stale: the rename in bindPrivate replaces it atomically
}

// readToken reads a bearer token file: its first line, surrounding space
// trimmed. The file must not be readable by every user (mode o+r): a token
// anyone on the host can read protects nothing.
func readToken(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w file %s: %w", ErrToken, path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w file %s: %w", ErrToken, path, err)
	}
	if st.Mode().Perm()&0o004 != 0 {
		return nil, fmt.Errorf("%w file %s is readable by every user (mode %04o): chmod o-r it", ErrToken, path, st.Mode().Perm())
	}
	b := make([]byte, 4097)
	n, _ := f.Read(b)
	if n > 4096 {
		return nil, fmt.Errorf("%w file %s: longer than 4096 bytes", ErrToken, path)
	}
	b = b[:n]
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	b = bytes.TrimSpace(b)
	if len(b) < 16 {
		return nil, fmt.Errorf("%w file %s: the token is %d bytes; want at least 16 (e.g. head -c 32 /dev/urandom | base64)", ErrToken, path, len(b))
	}
	return b, nil
}

// listenTCP opens the optional TCP listener. Without TLS it is allowed on
// loopback addresses only: the bearer token would otherwise cross the
// network in clear.
func listenTCP(addr string, tlsConf *tls.Config) (net.Listener, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: API TCP address %q: want IP:PORT ([IPv6]:PORT)", ErrInvalid, addr)
	}
	if tlsConf == nil && !ap.Addr().IsLoopback() {
		return nil, fmt.Errorf("%w: API TCP address %s is not loopback: give a TLS certificate and key, or listen on 127.0.0.1/::1", ErrInvalid, addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("API TCP listener %s: %w", addr, err)
	}
	if tlsConf != nil {
		l = tls.NewListener(l, tlsConf)
	}
	return l, nil
}

// check validates the api: block before the daemon changes anything: a
// TCP listener needs a usable token file (not world-readable, 16 bytes or
// more), TLS needs both PEM files and they must load, and without TLS only
// a loopback address is allowed. The files are read again when the
// listener opens (a SIGHUP'd config takes effect at the next start).
func (a APIConfig) check() error {
	if a.Listen == "" {
		if a.TokenFile != "" || a.TLSCert != "" || a.TLSKey != "" {
			return errors.New("api.token_file, api.tls_cert and api.tls_key are for api.listen, which is not set")
		}
		return nil
	}
	ap, err := netip.ParseAddrPort(a.Listen)
	if err != nil {
		return fmt.Errorf("api.listen %q: want IP:PORT ([IPv6]:PORT)", a.Listen)
	}
	if a.TokenFile == "" {
		return fmt.Errorf("api.listen %s without api.token_file: a TCP listener is refused without a bearer token", a.Listen)
	}
	if _, err := readToken(a.TokenFile); err != nil {
		return fmt.Errorf("api.token_file: %v", err)
	}
	if (a.TLSCert == "") != (a.TLSKey == "") {
		return errors.New("api.tls_cert and api.tls_key: give both, or neither")
	}
	if a.TLSCert == "" {
		if !ap.Addr().IsLoopback() {
			return fmt.Errorf("api.listen %s is not loopback: give api.tls_cert and api.tls_key, or listen on 127.0.0.1 or [::1]", a.Listen)
		}
		return nil
	}
	if _, err := tls.LoadX509KeyPair(a.TLSCert, a.TLSKey); err != nil {
		return fmt.Errorf("api.tls_cert/api.tls_key: %v", err)
	}
	return nil
}
