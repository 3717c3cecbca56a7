package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/lvsnode/lvsnode/controller"
	"github.com/lvsnode/lvsnode/director"
	"github.com/lvsnode/lvsnode/ipvs"
)

// Connection sync: start-daemon, stop-daemon, and list --daemon /
// --connections (hooked into list by ctlListExtra).

func ctlStartDaemonCmd() *cli.Command {
	return &cli.Command{
		Name:      "start-daemon",
		Usage:     "start a connection-sync daemon (ipvsadm --start-daemon)",
		ArgsUsage: "master|backup",
		Description: "The master multicasts this director's connections, the backup receives the\n" +
			"other director's, so established connections survive a failover. Run both\n" +
			"on every director of a pair, with the same --syncid (controller run's sync:\n" +
			"block does it and keeps them running). Starting a daemon that already runs\n" +
			"with the same settings changes nothing (exit 0); with other settings it says\n" +
			"what differs and exits 1, changing nothing: stop it first.\n\n" +
			"   lvsnode controller start-daemon master --mcast-interface eth1 --syncid 10\n" +
			"   lvsnode controller start-daemon backup --mcast-interface eth1 --syncid 10\n" +
			"   lvsnode controller list --daemon",
		Flags: []cli.Flag{
			ctlStrFlag("mcast-interface", "", "`IF` the sync messages go out (master) or come in (backup) on (required)"),
			ctlStrFlag("syncid", "", "`ID` 0-255 carried by the messages; a backup with ID != 0 ignores others (default 0)"),
			ctlStrFlag("sync-maxlen", "", "message size in `BYTES` without IP/UDP headers (default: MTU - 28)"),
			ctlStrFlag("mcast-group", "", "multicast `ADDR` (default 224.0.0.81)"),
			ctlStrFlag("mcast-port", "", "UDP `PORT` (default 8848)"),
			ctlStrFlag("mcast-ttl", "", "multicast `TTL` 1-255 (default 1)"),
		},
		OnUsageError: ctlUsageErr,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return cli.Exit("start-daemon takes one argument: master or backup", 2)
			}
			d, err := controller.ParseDaemon(controller.DaemonFlags{
				Role: c.Args().First(), Interface: c.String("mcast-interface"), SyncID: c.String("syncid"),
				MaxLen: c.String("sync-maxlen"), Group: c.String("mcast-group"), Port: c.String("mcast-port"), TTL: c.String("mcast-ttl"),
			})
			if err != nil {
				return ctlExitErr(err)
			}
			return ctlWithIPVS(c, func(ctl *controller.Controller) error { return ctl.StartDaemon(d) })
		},
	}
}

func ctlStopDaemonCmd() *cli.Command {
	return &cli.Command{
		Name:         "stop-daemon",
		Usage:        "stop a connection-sync daemon (ipvsadm --stop-daemon); one that does not run: nothing to do",
		ArgsUsage:    "master|backup",
		Description:  "   lvsnode controller stop-daemon backup",
		OnUsageError: ctlUsageErr,
		Action: func(c *cli.Context) error {
			st, ok := ipvs.ParseRole(c.Args().First())
			if c.NArg() != 1 || !ok {
				return cli.Exit("stop-daemon takes one argument: master or backup", 2)
			}
			return ctlWithIPVS(c, func(ctl *controller.Controller) error { return ctl.StopDaemon(st) })
		},
	}
}

// ctlConns is the connection table (tests replace it).
var ctlConns = func() ipvs.ConnLister { return ipvs.ProcConns{} }

// ctlListExtraFlags are list's --daemon and --connections.
func ctlListExtraFlags() []cli.Flag {
	return []cli.Flag{
		ctlBoolFlag("daemon", "", "the connection-sync daemons, as ipvsadm -L --daemon"),
		ctlBoolFlag("connections", "c", "the connection table, as ipvsadm -Lnc (read from /proc/net/ip_vs_conn)"),
	}
}

// ctlListExtra runs list --daemon or --connections; done is false for
// the other lists.
func ctlListExtra(c *cli.Context) (done bool, err error) {
	daemon, conns := c.Bool("daemon"), c.Bool("connections")
	if !daemon && !conns {
		return false, nil
	}
	for _, f := range []string{"stats", "rate", "thresholds", "persistent-conn", "tun-info", "timeout", "tcp-service", "udp-service", "sctp-service", "fwmark-service"} {
		if c.IsSet(f) {
			return true, cli.Exit(fmt.Sprintf("--daemon and --connections take only --json, not --%s", f), 2)
		}
	}
	if daemon && conns {
		return true, cli.Exit("give one of --daemon, --connections", 2)
	}
	if conns {
		cs, err := ctlConns().Connections()
		if err != nil {
			return true, err
		}
		return true, controller.ListConnections(c.App.Writer, cs, c.Bool("json"))
	}
	return true, ctlWithIPVS(c, func(ctl *controller.Controller) error {
		ds, err := ctl.IPVS.Daemons()
		if err != nil {
			return err
		}
		return controller.ListDaemons(c.App.Writer, ds, c.Bool("json"))
	})
}

// ctlRoleLast lets start-daemon and stop-daemon take ipvsadm's order,
// "start-daemon master --mcast-interface eth0": urfave/cli stops reading
// flags at the first argument, so the role right after the command moves
// to the end (ctlPersistentArgs, which main and the tests call, calls it).
func ctlRoleLast(args []string) []string {
	for i := 1; i+1 < len(args); i++ {
		if args[i] == "--" {
			break
		}
		if args[i] != "start-daemon" && args[i] != "stop-daemon" || i == 0 || args[i-1] != "controller" {
			continue
		}
		if _, ok := ipvs.ParseRole(args[i+1]); ok {
			role := args[i+1]
			rest := append(append([]string{}, args[i+2:]...), role)
			return append(args[:i+1], rest...)
		}
		break
	}
	return args
}

// ctlPrintSync is status's line about connection sync (none when the
// daemon has no sync: block): "Sync: master running (eth0 index 2 up,
// syncid 51); backup NOT RUNNING: no such interface". The index changes
// when the link is re-created (the daemon is then restarted on it).
func ctlPrintSync(w io.Writer, s *director.SyncStatus) {
	if s == nil {
		return
	}
	var parts []string
	for _, r := range s.Roles {
		p := r.Role + " running"
		if !r.Running {
			p = r.Role + " NOT RUNNING"
			if r.Error != "" {
				p += ": " + r.Error
			}
		} else if r.Daemon != nil {
			link := ""
			if r.Link != nil {
				state := "up"
				if !r.Link.Up {
					state = "DOWN"
				}
				link = fmt.Sprintf(" index %d %s", r.Link.Index, state)
			}
			p += fmt.Sprintf(" (%s%s, syncid %d)", r.Daemon.Interface, link, r.Daemon.SyncID)
		}
		if r.Starts > 1 {
			p += fmt.Sprintf(", restarted %d times", r.Starts-1)
		}
		parts = append(parts, p)
	}
	fmt.Fprintf(w, "Sync: %s\n", strings.Join(parts, "; "))
}

// ctlSyncWarn is the status headline's note when a configured sync role
// does not run (", sync backup NOT RUNNING"): a director that would lose
// its connections on failover is not plainly "ready".
func ctlSyncWarn(s *director.SyncStatus) string {
	if s == nil {
		return ""
	}
	var out string
	for _, r := range s.Roles {
		if !r.Running {
			out += ", sync " + r.Role + " NOT RUNNING"
		}
	}
	return out
}
