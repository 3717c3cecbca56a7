package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/lvsnode/lvsnode/agent"
	"github.com/lvsnode/lvsnode/internal/capability"
	"github.com/lvsnode/lvsnode/systemd"
)

// statusOptions uses the given VIPs or config; without either, the VIPs
// recorded by the last apply, so a bare `lvsnode agent status` just works.
func statusOptions(c *cli.Context) (agent.Options, error) {
	if c.IsSet("vip") || c.IsSet("config") {
		return options(c)
	}
	cfg, err := loadConfig(c)
	if err != nil {
		return agent.Options{}, badInput(err)
	}
	if cfg.StateFile == "" {
		cfg.StateFile = agent.DefaultStateFile
	}
	st, err := agent.LoadState(cfg.StateFile)
	if err != nil {
		if errors.Is(err, agent.ErrNoState) {
			return agent.Options{}, noStateError{err}
		}
		return agent.Options{}, err
	}
	cfg.Mode = agent.Value{S: string(st.Desired.Mode), Where: cfg.StateFile}
	for _, v := range st.Desired.VIPs {
		cfg.VIPs = append(cfg.VIPs, agent.Value{S: v.String(), Where: cfg.StateFile})
	}
	for _, i := range st.Desired.Interfaces {
		cfg.Interfaces = append(cfg.Interfaces, agent.Value{S: i, Where: cfg.StateFile})
	}
	if st.Desired.TunType != "" {
		cfg.TunType = agent.Value{S: string(st.Desired.TunType), Where: cfg.StateFile}
	}
	if st.Desired.TunPort != 0 {
		cfg.TunPort = agent.Value{S: strconv.Itoa(st.Desired.TunPort), Where: cfg.StateFile}
	}
	for _, g := range st.Desired.Gateways {
		cfg.Gateways = append(cfg.Gateways, agent.Value{S: g, Where: cfg.StateFile})
	}
	o, err := cfg.Options()
	if err != nil {
		return agent.Options{}, badInput(err)
	}
	return o, nil
}

func agentStatus(c *cli.Context) error {
	o, err := statusOptions(c)
	if errors.Is(err, agent.ErrNoState) {
		// A completed drain removed the VIPs and the state file with them;
		// the daemon is still there and says so (until `agent undrain`).
		if st, ok := drainedDaemon(c); ok {
			return printDrained(c, st)
		}
	}
	if err != nil {
		return err
	}
	a, closeFn, err := newAgent(o.StateFile)
	if err != nil {
		return err
	}
	defer closeFn()
	r, err := a.Check(agent.NewPlan(o))
	if err != nil {
		return err
	}
	// The running daemon's own state, when one answers on the control
	// socket (root only): absent otherwise, as before.
	var daemon *agent.DaemonState
	if ctl, err := agent.DialControl(o.StateFile); err == nil {
		if st, err := ctl.State(context.Background()); err == nil {
			daemon = &st
		}
	}
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		if err := enc.Encode(struct {
			OK     bool               `json:"ok"`
			Items  []agent.Item       `json:"items"`
			Daemon *agent.DaemonState `json:"daemon,omitempty"`
		}{r.OK(), r.Items, daemon}); err != nil {
			return err
		}
	} else {
		if daemon != nil {
			fmt.Fprintf(c.App.Writer, "daemon (pid %d): %s\n", daemon.PID, stateLine(*daemon))
		}
		tw := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "KIND\tNAME\tDESIRED\tACTUAL\tOK")
		for _, it := range r.Items {
			mark := "ok"
			if !it.OK {
				mark = "DRIFT"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", it.Kind, it.Name, it.Desired, it.Actual, mark)
		}
		tw.Flush()
	}
	if !r.OK() {
		return cli.Exit("", 1)
	}
	return nil
}

func agentTeardown(c *cli.Context) error {
	cfg, err := loadConfig(c)
	if err != nil {
		return badInput(err)
	}
	var vips []agent.Value
	if c.IsSet("vip") {
		vips = cfg.VIPs // from --config alone, teardown stays "everything of lvsnode's"
	}
	stateFile := cfg.StateFile
	if stateFile == "" {
		stateFile = agent.DefaultStateFile
	}
	var targets []netip.Addr
	for _, v := range vips {
		a, err := agent.ParseVIP(v.S)
		if err != nil {
			return cli.Exit(fmt.Sprintf("%s: %v", v.Where, err), exitBadInput)
		}
		targets = append(targets, a)
	}
	if err := capability.RequireNetAdmin("agent teardown"); err != nil {
		return cli.Exit(err.Error(), exitBadInput)
	}
	if err := agent.CheckHolder(stateFile, nil); err != nil {
		return cli.Exit(err.Error(), 1) // refused: nothing changed
	}
	a, closeFn, err := newAgent(stateFile)
	if err != nil {
		return err
	}
	defer closeFn()
	done, notes, err := a.Teardown(targets)
	for _, d := range done {
		fmt.Fprintln(c.App.Writer, d)
	}
	for _, n := range notes {
		fmt.Fprintln(c.App.Writer, "note: "+n)
	}
	return err
}

func agentRun(c *cli.Context) error {
	o, err := options(c)
	if err != nil {
		return err
	}
	if err := capability.RequireNetAdmin("agent run"); err != nil {
		return cli.Exit(err.Error(), exitBadInput)
	}
	// One daemon per state file, and one-shot commands refused while it
	// runs (agent.CheckHolder): before the listener, before any change.
	hold, err := agent.TakeHold(o.StateFile, agent.HolderOf(o, c.String("config")))
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	defer hold.Release()
	var ln net.Listener
	if o.Listen != "" {
		if ln, err = net.Listen("tcp", o.Listen); err != nil {
			return cli.Exit(fmt.Sprintf("--listen %s: %v", o.Listen, err), exitBadInput)
		}
	}
	a, closeFn, err := newAgent(o.StateFile)
	if err != nil {
		return err
	}
	defer closeFn()
	if err := a.CheckNS(); err != nil {
		return cli.Exit(err.Error(), 1) // refused: nothing changed
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	d := agent.NewDaemon(a, systemd.Socket{}, log, o)
	d.Hold, d.ConfigPath = hold, c.String("config")
	d.Reload = func() (agent.Options, error) {
		cfg, err := loadConfig(c)
		if err != nil {
			return agent.Options{}, err
		}
		return cfg.Options()
	}
	if ln != nil {
		srv := &http.Server{Handler: d.Handler()}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
	}
	closeCtl, err := d.ServeControl(o.StateFile) // after TakeHold: a socket left there is a dead daemon's
	if err != nil {
		return cli.Exit(err.Error(), 1)
	}
	defer closeCtl()
	// SIGTERM and SIGINT go to the daemon: with drain.on-stop the first
	// drains before stopping, the next stops at once (Daemon.Terminate).
	term := make(chan os.Signal, 2)
	signal.Notify(term, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(term)
	go func() {
		for range term {
			d.Terminate()
		}
	}()
	ctx := context.Background()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	reload := make(chan struct{}, 1)
	go func() {
		for range hup {
			select {
			case reload <- struct{}{}:
			default:
			}
		}
	}()
	log.Info("lvsnode agent running", "vips", o.VIPs, "mode", o.Mode, "resync", o.ResyncInterval)
	if o.Register != nil { // register: into the directors' etcd once READY; revoked when Run returns
		stop := agent.StartRegistration(d, o.Register, log)
		defer stop()
	}
	return d.Run(ctx, reload)
}

// noStateError is statusOptions' answer when nothing was applied: exit 1,
// one line, and still errors.Is(err, agent.ErrNoState) for agentStatus.
type noStateError struct{ err error }

func (e noStateError) Error() string {
	return e.err.Error() + "; give --vip or --config to check a plan"
}
func (e noStateError) Unwrap() error { return e.err }
func (e noStateError) ExitCode() int { return 1 }

// drainedDaemon asks the daemon of the state file given (or the default)
// for its state, and reports it only when it has drained.
func drainedDaemon(c *cli.Context) (agent.DaemonState, bool) {
	cfg, err := loadConfig(c)
	if err != nil {
		return agent.DaemonState{}, false
	}
	if cfg.StateFile == "" {
		cfg.StateFile = agent.DefaultStateFile
	}
	ctl, err := agent.DialControl(cfg.StateFile)
	if err != nil {
		return agent.DaemonState{}, false
	}
	st, err := ctl.State(context.Background())
	if err != nil || st.Phase != agent.Drained {
		return agent.DaemonState{}, false
	}
	return st, true
}

// printDrained is `agent status` of a drained daemon: nothing is applied,
// on purpose, so there is no drift (exit 0) and the way back is named.
func printDrained(c *cli.Context, st agent.DaemonState) error {
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			OK     bool               `json:"ok"`
			Items  []agent.Item       `json:"items"`
			Daemon *agent.DaemonState `json:"daemon"`
		}{true, []agent.Item{}, &st})
	}
	fmt.Fprintf(c.App.Writer, "daemon (pid %d): %s\n", st.PID, stateLine(st))
	fmt.Fprintln(c.App.Writer, "nothing applied: the drain removed the VIPs; `lvsnode agent undrain` brings them back")
	return nil
}
