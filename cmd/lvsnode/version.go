package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/lvsnode/lvsnode/internal/versioninfo"
	"github.com/lvsnode/lvsnode/ipvs"
)

// versionCommand is `lvsnode version`; `lvsnode --version` prints the same.
func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print lvsnode's version, its Go version and the kernel's IPVS version",
		Description: "The IPVS version is what the running kernel reports over generic netlink\n" +
			"(as ipvsadm's first line); without IPVS or without CAP_NET_ADMIN the line\n" +
			"says \"IPVS: not available\" and why, and the exit status is still 0.",
		Flags: []cli.Flag{&cli.BoolFlag{Name: "json", Usage: "machine-readable output", EnvVars: []string{"LVSNODE_JSON"}}},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cli.Exit(fmt.Sprintf("version: unexpected argument %q (it takes only --json)", c.Args().First()), 2)
			}
			return printVersion(c, c.Bool("json"))
		},
	}
}

func printVersion(c *cli.Context, asJSON bool) error {
	in := versioninfo.Collect(version, ipvs.New)
	if asJSON {
		return in.WriteJSON(c.App.Writer)
	}
	return in.WriteText(c.App.Writer)
}
