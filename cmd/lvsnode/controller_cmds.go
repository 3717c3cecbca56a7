package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/lvsnode/lvsnode/controller"
	"github.com/lvsnode/lvsnode/ipvs"
)

func ctlAddNodeCmd() *cli.Command {
	return ctlViaAPI(ctlSpecCommand("add-node", "make sure a real server is in a service (creates the service if missing)",
		"Idempotent: running it again changes nothing. It changes only what the\n"+
			"command line names: on an existing real server, -w 5 alone sets the weight\n"+
			"and keeps its method, tunnel type, tunnel port, checksum mode and\n"+
			"thresholds (a new method drops the old one's tunnel settings). A new real\n"+
			"server takes ipvsadm's defaults for what is left out: direct routing (-g),\n"+
			"weight 1. A missing service is created first (scheduler wlc unless -s);\n"+
			"service options given (-s -p -M -o -b --pe) also edit an existing service,\n"+
			"keeping the options left out. DR and TUN cannot map ports: a new DR/TUN\n"+
			"real server's port must be the service's; use -m (NAT) to map.\n\n"+
			"   lvsnode controller add-node -t 10.0.0.100:80 -r 10.0.0.11 -g -w 1\n"+
			"   lvsnode controller add-node -t [fd00::100]:80 -r [fd00::11] -s rr\n"+
			"   lvsnode controller add-node -u 10.0.0.100:53 -r 10.0.0.11:5353 -m --enable-forwarding\n"+
			"   lvsnode controller add-node -t 10.0.0.100:80 -r 192.168.1.11 -i --tun-type gue --tun-port 6080",
		ctlFlags(ctlServiceFlags(), ctlServiceOptFlags(), ctlRealFlags()),
		func(ctl *controller.Controller, s controller.Spec) error { return ctl.AddNode(s) }), ctlAddNodeAPI)
}

func ctlEditNodeCmd() *cli.Command {
	return ctlViaAPI(ctlSpecCommand("edit-node", "change settings of an existing real server (others are kept)",
		"Changes only what the command line names; unlike ipvsadm -e, options left\n"+
			"out keep their current value: -w alone keeps the method, tunnel type,\n"+
			"tunnel port, checksum mode and thresholds. One tunnel option (e.g. -i\n"+
			"--tun-port 6081) changes only that option of the tunnel.\n\n"+
			"   lvsnode controller edit-node -t 10.0.0.100:80 -r 10.0.0.11 -w 5\n"+
			"   lvsnode controller edit-node -t 10.0.0.100:80 -r 192.168.1.11 -i --tun-csum",
		ctlFlags(ctlServiceFlags(), ctlRealFlags()),
		(*controller.Controller).EditNode), ctlEditNodeAPI)
}

func ctlRemoveNodeCmd() *cli.Command {
	return ctlViaAPI(ctlTargetCommand(ctlSpecCommand("remove-node", "remove a real server at once (see drain-node for the graceful way)",
		"   lvsnode controller remove-node -t 10.0.0.100:80 -r 10.0.0.11\n\n"+
			"   A real server its agent registered (store: etcd, agent register:) is the agent's: it writes it\n"+
			"   again. Take it out with `lvsnode agent drain` on it, or stop its agent.",
		ctlTargetOnly(ctlFlags(ctlServiceFlags(), []cli.Flag{ctlStrFlag("real-server", "r", "real server `RIP[:PORT]`")})),
		(*controller.Controller).RemoveNode)), ctlRemoveNodeAPI)
}

func ctlDrainNodeCmd() *cli.Command {
	flags := ctlFlags(ctlTargetOnly(ctlFlags(ctlServiceFlags(), []cli.Flag{ctlStrFlag("real-server", "r", "real server `RIP[:PORT]`")})), []cli.Flag{
		&cli.DurationFlag{Name: "timeout", Value: 5 * time.Minute, EnvVars: ctlEnv("drain-timeout"), Usage: "give up after `DURATION` (0 = wait forever)"},
		&cli.DurationFlag{Name: "interval", Value: time.Second, EnvVars: ctlEnv("drain-interval"), Usage: "poll the counters every `DURATION`"},
		&cli.BoolFlag{Name: "keep", EnvVars: ctlEnv("drain-keep"), Usage: "leave the drained real server at weight 0 instead of removing it"},
		&cli.BoolFlag{Name: "force", EnvVars: ctlEnv("drain-force"), Usage: "remove the real server at the timeout even with connections or templates left"},
		&cli.BoolFlag{Name: "all-services", Usage: "drain the real server (-r RIP, or RIP:PORT for one port) from every service and fwmark it is in (command line only)"},
		&cli.BoolFlag{Name: "no-wait", EnvVars: ctlEnv("drain-no-wait"), Usage: "through the director daemon: return once the drain has started"},
	})
	return ctlViaAPI(&cli.Command{
		Name:   "drain-node",
		Before: ctlRefuseEnvTargets,
		Usage:  "weight 0, wait until ActiveConn, InActConn and PersistConn reach 0, then remove the real server",
		Description: "New connections stop at once (weight 0); existing ones finish. Progress is\n" +
			"printed whenever the counters change. For persistent services the drain also\n" +
			"waits for the persistence templates (PersistConn): they send returning\n" +
			"clients back to this real server until they expire, the persistence timeout\n" +
			"after each client's last connection. With net.ipv4.vs.expire_quiescent_template=0\n" +
			"(the kernel's default) that is what happens, and drain-node warns; with 1 the\n" +
			"kernel moves a returning client elsewhere at once. On timeout the real server\n" +
			"stays at weight 0 and the command fails (exit 1), unless --force. UDP entries\n" +
			"stay until the UDP timeout (see timeouts). --all-services drains it from every\n" +
			"service and fwmark at once: weight 0 everywhere, one wait, then removal.\n" +
			"The table lock is held only to set weight 0 and to remove, not during the\n" +
			"wait; a real server whose weight another command set back above 0 meanwhile\n" +
			"is left in place (exit 1).\n\n" +
			"   lvsnode controller drain-node -t 10.0.0.100:80 -r 10.0.0.11 --timeout 2m\n" +
			"   lvsnode controller drain-node --all-services -r 10.0.0.11\n\n" +
			"Through the director daemon, the daemon drains (weight 0, waits, then\n" +
			"removes, or parks the real server with --keep) and keeps the state across\n" +
			"its restarts; the command polls its status every --interval until done,\n" +
			"or returns at once with --no-wait. The daemon acts at the timeout as\n" +
			"--force does; --timeout 0 means the daemon's configured drain timeout.",
		Flags:        flags,
		OnUsageError: ctlUsageErr,
		Action: func(c *cli.Context) error {
			o := controller.DrainOptions{Timeout: c.Duration("timeout"), Interval: c.Duration("interval"), Keep: c.Bool("keep"), Force: c.Bool("force")}
			if c.Bool("all-services") {
				f := ctlFlagsOf(c)
				if f.TCP != "" || f.UDP != "" || f.SCTP != "" || f.FWMark != "" || c.NArg() > 0 {
					return cli.Exit("--all-services takes only a real server (-r RIP[:PORT]), no service", 2)
				}
				rip, port, err := controller.ParseRealAddr(f.Real)
				if err != nil {
					return ctlExitErr(err)
				}
				return ctlWithIPVS(c, func(ctl *controller.Controller) error { return ctl.DrainEverywhere(rip, port, o) })
			}
			s, err := ctlSpec(c)
			if err != nil {
				return err
			}
			return ctlWithIPVS(c, func(ctl *controller.Controller) error { return ctl.DrainNode(s, o) })
		},
	}, ctlDrainNodeAPI)
}

func ctlAddServiceCmd() *cli.Command {
	return ctlSpecCommand("add-service", "make sure a virtual service exists with these settings",
		"Creates the service (scheduler wlc unless -s); an existing one with other\n"+
			"settings is edited, an identical one left alone.\n\n"+
			"   lvsnode controller add-service -t 10.0.0.100:80 -s rr\n"+
			"   lvsnode controller add-service -t 10.0.0.100:443 -s wlc -p 600 -M 255.255.255.0\n"+
			"   lvsnode controller add-service -u 10.0.0.100:5060 -s rr -p 60 --pe sip\n"+
			"   lvsnode controller add-service -f 1 -s sh -b sh-port",
		ctlFlags(ctlServiceFlags(), ctlServiceOptFlags()),
		(*controller.Controller).AddService)
}

func ctlEditServiceCmd() *cli.Command {
	return ctlSpecCommand("edit-service", "change settings of an existing service (others are kept)",
		"Unlike ipvsadm -E, options you leave out keep their current value;\n"+
			"--no-persistent turns persistence off, --no-pe drops the engine.\n\n"+
			"   lvsnode controller edit-service -t 10.0.0.100:80 -s wrr",
		ctlFlags(ctlServiceFlags(), ctlServiceOptFlags(), []cli.Flag{
			ctlBoolFlag("no-persistent", "", "turn persistence off"),
			ctlBoolFlag("no-pe", "", "drop the persistence engine"),
		}),
		(*controller.Controller).EditService)
}

func ctlRemoveServiceCmd() *cli.Command {
	return ctlTargetCommand(ctlSpecCommand("remove-service", "remove a virtual service and its real servers",
		"   lvsnode controller remove-service -t 10.0.0.100:80",
		ctlTargetOnly(ctlServiceFlags()),
		(*controller.Controller).RemoveService))
}

func ctlClearCmd() *cli.Command {
	return &cli.Command{
		Name: "clear", Usage: "remove every virtual service (ipvsadm -C)", OnUsageError: ctlUsageErr,
		Action: func(c *cli.Context) error {
			return ctlWithIPVS(c, func(ctl *controller.Controller) error { return ctl.Clear() })
		},
	}
}

// ctlOptionalService parses service flags if any were given.
func ctlOptionalService(c *cli.Context) (*ipvs.ServiceKey, error) {
	f := ctlFlagsOf(c)
	if f.TCP == "" && f.UDP == "" && f.SCTP == "" && f.FWMark == "" {
		return nil, nil
	}
	s, err := ctlSpec(c)
	if err != nil {
		return nil, err
	}
	return &s.Service, nil
}

func ctlZeroCmd() *cli.Command {
	return &cli.Command{
		Name: "zero", Usage: "reset the counters of all services, or of one (ipvsadm -Z)",
		Description: "   lvsnode controller zero\n   lvsnode controller zero -t 10.0.0.100:80",
		Flags:       ctlTargetOnly(ctlServiceFlags()), OnUsageError: ctlUsageErr, Before: ctlRefuseEnvTargets,
		Action: func(c *cli.Context) error {
			k, err := ctlOptionalService(c)
			if err != nil {
				return err
			}
			return ctlWithIPVS(c, func(ctl *controller.Controller) error { return ctl.Zero(k) })
		},
	}
}

func ctlTimeoutsCmd() *cli.Command {
	return &cli.Command{
		Name:      "timeouts",
		Usage:     "show or set the TCP, TCP FIN and UDP connection timeouts (ipvsadm --set)",
		ArgsUsage: "[TCP TCPFIN UDP]",
		Description: "Without arguments, prints them as ipvsadm -L --timeout does. With three\n" +
			"numbers of seconds (or --tcp/--tcpfin/--udp), sets them; 0 keeps a value.\n\n" +
			"   lvsnode controller timeouts\n" +
			"   lvsnode controller timeouts 900 120 300\n" +
			"   lvsnode controller timeouts --udp 60",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "tcp", EnvVars: ctlEnv("timeout-tcp"), Usage: "TCP established timeout in `SECONDS`"},
			&cli.StringFlag{Name: "tcpfin", EnvVars: ctlEnv("timeout-tcpfin"), Usage: "TCP FIN_WAIT timeout in `SECONDS`"},
			&cli.StringFlag{Name: "udp", EnvVars: ctlEnv("timeout-udp"), Usage: "UDP timeout in `SECONDS`"},
		},
		OnUsageError: ctlUsageErr,
		Action: func(c *cli.Context) error {
			vals := []string{c.String("tcp"), c.String("tcpfin"), c.String("udp")}
			switch c.NArg() {
			case 0:
			case 3:
				if vals[0]+vals[1]+vals[2] != "" {
					return cli.Exit("give the timeouts either as three arguments or as flags, not both", 2)
				}
				vals = c.Args().Slice()
			default:
				return cli.Exit("timeouts takes no argument (show) or three: TCP TCPFIN UDP", 2)
			}
			var t [3]uint32
			set := false
			for i, v := range vals {
				if v == "" {
					continue
				}
				n, err := strconv.ParseUint(v, 10, 32)
				if err != nil || n > 86400*31 {
					return cli.Exit(fmt.Sprintf("timeout %q: want seconds from 0 to %d", v, 86400*31), 2)
				}
				t[i], set = uint32(n), true
			}
			return ctlWithIPVS(c, func(ctl *controller.Controller) error {
				if !set {
					return ctl.ShowTimeouts()
				}
				return ctl.SetTimeouts(ipvs.Timeouts{TCP: t[0], TCPFin: t[1], UDP: t[2]})
			})
		},
	}
}

func ctlListCmd() *cli.Command {
	return &cli.Command{
		Name:  "list",
		Usage: "print the table as ipvsadm -Ln does (or --stats, --rate, --thresholds, --json, ...)",
		Description: "Addresses are always numeric. With a service flag, only that service.\n" +
			"Sorted as ipvsadm sorts, unless --nosort (the kernel's order).\n\n" +
			"   lvsnode controller list\n" +
			"   lvsnode controller list --stats -t 10.0.0.100:80\n" +
			"   lvsnode controller list --timeout\n" +
			"   lvsnode controller list --daemon\n" +
			"   lvsnode controller list --connections\n" +
			"   lvsnode controller list --json | jq '.services[].real_servers[].active_conns'",
		Flags: ctlFlags(ctlServiceFlags(), []cli.Flag{
			ctlBoolFlag("stats", "", "counters: Conns InPkts OutPkts InBytes OutBytes"),
			ctlBoolFlag("rate", "", "rates: CPS InPPS OutPPS InBPS OutBPS"),
			ctlBoolFlag("thresholds", "", "upper and lower connection thresholds"),
			ctlBoolFlag("persistent-conn", "", "persistence templates per real server (PersistConn)"),
			ctlBoolFlag("tun-info", "", "tunnel type, port and checksum per real server"),
			ctlBoolFlag("exact", "", "exact numbers (no K/M/G)"),
			ctlBoolFlag("sort", "", "sort services and real servers as ipvsadm does (the default; --nosort wins)"),
			ctlBoolFlag("nosort", "", "the kernel's order, as ipvsadm --nosort"),
			ctlBoolFlag("timeout", "", "only the TCP, TCP FIN and UDP timeouts, as ipvsadm -L --timeout"),
			ctlBoolFlag("json", "", "one JSON document with settings, counters and rates"),
			&cli.BoolFlag{Name: "numeric", Aliases: []string{"n"}, Hidden: true, Usage: "accepted for ipvsadm habits; output is always numeric"},
		}, ctlListExtraFlags()),
		OnUsageError: ctlUsageErr,
		Action: func(c *cli.Context) error {
			if done, err := ctlListExtra(c); done {
				return err
			}
			k, err := ctlOptionalService(c)
			if err != nil {
				return err
			}
			o := controller.ListOptions{Exact: c.Bool("exact"), NoSort: c.Bool("nosort"), NoHeader: k != nil}
			n := 0
			for _, f := range []struct {
				name string
				fmt  controller.ListFormat
			}{{"stats", controller.ListStats}, {"rate", controller.ListRate}, {"thresholds", controller.ListThresholds},
				{"persistent-conn", controller.ListPersistentConn}, {"tun-info", controller.ListTunInfo}} {
				if c.Bool(f.name) {
					n++
					o.Format = f.fmt
				}
			}
			if n > 1 {
				return cli.Exit("give one of --stats, --rate, --thresholds, --persistent-conn, --tun-info", 2)
			}
			if c.Bool("timeout") {
				if n > 0 || k != nil || c.Bool("json") {
					return cli.Exit("--timeout lists only the timeouts: no service, --json or column option with it", 2)
				}
				return ctlWithIPVS(c, func(ctl *controller.Controller) error { return ctl.ShowTimeouts() })
			}
			return ctlWithIPVS(c, func(ctl *controller.Controller) error {
				info, err := ctl.IPVS.Info()
				if err != nil {
					return err
				}
				t, err := ctl.Read(k)
				if err != nil {
					return err
				}
				if c.Bool("json") {
					return controller.ListJSON(c.App.Writer, info, t)
				}
				return controller.List(c.App.Writer, info, t, o)
			})
		},
	}
}

func ctlSaveCmd() *cli.Command {
	return &cli.Command{
		Name:  "save",
		Usage: "print the table in ipvsadm -S -n format (restore and ipvsadm -R read it)",
		Description: "Byte-for-byte ipvsadm -S -n, plus \"-x N -y N\" on real servers that have\n" +
			"thresholds (ipvsadm -S drops them; ipvsadm -R accepts them).\n\n" +
			"   lvsnode controller save > /etc/lvsnode/ipvs.rules",
		Flags:        []cli.Flag{&cli.BoolFlag{Name: "numeric", Aliases: []string{"n"}, Hidden: true}},
		OnUsageError: ctlUsageErr,
		Action: func(c *cli.Context) error {
			return ctlWithIPVS(c, func(ctl *controller.Controller) error {
				t, err := ctl.Read(nil)
				if err != nil {
					return err
				}
				return controller.Save(c.App.Writer, t)
			})
		},
	}
}

func ctlRestoreCmd() *cli.Command {
	return &cli.Command{
		Name:      "restore",
		Usage:     "make the table equal to ipvsadm -S format rules (stdin or FILE), applying only differences",
		ArgsUsage: "[FILE]",
		Description: "The whole input is read and validated first: a bad line fails with its\n" +
			"line number and nothing changes. Then the kernel table is read once and\n" +
			"only the differences are applied; services and real servers not in the\n" +
			"input are removed (unless --keep-extra). Restoring the same rules twice\n" +
			"makes no change the second time. With --dry-run it only prints the plan\n" +
			"and exits 1 when changes are pending, 0 when the kernel already matches.\n\n" +
			"   ipvsadm -S -n | lvsnode controller restore\n" +
			"   lvsnode controller restore --dry-run /etc/lvsnode/ipvs.rules",
		Flags: []cli.Flag{
			ctlBoolFlag("dry-run", "", "print the changes, make none; exit 1 if there are any, 0 if the kernel matches (like diff)"),
			ctlBoolFlag("keep-extra", "", "do not remove services and real servers missing from the input"),
			ctlForwardingFlag(),
		},
		OnUsageError: ctlUsageErr,
		Action: func(c *cli.Context) error {
			var in io.Reader = os.Stdin
			switch c.NArg() {
			case 0:
			case 1:
				f, err := os.Open(c.Args().First())
				if err != nil {
					return cli.Exit(err.Error(), 2)
				}
				defer f.Close()
				in = f
			default:
				return cli.Exit("restore reads one FILE (or stdin)", 2)
			}
			// Validate everything before touching (or even opening) IPVS.
			want, err := controller.ParseRules(in)
			if err != nil {
				return ctlExitErr(err)
			}
			o := controller.RestoreOptions{DryRun: c.Bool("dry-run")}
			o.KeepExtra = c.Bool("keep-extra")
			return ctlWithIPVS(c, func(ctl *controller.Controller) error {
				_, err := ctl.RestoreTable(want, o)
				if errors.Is(err, controller.ErrChangesPending) {
					return cli.Exit("", 1) // like diff: the plan printed is the answer
				}
				return err
			})
		},
	}
}

// ctlPersistentArgs gives ipvsadm's optional -p value to urfave/cli, which
// has no optional-value flags: in the arguments of "lvsnode controller", a
// -p/--persistent not followed by a number becomes --persistent=300
// (ipvsadm's default). It works on a copy of the command line before the
// parser sees it (main and the tests call it), so it needs nothing from
// urfave/cli's internals; arguments after "--" are left alone.
func ctlPersistentArgs(args []string) []string {
	out := slices.Clone(args)
	i := 1
	for i < len(out) && strings.HasPrefix(out[i], "-") { // global flags
		i++
	}
	if i >= len(out) || out[i] != "controller" {
		return out
	}
	for i++; i < len(out); i++ {
		a := out[i]
		if a == "--" {
			break
		}
		if a != "-p" && a != "--persistent" && a != "-persistent" {
			continue
		}
		if i+1 < len(out) && isTimeout(out[i+1]) {
			i++ // its value
			continue
		}
		out[i] = "--persistent=" + strconv.Itoa(controller.DefaultPersistence)
	}
	return ctlRoleLast(out)
}

// isTimeout tells whether the argument after -p is its optional value.
func isTimeout(s string) bool {
	_, err := strconv.ParseUint(s, 10, 32)
	return err == nil
}
