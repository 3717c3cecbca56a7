package main

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/lvsnode/lvsnode/controller"
	"github.com/lvsnode/lvsnode/ipvs"
	"github.com/lvsnode/lvsnode/sysctl"
)

// controllerCommand is the director half: ipvsadm's flags and formats,
// with idempotent node commands, a drain that waits, and a diffing restore.
func controllerCommand() *cli.Command {
	return &cli.Command{
		Name:  "controller",
		Usage: "program IPVS on the director (ipvsadm's flags and formats)",
		Description: "Programs the kernel's IPVS table over netlink (no ipvsadm needed), with\n" +
			"ipvsadm's option names, its `ipvsadm -Ln` listing and its `-S -n` save format.\n" +
			"Run as root (or with CAP_NET_ADMIN) on the director.\n\n" +
			"A DR cluster from nothing, then a graceful removal:\n\n" +
			"   lvsnode controller add-node -t 10.0.0.100:80 -r 10.0.0.11 -g\n" +
			"   lvsnode controller add-node -t 10.0.0.100:80 -r 10.0.0.12 -g -w 2\n" +
			"   lvsnode controller list\n" +
			"   lvsnode controller drain-node -t 10.0.0.100:80 -r 10.0.0.11 --timeout 2m\n\n" +
			"Keep the table as a file and converge to it (only differences are applied):\n\n" +
			"   lvsnode controller save > /etc/lvsnode/ipvs.rules\n" +
			"   lvsnode controller restore < /etc/lvsnode/ipvs.rules\n\n" +
			"Every flag can also come from an LVSNODE_* variable named after its long\n" +
			"form (--tcp-service: LVSNODE_TCP_SERVICE); --help shows each one.",
		HideHelpCommand: true,
		Subcommands: []*cli.Command{
			ctlAddNodeCmd(), ctlEditNodeCmd(), ctlRemoveNodeCmd(), ctlDrainNodeCmd(), ctlUndrainNodeCmd(),
			ctlAddServiceCmd(), ctlEditServiceCmd(), ctlRemoveServiceCmd(),
			ctlClearCmd(), ctlZeroCmd(), ctlTimeoutsCmd(), ctlListCmd(), ctlSaveCmd(), ctlRestoreCmd(),
			ctlStartDaemonCmd(), ctlStopDaemonCmd(),
			ctlRunCmd(),
			ctlStatusCmd(), ctlTopCmd(),
		},
	}
}

func ctlEnv(name string) []string {
	return []string{"LVSNODE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))}
}

func ctlStrFlag(name, alias, usage string) cli.Flag {
	f := &cli.StringFlag{Name: name, Usage: usage, EnvVars: ctlEnv(name)}
	if alias != "" {
		f.Aliases = []string{alias}
	}
	return f
}

func ctlBoolFlag(name, alias, usage string) cli.Flag {
	f := &cli.BoolFlag{Name: name, Usage: usage, EnvVars: ctlEnv(name)}
	if alias != "" {
		f.Aliases = []string{alias}
	}
	return f
}

// ctlServiceFlags name the virtual service (ipvsadm's -t|-u|--sctp-service|-f).
func ctlServiceFlags() []cli.Flag {
	return []cli.Flag{
		ctlStrFlag("tcp-service", "t", "TCP virtual service `VIP:PORT` ([IPv6]:PORT for IPv6)"),
		ctlStrFlag("udp-service", "u", "UDP virtual service `VIP:PORT`"),
		ctlStrFlag("sctp-service", "", "SCTP virtual service `VIP:PORT`"),
		ctlStrFlag("fwmark-service", "f", "firewall-mark service `MARK` (set by iptables/nft -j MARK)"),
		ctlBoolFlag("ipv6", "6", "the fwmark service is IPv6"),
	}
}

// ctlTargetNames are the flags that pick what a command acts on.
var ctlTargetNames = []string{"tcp-service", "udp-service", "sctp-service", "fwmark-service", "ipv6", "real-server"}

// ctlTargetOnly strips the LVSNODE_* variables from the target flags of a
// command that removes or resets (remove-service, remove-node, drain-node,
// zero): what it destroys comes from its command line only. An exported
// LVSNODE_TCP_SERVICE, handy for a series of add-node, must never pick the
// service remove-service deletes, nor turn "zero" (all counters) into
// "zero one service". ctlRefuseEnvTargets makes such a variable an error
// rather than silently ignoring it.
func ctlTargetOnly(flags []cli.Flag) []cli.Flag {
	for _, f := range flags {
		switch f := f.(type) {
		case *cli.StringFlag:
			if slices.Contains(ctlTargetNames, f.Name) {
				f.EnvVars = nil
				f.Usage += " (command line only)"
			}
		case *cli.BoolFlag:
			if slices.Contains(ctlTargetNames, f.Name) {
				f.EnvVars = nil
			}
		}
	}
	return flags
}

// ctlRefuseEnvTargets fails with exit status 2 when a target flag's
// variable is set but the flag is not on the command line (see
// ctlTargetOnly): the user may think it applies.
func ctlRefuseEnvTargets(c *cli.Context) error {
	for _, name := range ctlTargetNames {
		env := ctlEnv(name)[0]
		if _, set := os.LookupEnv(env); set && !c.IsSet(name) && ctlHasFlag(c, name) {
			return cli.Exit(fmt.Sprintf("%s is set, but %s takes its target from the command line only: give --%s (or unset %s)",
				env, c.Command.Name, name, env), 2)
		}
	}
	return nil
}

// ctlTargetCommand makes cmd refuse target variables (ctlRefuseEnvTargets).
func ctlTargetCommand(cmd *cli.Command) *cli.Command {
	cmd.Before = ctlRefuseEnvTargets
	return cmd
}

func ctlHasFlag(c *cli.Context, name string) bool {
	for _, f := range c.Command.Flags {
		if slices.Contains(f.Names(), name) {
			return true
		}
	}
	return false
}

// ctlServiceOptFlags are the settings of a service (-s -p -M -o -b).
func ctlServiceOptFlags() []cli.Flag {
	return []cli.Flag{
		ctlStrFlag("scheduler", "s", "`SCHED`: rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh (new services: wlc)"),
		ctlStrFlag("persistent", "p", "persistence `[SECONDS]`: a client sticks to one real server (bare -p: 300)"),
		ctlStrFlag("netmask", "M", "persistence granularity `MASK` (255.255.255.0, or here a prefix length: 24; 0.0.0.0: all clients as one; any dotted mask; IPv6: length 1-128). Restore input reads a bare number as ipvsadm -R does: -M 24 is 0.0.0.24"),
		ctlStrFlag("pe", "", "persistence `ENGINE`: sip (kernel module ip_vs_pe_sip; persistence by SIP Call-ID, use with -p on UDP)"),
		ctlBoolFlag("ops", "o", "one-packet scheduling (UDP)"),
		ctlStrFlag("sched-flags", "b", "scheduler `FLAGS`: sh-fallback,sh-port,mh-fallback,mh-port,flag-1..3"),
	}
}

// ctlRealFlags are the real server and its settings (-r -g -i -m -w -x -y --tun-*).
func ctlRealFlags() []cli.Flag {
	return []cli.Flag{
		ctlStrFlag("real-server", "r", "real server `RIP[:PORT]` (port defaults to the service's)"),
		ctlBoolFlag("gatewaying", "g", "direct routing, DR (default for new real servers)"),
		ctlBoolFlag("ipip", "i", "tunnelling, TUN (see --tun-type)"),
		ctlBoolFlag("masquerading", "m", "NAT: the only method that can map ports; needs ip_forward"),
		ctlStrFlag("weight", "w", "`WEIGHT` 0-65535 (new real servers: 1; 0 = no new connections)"),
		ctlStrFlag("u-threshold", "x", "upper connection threshold `N` (0 = none)"),
		ctlStrFlag("l-threshold", "y", "lower connection threshold `N`"),
		ctlStrFlag("tun-type", "", "tunnel `TYPE`: ipip (default), gue (needs --tun-port), gre"),
		ctlStrFlag("tun-port", "", "GUE destination `PORT` on the real server"),
		ctlBoolFlag("tun-nocsum", "", "tunnel without checksum (default; gue, gre)"),
		ctlBoolFlag("tun-csum", "", "tunnel with checksum (gue, gre)"),
		ctlBoolFlag("tun-remcsum", "", "tunnel with remote checksum offload (gue)"),
		ctlForwardingFlag(),
	}
}

// ctlForwardingFlag is --enable-forwarding, with the IPv6 rule it follows.
func ctlForwardingFlag() cli.Flag {
	return ctlBoolFlag("enable-forwarding", "", "for NAT: set net.ipv4.ip_forward=1, or for IPv6 net.ipv6.conf.all.forwarding=1 "+
		"after setting accept_ra=2 where it is 1 (IPv6 forwarding is global in Linux and makes interfaces with "+
		"accept_ra=1 ignore router advertisements: a director would lose its RA-learnt default route)")
}

func ctlFlags(groups ...[]cli.Flag) []cli.Flag {
	var out []cli.Flag
	for _, g := range groups {
		out = append(out, g...)
	}
	return out
}

// ctlFlagsOf copies the typed options into the controller's Flags.
func ctlFlagsOf(c *cli.Context) controller.Flags {
	return controller.Flags{
		TCP: c.String("tcp-service"), UDP: c.String("udp-service"), SCTP: c.String("sctp-service"),
		FWMark: c.String("fwmark-service"), IPv6: c.Bool("ipv6"),
		Scheduler: c.String("scheduler"), Persistent: c.String("persistent"), NoPersistent: c.Bool("no-persistent"),
		Netmask: c.String("netmask"), PE: c.String("pe"), NoPE: c.Bool("no-pe"), OnePacket: c.Bool("ops"), SchedFlags: c.String("sched-flags"),
		Real: c.String("real-server"), DR: c.Bool("gatewaying"), TUN: c.Bool("ipip"), NAT: c.Bool("masquerading"),
		Weight: c.String("weight"), Upper: c.String("u-threshold"), Lower: c.String("l-threshold"),
		TunType: c.String("tun-type"), TunPort: c.String("tun-port"),
		TunNoCsum: c.Bool("tun-nocsum"), TunCsum: c.Bool("tun-csum"), TunRemCsum: c.Bool("tun-remcsum"),
	}
}

// ctlSpec parses the command's flags; errors are input errors (exit 2).
func ctlSpec(c *cli.Context) (controller.Spec, error) {
	if c.NArg() > 0 {
		return controller.Spec{}, cli.Exit(fmt.Sprintf("unexpected argument %q (every value goes with a flag; see --help)", c.Args().First()), 2)
	}
	s, err := controller.Parse(ctlFlagsOf(c))
	return s, ctlExitErr(err)
}

// ctlExitErr turns input errors into exit status 2 with a clean message.
func ctlExitErr(err error) error {
	if err == nil {
		return nil
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		return err
	}
	if controller.IsInput(err) {
		return cli.Exit(strings.TrimPrefix(err.Error(), controller.ErrInput.Error()+": "), 2)
	}
	return err
}

// ctlUsageErr makes urfave's usage errors one line and exit status 2.
func ctlUsageErr(c *cli.Context, err error, _ bool) error {
	return cli.Exit(fmt.Sprintf("%v (see: lvsnode controller %s --help)", err, c.Command.Name), 2)
}

// ctlOpen connects to the kernel's IPVS after checking privileges; tests
// replace it (and ctlSysctl) with fakes.
var ctlOpen = func() (ipvs.Client, error) {
	if err := controller.CheckPrivileges(); err != nil {
		return nil, err
	}
	return ipvs.New()
}

// ctlSysctl is /proc/sys (nil when it cannot be opened: the NAT check is
// then skipped and the kernel has the last word).
var ctlSysctl = func() sysctl.Client {
	if p, err := sysctl.New(sysctl.DefaultRoot); err == nil {
		return p
	}
	return nil
}()

// ctlLockPath and ctlLockWait: the lock that serialises the commands
// that change the table (tests point it elsewhere).
var (
	ctlLockPath = controller.LockPath()
	ctlLockWait = 10 * time.Minute
)

// ctlChanges reports whether the command may change the table, and so
// runs under the lock: all but list, save, restore --dry-run and timeouts
// without values. drain-node is not among them: it takes the lock itself
// around each change (controller.Controller.Lock), not for its wait.
func ctlChanges(c *cli.Context) bool {
	switch c.Command.Name {
	case "list", "save", "drain-node":
		return false
	case "restore":
		return !c.Bool("dry-run")
	case "timeouts":
		return c.NArg() > 0 || c.String("tcp")+c.String("tcpfin")+c.String("udp") != ""
	}
	return true
}

// ctlLock takes the table lock, saying on the error stream whom it waits for.
func ctlLock(c *cli.Context) (func(), error) {
	l, err := controller.AcquireLock(ctlLockPath, ctlLockWait, func(s string) { fmt.Fprintln(c.App.ErrWriter, s) })
	if err != nil {
		return nil, err
	}
	return func() { _ = l.Unlock() }, nil
}

// ctlWithIPVS takes the lock (for commands that change the table), opens
// the kernel client, runs fn, and closes both.
func ctlWithIPVS(c *cli.Context, fn func(*controller.Controller) error) error {
	if ctlChanges(c) {
		unlock, err := ctlLock(c)
		if err != nil {
			return err
		}
		defer unlock()
	}
	cl, err := ctlOpen()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctl := &controller.Controller{
		IPVS:             cl,
		Sysctl:           ctlSysctl,
		Out:              c.App.Writer,
		EnableForwarding: c.Bool("enable-forwarding"),
	}
	if c.Command.Name == "drain-node" {
		ctl.Lock = func() (func(), error) { return ctlLock(c) }
	}
	return ctlExitErr(fn(ctl))
}

// ctlSpecCommand builds a subcommand whose action takes a parsed Spec.
func ctlSpecCommand(name, usage, text string, flags []cli.Flag, run func(*controller.Controller, controller.Spec) error) *cli.Command {
	return &cli.Command{
		Name: name, Usage: usage, Description: text, Flags: flags,
		OnUsageError: ctlUsageErr,
		Action: func(c *cli.Context) error {
			s, err := ctlSpec(c)
			if err != nil {
				return err
			}
			return ctlWithIPVS(c, func(ctl *controller.Controller) error { return run(ctl, s) })
		},
	}
}
