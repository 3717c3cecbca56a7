package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/lvsnode/lvsnode/controller"
	"github.com/lvsnode/lvsnode/director"
	"github.com/lvsnode/lvsnode/systemd"
)

// ctlRunCmd is `lvsnode controller run`: the director daemon (director/).
func ctlRunCmd() *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "run the director daemon: keep the managed IPVS services true to their healthy real servers",
		Description: "Holds the desired services and real servers (--config, documented in\n" +
			"examples/director.yaml), checks each real server, and reconciles the managed\n" +
			"services of IPVS to them: only differences are written, services it does not\n" +
			"manage are never touched. SIGHUP reloads the config; systemd Type=notify with\n" +
			"watchdog (examples/lvsnode-controller.service). A restart adopts the kernel's\n" +
			"table and changes nothing that was already right.",
		OnUsageError: ctlUsageErr,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Value: "/etc/lvsnode/director.yaml", Usage: "the YAML config", EnvVars: ctlEnv("config")},
			&cli.BoolFlag{Name: "check", Usage: "validate the config and exit (0 valid, 2 invalid); nothing is changed", EnvVars: ctlEnv("check")},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cli.Exit(fmt.Sprintf("unexpected argument %q (see: lvsnode controller run --help)", c.Args().First()), 2)
			}
			path := c.String("config")
			cfg, err := director.LoadConfig(path)
			if err != nil { // bad or unreadable config: usage error, nothing changed
				return cli.Exit(strings.TrimPrefix(err.Error(), director.ErrInvalid.Error()+": "), 2)
			}
			if c.Bool("check") {
				fmt.Fprintf(c.App.Writer, "%s: valid, %d services\n", path, len(cfg.Services))
				return nil
			}
			cl, err := ctlOpen()
			if err != nil {
				return err
			}
			defer cl.Close()
			log := slog.New(slog.NewTextHandler(c.App.ErrWriter, nil))
			store, err := director.OpenStore(cfg, log) // file, or etcd (store: block)
			if err != nil {
				return cli.Exit(err.Error(), 2)
			}
			defer director.CloseStore(store)
			err = director.Serve(context.Background(), path, cfg, director.Options{
				IPVS: cl, Store: store, Sysctl: ctlSysctl,
				Notify: systemd.Socket{}, Log: log, LockPath: lockFileOr(cfg.LockFile),
			})
			if errors.Is(err, director.ErrInvalid) {
				return cli.Exit(err.Error(), 2)
			}
			return err
		},
	}
}

func lockFileOr(p string) string {
	if p != "" {
		return p
	}
	if v := os.Getenv("LVSNODE_LOCK_FILE"); v != "" {
		return v
	}
	return controller.LockPath()
}
