package director

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/lvsnode/lvsnode/systemd"
)

// Hooks other files of the package register at init (director/metrics.go
// and director/api*.go), so the daemon serves them without knowing them.
var (
	hookMu         sync.Mutex
	metricsFactory func(Runtime) (http.Handler, Observer)
	services       []func(ctx context.Context, rt Runtime, cfg Config) error
)

// RegisterMetrics sets the builder of the /metrics handler and of the
// Observer the daemon reports probes and reconciles to.
func RegisterMetrics(f func(Runtime) (http.Handler, Observer)) {
	hookMu.Lock()
	defer hookMu.Unlock()
	metricsFactory = f
}

// RegisterService adds a server run beside the daemon (the runtime API):
// it is started after the first reconcile, must return when ctx ends, and
// a non-nil error stops the daemon.
func RegisterService(f func(ctx context.Context, rt Runtime, cfg Config) error) {
	hookMu.Lock()
	defer hookMu.Unlock()
	services = append(services, f)
}

// Serve runs the daemon until ctx ends or SIGTERM/SIGINT: the first
// reconcile, READY=1, the metrics listener, the registered services,
// SIGHUP reloads of path, the watchdog and STATUS=. It returns nil on a
// clean stop.
func Serve(ctx context.Context, path string, cfg Config, o Options) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	d := New(cfg, o)
	hookMu.Lock()
	mf, pf, svcs := metricsFactory, pageFactory, append([]func(context.Context, Runtime, Config) error(nil), services...)
	hookMu.Unlock()
	var handler http.Handler = http.NotFoundHandler()
	if mf != nil {
		var obs Observer
		handler, obs = mf(d)
		d.o.Metrics = obs
	}
	var page http.Handler // the status page at "/" (director/page.go)
	if pf != nil {
		var err error
		if page, err = pf(d, cfg); err != nil {
			return fmt.Errorf("status page: %w", err)
		}
	}
	// A daemon already answering on the API socket is found before this
	// one changes anything (the socket's lock still settles a race at
	// listen time).
	if cfg.API.Socket != "none" {
		if err := clearStale(cfg.API.Socket); err != nil {
			return err
		}
	}
	ln, err := net.Listen("tcp", cfg.Metrics)
	if err != nil {
		return fmt.Errorf("metrics listener %s: %w", cfg.Metrics, err)
	}
	if err := d.Start(ctx); err != nil {
		ln.Close()
		d.Close()
		return err
	}
	defer d.Close()
	mux := http.NewServeMux()
	mux.Handle("/metrics", handler)
	if page != nil {
		mux.Handle("/", page)
	}
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		ok, why := d.Ready()
		if ok {
			fmt.Fprintln(w, "ready")
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not ready: "+why)
	})
	srv := &http.Server{Handler: guardMetrics(cfg, mux), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	defer srv.Close()

	errc := make(chan error, len(svcs)+1)
	running := len(svcs) + 1
	for _, f := range svcs {
		go func() { errc <- f(ctx, d, cfg) }()
	}
	go func() { errc <- d.Run(ctx) }()
	// On the way out, the services (the API answering its requests in
	// flight) and the loop get up to 10 s to finish.
	defer func() {
		t := time.NewTimer(10 * time.Second)
		defer t.Stop()
		for ; running > 0; running-- {
			select {
			case <-errc:
			case <-t.C:
				return
			}
		}
	}()

	_ = d.o.Notify.Notify(systemd.Ready(d.statusLine()))
	var wd <-chan time.Time
	if iv := systemd.WatchdogInterval(); iv > 0 {
		t := time.NewTicker(iv)
		defer t.Stop()
		wd = t.C
	}
	status := time.NewTicker(5 * time.Second)
	defer status.Stop()
	for {
		select {
		case <-ctx.Done():
			_ = d.o.Notify.Notify(systemd.Stopping())
			return nil
		case err := <-errc:
			running--
			if err != nil && !errors.Is(err, context.Canceled) {
				stop() // the others end with ctx
				return err
			}
		case <-hup:
			_ = d.o.Notify.Notify(systemd.Reloading())
			next, err := LoadConfig(path)
			if err == nil {
				err = d.Reload(ctx, next)
			}
			if err != nil {
				d.log.Error("reload refused, the running config stays", "err", err)
				_ = d.o.Notify.Notify(systemd.Ready("reload refused: " + err.Error()))
				continue
			}
			d.log.Info("reloaded", "config", path)
			_ = d.o.Notify.Notify(systemd.Ready(d.statusLine()))
		case <-wd:
			// A reconcile may wait lock_wait for the table lock and then
			// take a while; one stuck beyond that and a whole watchdog
			// period gets no ping: systemd restarts the daemon.
			if took := d.hung(time.Duration(d.config().LockWait) + 2*systemd.WatchdogInterval()); took > 0 {
				d.log.Error("reconcile loop stuck: no watchdog ping", "for", took.Round(time.Millisecond))
				continue
			}
			_ = d.o.Notify.Notify(systemd.Watchdog())
		case <-status.C:
			_ = d.o.Notify.Notify(systemd.Status(d.statusLine()))
		}
	}
}

// statusLine is the STATUS= text: services, real servers, how many up,
// draining, and the last reconcile error.
func (d *Daemon) statusLine() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.model == nil {
		return "starting"
	}
	nodes, up, draining := 0, 0, 0
	for id, n := range d.model.nodes {
		nodes++
		st := d.desired.Nodes[id]
		if p := place(n, st); p.present && p.weight > 0 {
			up++
		}
		if st.Drain == DrainDraining {
			draining++
		}
	}
	s := fmt.Sprintf("%d services, %d real servers (%d serving, %d draining)", len(d.model.services), nodes, up, draining)
	if d.lastErr != nil {
		s += "; last reconcile failed: " + d.lastErr.Error()
	}
	return s + d.syncs.note()
}
