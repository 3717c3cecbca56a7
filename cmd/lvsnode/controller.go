package main

import "github.com/urfave/cli/v2"

// controllerCommand is the director half. Its subcommands are added by the
// controller package wiring (issue "Director controller").
func controllerCommand() *cli.Command {
	return &cli.Command{
		Name:  "controller",
		Usage: "program IPVS on the director (ipvsadm's flags and formats)",
	}
}
