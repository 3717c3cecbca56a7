package main

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/lvsnode/lvsnode/agent"
	"github.com/lvsnode/lvsnode/director"
	"github.com/lvsnode/lvsnode/health"
	"github.com/lvsnode/lvsnode/internal/clidoc"
	"github.com/lvsnode/lvsnode/ipvs"
)

// generateCommand is the hidden `lvsnode generate man DIR | bash | zsh`
// that `make man` and the Debian package run: the man pages and completion
// scripts come from the command tree that parses the command line.
func generateCommand() *cli.Command {
	return &cli.Command{
		Name:   "generate",
		Usage:  "write the man pages (man DIR) or a completion script (bash, zsh) to stdout",
		Hidden: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "date", Usage: "the man pages' date, YYYY-MM-DD (default: the commit's, else SOURCE_DATE_EPOCH's, else today's)"},
		},
		Action: func(c *cli.Context) error {
			switch what := c.Args().First(); {
			case what == "bash" && c.NArg() == 1:
				_, err := fmt.Fprint(c.App.Writer, clidoc.Bash(c.App, flagValues))
				return err
			case what == "zsh" && c.NArg() == 1:
				_, err := fmt.Fprint(c.App.Writer, clidoc.Zsh(c.App, flagValues))
				return err
			case what == "man" && c.NArg() == 2:
				date := c.String("date")
				if date == "" {
					date = manDate(vcsTime(), os.Getenv("SOURCE_DATE_EPOCH"), time.Now())
				}
				if _, err := time.Parse(time.DateOnly, date); err != nil {
					return cli.Exit(fmt.Sprintf("generate: --date %q: want YYYY-MM-DD", date), 2)
				}
				return writeManPages(c.App, c.Args().Get(1), date)
			}
			return cli.Exit("usage: lvsnode generate man DIR | bash | zsh", 2)
		},
	}
}

// flagValues are the enumerated flags' values, which completion offers
// after the flag: the agent's forwarding modes, the tunnel types (agent
// and controller), the schedulers of Linux 6.1 (ipvsadm's -s).
var flagValues = clidoc.Values{
	"mode":      {string(agent.ModeDR), string(agent.ModeTUN), string(agent.ModeNAT)},
	"tun-type":  {string(agent.TunIPIP), string(agent.TunGUE), string(agent.TunGRE)},
	"scheduler": ipvs.AllSchedulers,
}

// writeManPages writes NAME.8 for every page into dir.
func writeManPages(app *cli.App, dir, date string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for _, p := range manPages(app) {
		if err := os.WriteFile(filepath.Join(dir, p.Name+".8"), clidoc.Man(app, p, date, version), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// vcsTime is the time of the commit the binary was built from, as Go
// records it when building in a git checkout ("" outside one).
func vcsTime() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.time" {
				return s.Value
			}
		}
	}
	return ""
}

// manDate is the man pages' .TH date, so the pages are the same for the
// same commit: the commit's date (vcs.time), else SOURCE_DATE_EPOCH's (a
// build from a tarball, reproducible-builds.org), else now's: never empty.
func manDate(vcs, sourceDateEpoch string, now time.Time) string {
	if len(vcs) >= 10 {
		return vcs[:10]
	}
	if secs, err := strconv.ParseInt(sourceDateEpoch, 10, 64); err == nil {
		return time.Unix(secs, 0).UTC().Format(time.DateOnly)
	}
	return now.UTC().Format(time.DateOnly)
}

func findCommand(cmds []*cli.Command, name string) *cli.Command {
	for _, c := range cmds {
		if c.Name == name {
			return c
		}
	}
	panic("no command " + name)
}

// manPages are lvsnode(8), lvsnode-agent(8) and lvsnode-controller(8).
func manPages(app *cli.App) []clidoc.Page {
	agentCmd := findCommand(app.Commands, "agent")
	return []clidoc.Page{
		{
			Name: "lvsnode", Summary: app.Usage,
			Path:      "lvsnode",
			Elsewhere: map[string]string{"agent": "lvsnode-agent(8)", "controller": "lvsnode-controller(8)"},
			Sections: []clidoc.Section{
				{Title: "Exit status", Items: exitStatuses},
				{Title: "Files", Items: []clidoc.Item{
					{Term: "/usr/share/doc/lvsnode/examples/", Text: "agent.yaml and director.yaml with every setting and its reason, and cloud-init user data for DR and TUN real servers."},
				}},
				{Title: "Examples", Text: "A real server of an LVS-DR cluster, then its director:\n\n" +
					"   lvsnode agent apply --vip 10.0.0.100\n" +
					"   lvsnode controller add-node -t 10.0.0.100:80 -r 10.0.0.11 -g\n\n" +
					"The daemons, from the packaged units (installed, not enabled):\n\n" +
					"   systemctl enable --now lvsnode-agent.service\n" +
					"   systemctl enable --now lvsnode-controller.service\n\n" +
					"Completion for an interactive shell without the package:\n\n" +
					"   source <(lvsnode generate bash)"},
			},
			SeeAlso: []string{"lvsnode-agent(8)", "lvsnode-controller(8)", "ipvsadm(8)", "systemctl(1)"},
		},
		{
			Name: "lvsnode-agent", Summary: agentCmd.Usage,
			Command: agentCmd, Path: "lvsnode agent",
			Sections: []clidoc.Section{
				{Title: "Configuration file", Text: "The file given with --config (the unit uses /etc/lvsnode/agent.yaml) is YAML; " +
					"each key is a flag's long name, flags and LVSNODE_* variables override it key by key. " +
					"An unknown key, a second YAML document or a bad value is refused with file:line, exit status 2.",
					Items: agentYAMLItems(agentCmd)},
				{Title: "Exit status", Items: exitStatuses},
				{Title: "Files", Items: []clidoc.Item{
					{Term: "/etc/lvsnode/agent.yaml", Text: "the configuration (an example: /usr/share/doc/lvsnode/examples/agent.yaml)."},
					{Term: "/var/lib/lvsnode/agent-state.json", Text: "what lvsnode changed and the sysctl values from before, for teardown (--state-file)."},
					{Term: "/var/lib/lvsnode/agent-state.json.sock", Text: "the daemon's control socket (mode 0600) for agent drain, undrain and status."},
					{Term: "/lib/systemd/system/lvsnode-agent.service", Text: "the unit (Type=notify, watchdog, CAP_NET_ADMIN only); not enabled by the package."},
				}},
				{Title: "Examples", Text: "DR, TUN with GUE, and NAT real servers:\n\n" +
					"   lvsnode agent apply --vip 10.0.0.100 --vip fd00::100\n" +
					"   lvsnode agent apply --mode tun --tun-type gue --tun-port 6080 --vip 10.0.0.100\n" +
					"   lvsnode agent apply --mode nat --gateway 10.0.0.2\n\n" +
					"Check for drift, drain before maintenance, undo everything:\n\n" +
					"   lvsnode agent status --json\n" +
					"   lvsnode agent drain --timeout 5m --wait\n" +
					"   lvsnode agent teardown"},
			},
			SeeAlso: []string{"lvsnode(8)", "lvsnode-controller(8)", "systemd.service(5)", "ip-address(8)"},
		},
		{
			Name: "lvsnode-controller", Summary: findCommand(app.Commands, "controller").Usage,
			Command: findCommand(app.Commands, "controller"), Path: "lvsnode controller",
			Sections: []clidoc.Section{
				{Title: "Configuration file", Text: "controller run reads the YAML file given with --config " +
					"(default /etc/lvsnode/director.yaml); /usr/share/doc/lvsnode/examples/director.yaml " +
					"documents every key with its default and reason. Unknown keys and bad values are refused " +
					"with file:line, exit status 2; controller run --check validates without changing anything. " +
					"The keys, each top-level one with the keys under it:",
					Items: directorYAMLItems()},
				{Title: "Exit status", Items: exitStatuses},
				{Title: "Files", Items: []clidoc.Item{
					{Term: "/etc/lvsnode/director.yaml", Text: "the daemon's configuration."},
					{Term: "/var/lib/lvsnode/director.json", Text: "the daemon's state: desired services, health and drains (state_file)."},
					{Term: "/run/lvsnode/director.sock", Text: "the runtime API (mode 0600) that status, add-node and drain-node use while the daemon runs."},
					{Term: "/run/lvsnode/controller.INODE.lock", Text: "the IPVS table lock of a network namespace, shared by every command and the daemon."},
					{Term: "/lib/systemd/system/lvsnode-controller.service", Text: "the unit (Type=notify, watchdog); not enabled by the package."},
				}},
				{Title: "Examples", Text: "A DR service with two real servers, listed as ipvsadm -Ln does:\n\n" +
					"   lvsnode controller add-node -t 10.0.0.100:80 -r 10.0.0.11 -g\n" +
					"   lvsnode controller add-node -t 10.0.0.100:80 -r 10.0.0.12 -g -w 2\n" +
					"   lvsnode controller list\n\n" +
					"Remove one gracefully, then keep the table as a file:\n\n" +
					"   lvsnode controller drain-node -t 10.0.0.100:80 -r 10.0.0.11 --timeout 2m\n" +
					"   lvsnode controller save > /etc/lvsnode/ipvs.rules\n" +
					"   lvsnode controller restore --dry-run < /etc/lvsnode/ipvs.rules"},
			},
			SeeAlso: []string{"lvsnode(8)", "lvsnode-agent(8)", "ipvsadm(8)"},
		},
	}
}

// exitStatuses is the contract every lvsnode command keeps.
var exitStatuses = []clidoc.Item{
	{Term: "0", Text: "success; for a change, the kernel was read back and matches."},
	{Term: "1", Text: "failure: drift found (agent status), a kernel refusal, IPVS missing, a refusal because a daemon holds the host, restore --dry-run with changes pending."},
	{Term: "2", Text: "bad input: one line naming the flag, variable or file:line; nothing was changed."},
}

// agentYAMLKeys maps each agent flag to its key in the YAML file; config
// has none. The package's tests check every key against agent.LoadFile.
var agentYAMLKeys = map[string]string{
	"vip": "vips", "interface": "interfaces", "gateway": "gateways",
	"mode": "mode", "tun-type": "tun-type", "tun-port": "tun-port",
	"state-file": "state-file", "sysctl-file": "sysctl-file", "listen": "listen",
	"resync-interval": "resync-interval", "teardown-on-stop": "teardown-on-stop",
	"drain-on-stop": "drain: {on-stop}", "drain-timeout": "drain: {timeout}", "drain-min-wait": "drain: {min-wait}",
	"register-endpoint": "register: {endpoints}", "register-address": "register: {address}",
	"register-service": "register: {services}", "register-prefix": "register: {prefix}", "register-ttl": "register: {ttl}",
	"register-timeout": "register: {timeout}", "register-ca": "register: {ca}", "register-cert": "register: {cert}",
	"register-key": "register: {key}", "register-user": "register: {user}", "register-password-file": "register: {password-file}",
}

// agentYAMLItems lists the YAML keys in the order of agent run's flags,
// with each flag's usage, so the list cannot miss a flag.
func agentYAMLItems(agentCmd *cli.Command) []clidoc.Item {
	var items []clidoc.Item
	for _, f := range findCommand(agentCmd.Subcommands, "run").Flags {
		name := f.Names()[0]
		if name == "config" || name == "help" {
			continue
		}
		key, ok := agentYAMLKeys[name]
		if !ok {
			panic("agentYAMLKeys lacks --" + name)
		}
		usage := ""
		if g, ok := f.(cli.DocGenerationFlag); ok {
			usage = g.GetUsage()
		}
		if strings.HasSuffix(key, "s") && strings.HasSuffix(name, key[:len(key)-1]) && key != name {
			usage += " (a YAML list)"
		}
		items = append(items, clidoc.Item{Term: key, Text: fmt.Sprintf("--%s: %s.", name, usage)})
	}
	return items
}

// directorYAMLWhy says what each top-level key of director.yaml is for;
// the keys under it are generated from the config structs' yaml tags
// (directorYAMLItems), so the page lists every key.
var directorYAMLWhy = map[string]string{
	"state_file": "where the daemon keeps desired state, health and drains (default /var/lib/lvsnode/director.json).",
	"metrics":    "address of the Prometheus /metrics and /readyz listener (default 127.0.0.1:9110).",
	"lock_file":  "the IPVS table lock shared with the one-shot commands (change it only for tests).",
	"lock_wait":  "how long to wait for that lock.",
	"resync":     "how often the kernel is re-read to repair drift in the managed services.",
	"drain":      "defaults for drains.",
	"sysctls":    "whether the daemon sets the IPVS sysctls it needs (expire_nodest_conn, expire_quiescent_template, accept_local for data-path checks).",
	"datapath":   "the fwmark range the data-path checks own.",
	"api":        "the runtime API: the unix socket (default /run/lvsnode/director.sock), and a TCP listener with a token file and TLS.",
	"store":      "where the desired state lives: file (default: state_file, one director) or etcd, shared by every director of a group and the agents that register themselves.",
	"services": "the managed virtual services, each with its real servers (nodes; sorry is the one used when none is up). " +
		"Under store: etcd they only seed the shared state: at start and reload the keys the prefix lacks are created " +
		"(on a first start, without a state file, only for services the prefix lacks whole); " +
		"one that exists is never overwritten and one dropped from the file is never deleted (remove-node, etcdctl del); " +
		"disagreements are logged and reported (status store.file_conflicts, lvsnode_store_file_conflicts).",
}

// healthType is the check: and agent: of services and nodes, listed
// once as its own item.
var healthType = reflect.TypeOf(health.Definition{})

// directorYAMLItems are director.Config's keys, each top-level one with
// every key under it (generated from the yaml tags, recursively), then the
// keys of a health check.
func directorYAMLItems() []clidoc.Item {
	cfg := reflect.TypeOf(director.Config{})
	named := map[reflect.Type]bool{healthType: true}
	var items []clidoc.Item
	for i := 0; i < cfg.NumField(); i++ {
		f := cfg.Field(i)
		key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || key == "" || key == "-" {
			continue
		}
		text, ok := directorYAMLWhy[key]
		if !ok {
			text = "see /usr/share/doc/lvsnode/examples/director.yaml."
		}
		elem := f.Type
		if elem.Kind() == reflect.Slice {
			elem = elem.Elem()
		}
		if sub := clidoc.YAMLKeys(elem, named); sub != "" {
			if f.Type.Kind() == reflect.Slice {
				sub = "[{" + sub + "}]"
			}
			text += " Keys: " + sub + "."
		}
		items = append(items, clidoc.Item{Term: key, Text: text})
	}
	return append(items, clidoc.Item{Term: "check, agent",
		Text: "a health check, on a service (inherited by its nodes) or a node; agent: probes the lvsnode agent's /readyz on the real server. Keys: " +
			clidoc.YAMLKeys(healthType, nil) + "."})
}
