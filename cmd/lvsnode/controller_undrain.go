package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// ctlUndrainNodeCmd ends a drain through the director daemon. ipvsadm has
// no such word (a weight is all the kernel knows), so the name pairs it
// with drain-node and the help says what it does to the weight.
func ctlUndrainNodeCmd() *cli.Command {
	flags := ctlFlags(ctlTargetOnly(ctlFlags(ctlServiceFlags(), []cli.Flag{ctlStrFlag("real-server", "r", "real server `RIP[:PORT]`")})), []cli.Flag{
		&cli.BoolFlag{Name: "all-services", Usage: "undrain the real server (-r RIP, or RIP:PORT for one port) in every service the daemon drains it from (command line only)"},
	}, ctlAPIFlags())
	return &cli.Command{
		Name:   "undrain-node",
		Before: ctlRefuseEnvTargets,
		Usage:  "end a drain (drain-node's, or a drain the daemon parked): the real server gets its configured weight back",
		Description: "Undoes drain-node through the director daemon (`lvsnode controller run`):\n" +
			"the drain ends, whether it is still waiting, parked at weight 0 (drain-node\n" +
			"--keep) or drained, and the real server returns to its configured weight\n" +
			"while its health check says up (weight 0 while it is down). The daemon\n" +
			"saves it before answering, so it survives a restart. A drain the agent\n" +
			"started (agent drain, or its SIGTERM) ends by itself when the agent is\n" +
			"ready again. ipvsadm has no undrain: the kernel knows only weights, and\n" +
			"only the daemon remembers the configured one; without a daemon, set it\n" +
			"back with edit-node -w WEIGHT. Fails (exit 1) when no daemon answers, or\n" +
			"when the daemon does not have the real server.\n\n" +
			"   lvsnode controller undrain-node -t 10.0.0.100:80 -r 10.0.0.11\n" +
			"   lvsnode controller undrain-node --all-services -r 10.0.0.11",
		Flags:        flags,
		OnUsageError: ctlUsageErr,
		Action: func(c *cli.Context) error {
			ref, err := ctlDrainRef(c) // bad input is exit 2 whether a daemon answers or not
			if err != nil {
				return err
			}
			api, err := ctlAPI(c, true)
			if err != nil {
				return err
			}
			if err := api.Undrain(c.Context, ref); err != nil {
				return ctlAPIErr(err)
			}
			fmt.Fprintf(c.App.Writer, "undrained %s (through the director at %s): back to its configured weight while its check says up\n", ref, api.Addr())
			return nil
		},
	}
}
