package director

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// The daemon serves the runtime API beside its reconcile loop (serve.go
// starts registered services after the first reconcile).
func init() { RegisterService(serveAPI) }

// serveAPI runs the API of cfg.API until ctx ends, then drains requests in
// flight for up to 5 s. A listener that cannot open (another daemon on the
// socket, a TCP listener without a usable token) stops the daemon.
func serveAPI(ctx context.Context, rt Runtime, cfg Config) error {
	log := slog.Default()
	if d, ok := rt.(*Daemon); ok && d.log != nil {
		log = d.log
	}
	s, err := NewAPIServer(rt, APIOptions{
		Socket: cfg.API.Socket, TCP: cfg.API.Listen, TokenFile: cfg.API.TokenFile,
		TLSCert: cfg.API.TLSCert, TLSKey: cfg.API.TLSKey,
		Logf: func(format string, a ...any) { log.Error("runtime API", "err", fmt.Sprintf(format, a...)) },
	})
	if err != nil {
		return err
	}
	log.Info("runtime API", "socket", s.SocketPath(), "tcp", cfg.API.Listen)
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	select {
	case err := <-done:
		s.Close()
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(sctx)
		<-done
		return nil
	}
}
