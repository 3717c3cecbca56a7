package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/lvsnode/lvsnode/agent"
	"github.com/lvsnode/lvsnode/internal/capability"
	"github.com/lvsnode/lvsnode/loopback"
	etcdstore "github.com/lvsnode/lvsnode/store/etcd"
	"github.com/lvsnode/lvsnode/sysctl"
	"github.com/lvsnode/lvsnode/tunnel"
)

// Exit codes: 1 = failed or drifted, 2 = bad input (nothing was changed).
const exitBadInput = 2

func agentCommand() *cli.Command {
	return &cli.Command{
		Name:  "agent",
		Usage: "bind VIPs and ARP sysctls on a real server and keep them true",
		Description: "The LVS real-server recipes, done in the right order and kept:\n" +
			"  dr:  arp_ignore=1, arp_announce=2 on all, lo (and --interface NICs);\n" +
			"       each VIP as /32 (/128) on lo, labelled lo:lvsnode; a host route\n" +
			"       per IPv4 VIP via lo (route protocol 76; the kernel adds the IPv6 one)\n" +
			"  tun: as dr, plus the tunnel device up (ipip: tunl0/ip6tnl0, gue: a FOU\n" +
			"       port --tun-port and tunl0/ip6tnl0, gre: gre0/ip6gre0), rp_filter=0\n" +
			"       on it, and `from VIP lookup 76` with main's routes copied there\n" +
			"       with advmss, so TCP to the VIP fits after encapsulation\n" +
			"  nat: the default route via --gateway (the director), proto 76; the\n" +
			"       default routes it replaces come back on teardown\n" +
			"Every flag can also come from LVSNODE_<FLAG> (LVSNODE_VIP=a,b) or the\n" +
			"YAML --config file (see examples/agent.yaml); flags win over the file.",
		Subcommands: append([]*cli.Command{
			{
				Name:      "apply",
				Usage:     "configure this real server once, verify by reading the kernel back",
				UsageText: "lvsnode agent apply --vip 10.0.0.100 [--vip fd00::100] [--interface eth0]",
				Description: "Idempotent and declarative: the VIP set becomes exactly the list given;\n" +
					"VIPs lvsnode added earlier and no longer listed are removed. Exit 0 only\n" +
					"after everything was read back from the kernel and matches.",
				Flags:  configFlags(),
				Action: agentApply,
			},
			{
				Name:      "status",
				Usage:     "desired versus actual for every item; exit 1 when anything drifted",
				UsageText: "lvsnode agent status [--json]   (uses the last applied VIPs unless given)",
				Flags:     append(configFlags(), &cli.BoolFlag{Name: "json", Usage: "machine-readable output", EnvVars: []string{"LVSNODE_JSON"}}),
				Action:    agentStatus,
			},
			{
				Name:      "teardown",
				Usage:     "remove what lvsnode added and restore the sysctls it changed",
				UsageText: "lvsnode agent teardown [--vip IP ...]   (all of lvsnode's VIPs by default)",
				Description: "Never touches an address, route or sysctl lvsnode did not set. Sysctls\n" +
					"go back to the value they had before lvsnode first changed them, once\n" +
					"no lvsnode VIP is left, and only if nobody changed them since.",
				Flags:  configFlags(),
				Action: agentTeardown,
			},
			{
				Name:      "run",
				Usage:     "the daemon: apply, notify systemd, repair drift, reload on SIGHUP",
				UsageText: "lvsnode agent run --config /etc/lvsnode/agent.yaml",
				Description: "Sends READY=1 only after verification, WATCHDOG=1 when WatchdogSec is\n" +
					"set, RELOADING=1 on SIGHUP and STOPPING=1 on SIGTERM. Repairs drift on\n" +
					"every netlink event and every --resync-interval (sysctls send no events).\n" +
					"With --drain-on-stop, SIGTERM drains first (as `agent drain`, then exits;\n" +
					"a second SIGTERM stops at once): keep the unit's TimeoutStopSec above\n" +
					"--drain-timeout. Serves `agent drain|undrain|status` on STATE.sock.",
				Flags:  configFlags(),
				Action: agentRun,
			},
		}, drainCommands()...),
	}
}

func configFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "config", Aliases: []string{"c"}, Usage: "YAML config file (flags override it)", EnvVars: []string{"LVSNODE_CONFIG"}},
		&cli.StringSliceFlag{Name: "vip", Usage: "virtual IP to bind on lo, IPv4 or IPv6 (repeatable)", EnvVars: []string{"LVSNODE_VIP"}},
		&cli.StringFlag{Name: "mode", Usage: "forwarding method: dr, tun or nat (as the director's -g, -i, -m)", EnvVars: []string{"LVSNODE_MODE"}},
		&cli.StringFlag{Name: "tun-type", Usage: "tun: the director's --tun-type: ipip (default), gue or gre", EnvVars: []string{"LVSNODE_TUN_TYPE"}},
		&cli.StringFlag{Name: "tun-port", Usage: "tun, gue: the director's --tun-port (the FOU port opened here)", EnvVars: []string{"LVSNODE_TUN_PORT"}},
		&cli.StringSliceFlag{Name: "gateway", Usage: "nat: the director's address (DIP), the default route; one per family", EnvVars: []string{"LVSNODE_GATEWAY"}},
		&cli.StringSliceFlag{Name: "interface", Usage: "NIC to set the ARP sysctls on too (repeatable)", EnvVars: []string{"LVSNODE_INTERFACE"}},
		&cli.StringFlag{Name: "state-file", Usage: "record of what lvsnode changed (default " + agent.DefaultStateFile + ")", EnvVars: []string{"LVSNODE_STATE_FILE"}},
		&cli.StringFlag{Name: "sysctl-file", Usage: "also persist the sysctls here, e.g. /etc/sysctl.d/99-lvsnode.conf", EnvVars: []string{"LVSNODE_SYSCTL_FILE"}},
		&cli.StringFlag{Name: "listen", Usage: "run: serve /healthz, /readyz, /metrics on this address", EnvVars: []string{"LVSNODE_LISTEN"}},
		&cli.DurationFlag{Name: "resync-interval", Value: agent.DefaultResyncInterval, Usage: "run: re-read everything this often (at least " + agent.MinResyncInterval.String() + ")", EnvVars: []string{"LVSNODE_RESYNC_INTERVAL"}},
		&cli.BoolFlag{Name: "teardown-on-stop", Usage: "run: tear down on SIGTERM", EnvVars: []string{"LVSNODE_TEARDOWN_ON_STOP"}},
		&cli.BoolFlag{Name: "drain-on-stop", Usage: "run: on SIGTERM, drain (readiness draining, wait for the VIPs' connections) before stopping", EnvVars: []string{"LVSNODE_DRAIN_ON_STOP"}},
		&cli.StringFlag{Name: "drain-timeout", Usage: "run: a drain removes the VIPs after this long, connections or not (default " + agent.DefaultDrainTimeout.String() + ")", EnvVars: []string{"LVSNODE_DRAIN_TIMEOUT"}},
		&cli.StringFlag{Name: "drain-min-wait", Usage: "run: a drain lasts at least this long, so the director sees it (default " + agent.DefaultDrainMinWait.String() + "; >= its check interval x fall)", EnvVars: []string{"LVSNODE_DRAIN_MIN_WAIT"}},
		&cli.StringSliceFlag{Name: "register-endpoint", Usage: "run: register this real server in the directors' etcd (store: type etcd) once READY: etcd client URL (repeatable)", EnvVars: []string{"LVSNODE_REGISTER_ENDPOINT"}},
		&cli.StringFlag{Name: "register-address", Usage: "run, register: this real server's address as the directors reach it (RIP)", EnvVars: []string{"LVSNODE_REGISTER_ADDRESS"}},
		&cli.StringSliceFlag{Name: "register-service", Usage: "run, register: a service it serves, \"tcp 10.0.0.100:80 [weight=N] [port=P]\" (repeatable; comma-separated in the variable); method: --mode", EnvVars: []string{"LVSNODE_REGISTER_SERVICE"}},
		&cli.StringFlag{Name: "register-prefix", Usage: "run, register: the directors' store.prefix (default " + etcdstore.DefaultPrefix + ")", EnvVars: []string{"LVSNODE_REGISTER_PREFIX"}},
		&cli.StringFlag{Name: "register-ttl", Usage: "run, register: the lease: a dead agent's real server leaves within it (default " + agent.DefaultRegisterTTL.String() + ")", EnvVars: []string{"LVSNODE_REGISTER_TTL"}},
		&cli.StringFlag{Name: "register-timeout", Usage: "run, register: per etcd request (default " + etcdstore.DefaultTimeout.String() + ")", EnvVars: []string{"LVSNODE_REGISTER_TIMEOUT"}},
		&cli.StringFlag{Name: "register-ca", Usage: "run, register: CA file verifying etcd's certificate", EnvVars: []string{"LVSNODE_REGISTER_CA"}},
		&cli.StringFlag{Name: "register-cert", Usage: "run, register: client certificate file for etcd", EnvVars: []string{"LVSNODE_REGISTER_CERT"}},
		&cli.StringFlag{Name: "register-key", Usage: "run, register: its key file", EnvVars: []string{"LVSNODE_REGISTER_KEY"}},
		&cli.StringFlag{Name: "register-user", Usage: "run, register: etcd user", EnvVars: []string{"LVSNODE_REGISTER_USER"}},
		&cli.StringFlag{Name: "register-password-file", Usage: "run, register: file holding the etcd user's password", EnvVars: []string{"LVSNODE_REGISTER_PASSWORD_FILE"}},
	}
}

// loadConfig merges the file (if any) with flags and environment, flags
// winning field by field.
func loadConfig(c *cli.Context) (agent.Config, error) {
	var cfg agent.Config
	if path := c.String("config"); path != "" {
		var err error
		if cfg, err = agent.LoadFile(path); err != nil {
			return cfg, err
		}
	}
	if c.IsSet("mode") {
		cfg.Mode = agent.Value{S: c.String("mode"), Where: where(c, "mode")}
	}
	if c.IsSet("vip") {
		cfg.VIPs = values(c.StringSlice("vip"), where(c, "vip"))
	}
	if c.IsSet("interface") {
		cfg.Interfaces = values(c.StringSlice("interface"), where(c, "interface"))
	}
	if c.IsSet("tun-type") {
		cfg.TunType = agent.Value{S: c.String("tun-type"), Where: where(c, "tun-type")}
	}
	if c.IsSet("tun-port") {
		cfg.TunPort = agent.Value{S: c.String("tun-port"), Where: where(c, "tun-port")}
	}
	if c.IsSet("gateway") {
		cfg.Gateways = values(c.StringSlice("gateway"), where(c, "gateway"))
	}
	if c.IsSet("state-file") {
		cfg.StateFile = c.String("state-file")
	}
	if c.IsSet("sysctl-file") {
		cfg.SysctlFile = c.String("sysctl-file")
	}
	if c.IsSet("listen") {
		cfg.Listen = c.String("listen")
	}
	if c.IsSet("resync-interval") {
		cfg.ResyncInterval = c.Duration("resync-interval")
		cfg.ResyncWhere = where(c, "resync-interval")
	}
	if c.IsSet("teardown-on-stop") {
		cfg.TeardownOnStop = c.Bool("teardown-on-stop")
	}
	if c.IsSet("drain-on-stop") {
		cfg.DrainOnStop = c.Bool("drain-on-stop")
	}
	for _, f := range []struct {
		name string
		v    *agent.Value
	}{{"drain-timeout", &cfg.DrainTimeout}, {"drain-min-wait", &cfg.DrainMinWait}} {
		if c.IsSet(f.name) {
			*f.v = agent.Value{S: c.String(f.name), Where: where(c, f.name)}
		}
	}
	registerFlags(c, &cfg.Register)
	return cfg, nil
}

// registerFlags merges the --register-* flags over the file's register:.
func registerFlags(c *cli.Context, r *agent.RegisterConfig) {
	if c.IsSet("register-endpoint") {
		r.Endpoints = values(c.StringSlice("register-endpoint"), where(c, "register-endpoint"))
	}
	if c.IsSet("register-service") {
		r.Services = values(c.StringSlice("register-service"), where(c, "register-service"))
	}
	for _, f := range []struct {
		name string
		v    *agent.Value
	}{{"register-address", &r.Address}, {"register-prefix", &r.Prefix}, {"register-ttl", &r.TTL},
		{"register-timeout", &r.Timeout}, {"register-ca", &r.CA}, {"register-cert", &r.Cert}, {"register-key", &r.Key},
		{"register-user", &r.User}, {"register-password-file", &r.PasswordFile}} {
		if c.IsSet(f.name) {
			*f.v = agent.Value{S: c.String(f.name), Where: where(c, f.name)}
		}
	}
}

// flagGiven tells whether --name was on the command line itself, as
// opposed to coming from its LVSNODE_* variable (urfave/cli's IsSet says
// yes to both), so that errors name where a value came from.
func flagGiven(_ *cli.Context, name string) bool {
	for _, a := range os.Args[1:] {
		if a == "--" {
			break
		}
		a = strings.TrimLeft(a, "-")
		if a == name || strings.HasPrefix(a, name+"=") {
			return true
		}
	}
	return false
}

// where names where the value of flag name came from: --name, or its
// LVSNODE_* variable when the command line did not give it.
func where(c *cli.Context, name string) string {
	if flagGiven(c, name) {
		return "--" + name
	}
	return "LVSNODE_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

func values(ss []string, where string) []agent.Value {
	out := make([]agent.Value, len(ss))
	for i, s := range ss {
		out[i] = agent.Value{S: s, Where: where}
	}
	return out
}

// options validates all input; bad input exits 2 before anything changes.
func options(c *cli.Context) (agent.Options, error) {
	cfg, err := loadConfig(c)
	if err == nil {
		var o agent.Options
		if o, err = cfg.Options(); err == nil {
			return o, nil
		}
	}
	return agent.Options{}, badInput(err)
}

func badInput(err error) error {
	msg := err.Error()
	if errors.Is(err, agent.ErrBadInput) {
		msg = msg[len(agent.ErrBadInput.Error())+2:]
	}
	return cli.Exit(msg, exitBadInput)
}

func newAgent(stateFile string) (*agent.Agent, func(), error) {
	nl, err := loopback.NewKernel()
	if err != nil {
		return nil, nil, err
	}
	tun, err := tunnel.NewKernel()
	if err != nil {
		nl.Close()
		return nil, nil, err
	}
	sys, err := sysctl.New(sysctl.DefaultRoot)
	if err != nil {
		nl.Close()
		tun.Close()
		return nil, nil, err
	}
	claim, err := agent.NSClaimPath(agent.DefaultNSClaimDir)
	if err != nil {
		nl.Close()
		tun.Close()
		return nil, nil, err
	}
	return &agent.Agent{NL: nl, Tun: tun, Sys: sys, StateFile: stateFile, NSClaim: claim}, func() { nl.Close(); tun.Close() }, nil
}

func agentApply(c *cli.Context) error {
	o, err := options(c)
	if err != nil {
		return err
	}
	if err := capability.RequireNetAdmin("agent apply"); err != nil {
		return cli.Exit(err.Error(), exitBadInput)
	}
	if err := agent.CheckHolder(o.StateFile, &o); err != nil {
		return cli.Exit(err.Error(), 1) // refused: nothing changed
	}
	a, closeFn, err := newAgent(o.StateFile)
	if err != nil {
		return err
	}
	defer closeFn()
	p := agent.NewPlan(o)
	if err := a.Preflight(p); err != nil { // a mistyped --interface changes nothing
		return err
	}
	r, changes, err := a.Apply(p, o)
	for _, ch := range changes {
		fmt.Fprintln(c.App.Writer, ch)
	}
	if errors.Is(err, agent.ErrBadInput) { // found on the host (a NAT gateway), before any change
		return badInput(err)
	}
	if err != nil {
		return err
	}
	if len(changes) == 0 {
		fmt.Fprintf(c.App.Writer, "nothing to change: %s\n", r.Summary())
	} else {
		fmt.Fprintf(c.App.Writer, "applied: %s\n", r.Summary())
	}
	return nil
}
