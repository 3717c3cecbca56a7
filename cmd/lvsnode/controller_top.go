package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/urfave/cli/v2"

	"github.com/lvsnode/lvsnode/controller"
	"github.com/lvsnode/lvsnode/director"
	"github.com/lvsnode/lvsnode/view/top"
)

func ctlTopCmd() *cli.Command {
	return &cli.Command{
		Name:  "top",
		Usage: "watch the director in the terminal: every service and real server, refreshed every second",
		Description: "The status page's view for SSH sessions: per service, each real server's\n" +
			"weight, health and last check, drain state, connections, and the kernel's\n" +
			"connection and byte rates. Keys: r sort by connection rate (the default),\n" +
			"b by byte rate, c by connections, a as configured; p only real servers not\n" +
			"up or draining; arrows and PgUp/PgDn scroll; q quits. It reads the director\n" +
			"daemon's status (GET /v1/status) while one answers; without a daemon, the\n" +
			"kernel's table (as `controller list --rate`: no health or drain state).\n" +
			"It changes nothing.\n\n" +
			"   lvsnode controller top\n" +
			"   lvsnode controller top --sort conns\n" +
			"   lvsnode controller top --api http://127.0.0.1:9110   # the metrics listener's /v1/status\n" +
			"   lvsnode controller top --once | grep down",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "sort", Value: string(top.SortRate), EnvVars: ctlEnv("sort"), Usage: "first order: rate, bytes, conns or address"},
			&cli.DurationFlag{Name: "interval", Value: time.Second, EnvVars: ctlEnv("interval"), Usage: "time between reads"},
			&cli.BoolFlag{Name: "once", EnvVars: ctlEnv("once"), Usage: "print one frame as text and exit (no terminal needed)"},
			&cli.IntFlag{Name: "width", Value: 160, EnvVars: ctlEnv("width"), Usage: "columns of --once's frame (40 to 1000)"},
		}, ctlAPIFlags()...),
		OnUsageError: ctlUsageErr,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cli.Exit(fmt.Sprintf("unexpected argument %q (see: lvsnode controller top --help)", c.Args().First()), 2)
			}
			sort, err := top.ParseSort(c.String("sort"))
			if err != nil {
				return cli.Exit("--sort: "+err.Error(), 2)
			}
			if c.Duration("interval") < 100*time.Millisecond {
				return cli.Exit(fmt.Sprintf("--interval %s: want at least 100ms", c.Duration("interval")), 2)
			}
			if w := c.Int("width"); w < 40 || w > 1000 {
				return cli.Exit(fmt.Sprintf("--width %d: want 40 to 1000 columns", w), 2)
			}
			o, closeSrc, err := ctlTopSource(c)
			if err != nil {
				return err
			}
			defer closeSrc()
			o.Sort, o.Interval = sort, c.Duration("interval")
			if c.Bool("once") {
				st, err := o.Source(c.Context)
				if err != nil {
					return ctlAPIErr(err)
				}
				_, err = fmt.Fprint(c.App.Writer, top.Text(o, st, c.Int("width")))
				return err
			}
			_, err = tea.NewProgram(top.New(o), tea.WithAltScreen(), tea.WithContext(c.Context)).Run()
			return err
		},
	}
}

// ctlTopSource is the daemon's status when one answers (or --api names
// one), else the kernel's table read each time.
func ctlTopSource(c *cli.Context) (top.Options, func(), error) {
	api, err := ctlAPI(c, false)
	if err != nil {
		return top.Options{}, nil, err
	}
	if api != nil {
		return top.Options{From: "daemon " + api.Addr(), Source: api.Status}, func() {}, nil
	}
	cl, err := ctlOpen()
	if err != nil {
		return top.Options{}, nil, ctlExitErr(err)
	}
	var mu sync.Mutex // the client is not safe for concurrent use (reads do not overlap; this keeps it so)
	src := func(context.Context) (director.Status, error) {
		mu.Lock()
		defer mu.Unlock()
		t, err := controller.ReadTable(cl)
		if err != nil {
			return director.Status{}, err
		}
		t.Sort()
		return top.FromTable(t), nil
	}
	host, _ := os.Hostname()
	return top.Options{From: "kernel of " + host + " (no director daemon: health and drain unknown)", Kernel: true, Source: src}, func() { cl.Close() }, nil
}
