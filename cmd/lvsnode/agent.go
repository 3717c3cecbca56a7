package main

import "github.com/urfave/cli/v2"

// agentCommand is the real-server half.
func agentCommand() *cli.Command {
	return &cli.Command{
		Name:  "agent",
		Usage: "bind VIPs and ARP sysctls on a real server and keep them true",
	}
}
