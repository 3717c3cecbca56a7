// Command lvsnode builds and keeps Linux Virtual Server clusters: the agent
// half configures real servers, the controller half programs IPVS on the
// director. This file only wires flags to packages; the logic lives in
// agent/, controller/ and the kernel-boundary packages.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	app := newApp()
	if err := app.Run(ctlPersistentArgs(os.Args)); err != nil {
		if msg := err.Error(); msg != "" {
			fmt.Fprintf(os.Stderr, "lvsnode: %s\n", msg)
		}
		os.Exit(exitCode(err))
	}
}

// newApp is the whole command tree: main runs it, `lvsnode generate`
// renders it as man pages and completion scripts.
func newApp() *cli.App {
	app := &cli.App{
		Name:    "lvsnode",
		Usage:   "set up and keep LVS (IPVS) real servers and directors",
		Version: version,
		Description: "lvsnode replaces the hand-typed LVS recipe: on each real server,\n" +
			"`lvsnode agent` binds the VIPs and sets the ARP sysctls in the right order\n" +
			"and keeps them true; on the director, `lvsnode controller` programs IPVS\n" +
			"with ipvsadm's flags and formats.",
		Commands:        []*cli.Command{agentCommand(), controllerCommand(), versionCommand(), generateCommand()},
		HideHelpCommand: true,
		ExitErrHandler:  exitErrHandler,
		OnUsageError:    usageError,
	}
	cli.VersionPrinter = func(c *cli.Context) { _ = printVersion(c, false) }
	oneLineUsageErrors(app.Commands)
	return app
}

// exitErrHandler keeps urfave/cli from exiting on its own, so every error
// goes through main's single "lvsnode: ..." line.
func exitErrHandler(*cli.Context, error) {}

// usageError turns urfave/cli's usage errors (an unknown flag, a flag or
// LVSNODE_* value that does not parse) into one line and exit status 2,
// instead of "Incorrect Usage:" followed by the whole help text.
func usageError(c *cli.Context, err error, _ bool) error {
	return cli.Exit(fmt.Sprintf("%v (see: %s --help)", err, c.Command.HelpName), 2)
}

// oneLineUsageErrors gives every command without its own handler the
// usageError one, so no command prints a help dump on bad input.
func oneLineUsageErrors(cmds []*cli.Command) {
	for _, c := range cmds {
		if c.OnUsageError == nil {
			c.OnUsageError = usageError
		}
		oneLineUsageErrors(c.Subcommands)
	}
}

// exitCode maps an error to the process exit status: errors carrying a code
// (cli.ExitCoder) keep it, anything else is 1.
func exitCode(err error) int {
	if ec, ok := err.(cli.ExitCoder); ok && ec.ExitCode() != 0 {
		return ec.ExitCode()
	}
	return 1
}
