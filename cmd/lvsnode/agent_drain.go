package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/lvsnode/lvsnode/agent"
)

func drainCommands() []*cli.Command {
	state := &cli.StringFlag{Name: "state-file", Usage: "the daemon's state file; its control socket is STATE.sock (default " + agent.DefaultStateFile + ")", EnvVars: []string{"LVSNODE_STATE_FILE"}}
	cfg := &cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "YAML config file, for its state-file", EnvVars: []string{"LVSNODE_CONFIG"}}
	js := &cli.BoolFlag{Name: "json", Usage: "print the daemon's state as JSON", EnvVars: []string{"LVSNODE_JSON"}}
	return []*cli.Command{
		{
			Name:      "drain",
			Usage:     "tell the running daemon to drain: readiness says draining, then the VIPs go",
			UsageText: "lvsnode agent drain [--timeout 5m] [--wait] [--json]",
			Description: "/readyz answers 503 \"draining: ...\" at once (the director's ready check sets\n" +
				"weight 0); the VIPs stay bound and repaired until no established TCP\n" +
				"connection has a VIP as its local address, but at least drain.min-wait and\n" +
				"at most --timeout (drain.timeout); then the daemon removes what it added and\n" +
				"stays not ready until `lvsnode agent undrain`. Returns once the drain has\n" +
				"started; --wait returns once the VIPs are gone. Talks to `agent run` over\n" +
				"its control socket (STATE.sock, root only); refused when none runs.",
			Flags: []cli.Flag{cfg, state, js,
				&cli.DurationFlag{Name: "timeout", Usage: "remove the VIPs after this long even with connections open (default: drain.timeout)", EnvVars: []string{"LVSNODE_DRAIN_TIMEOUT"}},
				&cli.BoolFlag{Name: "wait", Usage: "return when drained (VIPs removed), not when draining began", EnvVars: []string{"LVSNODE_WAIT"}},
			},
			Action: agentDrain,
		},
		{
			Name:        "undrain",
			Usage:       "tell the running daemon to serve again: VIPs re-applied, ready once verified",
			UsageText:   "lvsnode agent undrain [--json]",
			Description: "Ends a drain in progress (the VIPs never left) or re-applies after one.",
			Flags:       []cli.Flag{cfg, state, js},
			Action:      agentUndrain,
		},
	}
}

// controlStateFile is the state file named by --state-file, the config's
// state-file, or the default.
func controlStateFile(c *cli.Context) (string, error) {
	if c.IsSet("state-file") {
		return c.String("state-file"), nil
	}
	if path := c.String("config"); path != "" {
		cfg, err := agent.LoadFile(path)
		if err != nil {
			return "", badInput(err)
		}
		if cfg.StateFile != "" {
			return cfg.StateFile, nil
		}
	}
	return agent.DefaultStateFile, nil
}

func dialDaemon(c *cli.Context, what string) (*agent.Control, error) {
	sf, err := controlStateFile(c)
	if err != nil {
		return nil, err
	}
	ctl, err := agent.DialControl(sf)
	if errors.Is(err, agent.ErrNoDaemon) {
		return nil, cli.Exit(fmt.Sprintf("agent %s: %v", what, err), 1)
	}
	if errors.Is(err, os.ErrPermission) {
		return nil, cli.Exit(fmt.Sprintf("agent %s: %v (the control socket is root only)", what, err), 1)
	}
	if err != nil {
		return nil, cli.Exit(fmt.Sprintf("agent %s: %v", what, err), 1)
	}
	return ctl, nil
}

func agentDrain(c *cli.Context) error {
	if c.IsSet("timeout") && c.Duration("timeout") <= 0 {
		return cli.Exit(fmt.Sprintf("--timeout %s: want a duration above 0 (e.g. 5m)", c.Duration("timeout")), exitBadInput)
	}
	ctl, err := dialDaemon(c, "drain")
	if err != nil {
		return err
	}
	ctx := context.Background()
	st, err := ctl.Drain(ctx, c.Duration("timeout"))
	if err != nil {
		return cli.Exit("agent drain: "+err.Error(), 1)
	}
	if c.Bool("wait") {
		for st.Phase == agent.Draining {
			time.Sleep(200 * time.Millisecond)
			if st, err = ctl.State(ctx); err != nil {
				return cli.Exit("agent drain --wait: "+err.Error(), 1)
			}
		}
		if st.Phase != agent.Drained {
			return printState(c, st, cli.Exit("agent drain --wait: the drain was cancelled (agent undrain)", 1))
		}
	}
	return printState(c, st, nil)
}

func agentUndrain(c *cli.Context) error {
	ctl, err := dialDaemon(c, "undrain")
	if err != nil {
		return err
	}
	st, err := ctl.Undrain(context.Background())
	if err != nil {
		return cli.Exit("agent undrain: "+err.Error(), 1)
	}
	return printState(c, st, nil)
}

func printState(c *cli.Context, st agent.DaemonState, ret error) error {
	if c.Bool("json") {
		enc := json.NewEncoder(c.App.Writer)
		enc.SetIndent("", "  ")
		if err := enc.Encode(st); err != nil {
			return err
		}
		return ret
	}
	fmt.Fprintln(c.App.Writer, stateLine(st))
	return ret
}

// stateLine is the daemon's state in one line.
func stateLine(st agent.DaemonState) string {
	socks := "sockets to VIPs unknown: " + st.VIPSocketsError
	if st.VIPSockets != nil {
		socks = fmt.Sprintf("%d socket(s) to VIPs", *st.VIPSockets)
	}
	line := fmt.Sprintf("%s since %s, ready=%v, %s", st.Phase, st.Since.Format(time.RFC3339), st.Ready, socks)
	switch {
	case st.Phase == agent.Draining && st.DrainDeadline != nil:
		line += ", VIPs removed at the latest " + st.DrainDeadline.Format(time.RFC3339)
	case st.Phase == agent.Drained:
		line += ": " + st.DrainEnded
	case !st.Ready && len(st.Reasons) > 0:
		line += ": " + st.Reasons[0]
	}
	if r := st.Registration; r != nil {
		switch {
		case r.Registered:
			line += "; registered " + r.State
		case r.Error != "":
			line += "; NOT registered: " + r.Error
		default:
			line += "; not registered (" + r.State + ")"
		}
	}
	return line
}
