package etcdtest

import (
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
)

// Proxy is a TCP relay to an etcd that a test can cut (as a partition:
// this client loses etcd while others still reach it) and restore.
type Proxy struct {
	Endpoint string // http://127.0.0.1:PORT, what the cut-off client dials
	tb       testing.TB
	addr     string
	backend  string
	mu       sync.Mutex
	ln       net.Listener
	conns    map[net.Conn]bool
}

// NewProxy relays to s's client port until the test ends.
func NewProxy(tb testing.TB, s *Server) *Proxy {
	p := &Proxy{tb: tb, backend: s.Endpoint[len("http://"):], conns: map[net.Conn]bool{}}
	p.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(tb)))
	p.Endpoint = "http://" + p.addr
	p.Restore()
	tb.Cleanup(p.Cut)
	return p
}

// Cut closes the listener and every relayed connection.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

// Restore listens again on the same port.
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		return
	}
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.tb.Fatal(err)
	}
	p.ln = ln
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", p.backend)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			if p.ln != ln { // cut meanwhile
				p.mu.Unlock()
				c.Close()
				b.Close()
				return
			}
			p.conns[c], p.conns[b] = true, true
			p.mu.Unlock()
			go func() { io.Copy(b, c); b.Close() }()
			go func() { io.Copy(c, b); c.Close() }()
		}
	}()
}
