package main

// Routing of add-node, edit-node, remove-node and drain-node through a
// running `lvsnode controller run`: while its socket answers, the request
// goes to the daemon (which persists it and keeps the reconcile loop from
// undoing it); otherwise the command programs the kernel as before.

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/lvsnode/lvsnode/controller"
	"github.com/lvsnode/lvsnode/director"
	"github.com/lvsnode/lvsnode/ipvs"
)

// ctlAPIDefault is where the CLI looks for a daemon when --api is not
// given (tests point it at a temp dir).
var ctlAPIDefault = director.DefaultSocket

// ctlAPIFlags select the daemon. They are on every command that can use it.
func ctlAPIFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "api", EnvVars: ctlEnv("api"), Usage: "the director daemon's API: a socket `PATH`, https://HOST:PORT, or \"none\" to " +
			"program the kernel directly (default: " + director.DefaultSocket + " when a daemon answers there)"},
		&cli.StringFlag{Name: "api-token-file", EnvVars: ctlEnv("api-token-file"), Usage: "bearer token `FILE` for an https:// (TCP) API; not readable by others"},
		&cli.StringFlag{Name: "api-ca-file", EnvVars: ctlEnv("api-ca-file"), Usage: "PEM `FILE` of the CA that signed the API's TLS certificate (default: the system's)"},
	}
}

// ctlViaAPI gives cmd the API flags and makes it send its request to a
// running daemon when one answers (route), else run as before. route
// validates the command line itself, so bad input fails the same way
// (exit 2) whichever path is taken.
func ctlViaAPI(cmd *cli.Command, route func(*cli.Context, *director.APIClient) error) *cli.Command {
	cmd.Flags = append(cmd.Flags, ctlAPIFlags()...)
	direct := cmd.Action
	cmd.Action = func(c *cli.Context) error {
		api, err := ctlAPI(c, false)
		if err != nil {
			return err
		}
		if api == nil {
			return direct(c)
		}
		return ctlAPIErr(route(c, api))
	}
	cmd.Description += "\n\nWhile `lvsnode controller run` answers on " + director.DefaultSocket + " (or --api),\n" +
		"the request goes to it: the daemon writes IPVS and keeps the change across\n" +
		"restarts. Without a daemon the kernel is programmed directly; --api=none\n" +
		"forces that (for services the daemon does not manage)."
	return cmd
}

// ctlAPI returns a client for the daemon, or nil when the kernel is to be
// programmed directly: --api=none, or no --api and nothing answering on
// the default socket. A daemon named with --api (or required, as status
// requires it) that does not answer is an error (exit 1).
func ctlAPI(c *cli.Context, required bool) (*director.APIClient, error) {
	addr := c.String("api")
	if addr == "none" {
		if required {
			return nil, cli.Exit("--api=none: this command needs the director daemon", 2)
		}
		return nil, nil
	}
	named := addr != ""
	if !named {
		addr = ctlAPIDefault
	}
	api, err := director.NewAPIClient(addr, director.APIClientOptions{TokenFile: c.String("api-token-file"), CAFile: c.String("api-ca-file")})
	if err != nil {
		return nil, ctlAPIErr(err)
	}
	ok, err := api.Answers(c.Context)
	if err != nil {
		return nil, fmt.Errorf("%w (the director daemon may be running: run as root, or give --api=none to program the kernel directly)", err)
	}
	if !ok {
		if named || required {
			return nil, fmt.Errorf("no director daemon answers on %s (start one: lvsnode controller run)", addr)
		}
		return nil, nil
	}
	return api, nil
}

// ctlAPIErr keeps the CLI's exit statuses across the socket: bad input
// (400) is 2, a refusal (404, 409, 401) or failure is 1.
func ctlAPIErr(err error) error {
	var ec cli.ExitCoder
	switch {
	case err == nil, errors.As(err, &ec):
		return err
	case errors.Is(err, director.ErrInvalid):
		return cli.Exit(err.Error(), 2)
	case errors.Is(err, director.ErrNotManaged):
		return fmt.Errorf("%w (the daemon leaves it alone; to program the kernel directly: --api=none)", err)
	}
	return err
}

func ctlNodeRef(s controller.Spec) director.NodeRef {
	return director.NodeRef{Service: director.ServiceName(s.Service), Address: s.Real.Addr.String(), Port: s.Real.Port}
}

// ctlAPISpec parses the command line as the direct path does, and refuses
// what the API cannot carry: service settings belong to the daemon's
// configuration, and so does forwarding.
func ctlAPISpec(c *cli.Context) (controller.Spec, error) {
	s, err := ctlSpec(c)
	if err != nil {
		return s, err
	}
	if !s.HasReal {
		return s, cli.Exit(c.Command.Name+" needs a real server (-r RIP[:PORT])", 2)
	}
	if s.Scheduler != "" || s.Persistent != nil || s.Netmask != nil || s.PEName != nil || s.OnePacket || s.SchedFlags != 0 {
		return s, cli.Exit("service options (-s -p -M --pe -o -b) are the director daemon's configuration: set them in its "+
			"config file, or program the kernel directly with --api=none", 2)
	}
	if c.Bool("enable-forwarding") {
		return s, cli.Exit("--enable-forwarding: the director daemon checks forwarding for its NAT services itself; give it without --enable-forwarding, or use --api=none", 2)
	}
	return s, nil
}

func ctlMethod(f ipvs.Forward) string {
	switch f {
	case ipvs.Tunnel:
		return "tun"
	case ipvs.Masq:
		return "nat"
	}
	return "dr"
}

func ctlCsum(f ipvs.TunnelFlags) string {
	switch f {
	case ipvs.Csum:
		return "csum"
	case ipvs.RemCsum:
		return "remcsum"
	}
	return "none"
}

// ctlPatch is the API edit of the options the command line gave.
func ctlPatch(s controller.Spec) (director.NodePatch, bool) {
	p := director.NodePatch{NodeRef: ctlNodeRef(s), Weight: s.Weight, Upper: s.Upper, Lower: s.Lower}
	if s.Forward != nil {
		p.Method = ptrTo(ctlMethod(*s.Forward))
	}
	if s.TunType != nil {
		p.TunType = ptrTo(s.TunType.String())
	}
	if s.TunPort != 0 {
		p.TunPort = ptrTo(s.TunPort)
	}
	if s.TunFlags != nil {
		p.TunCsum = ptrTo(ctlCsum(*s.TunFlags))
	}
	given := p.Weight != nil || p.Upper != nil || p.Lower != nil || p.Method != nil || p.TunType != nil || p.TunPort != nil || p.TunCsum != nil
	return p, given
}

func ptrTo[T any](v T) *T { return &v }

// ctlAddNodeAPI: POST the real server; if the daemon already has it, PATCH
// the options given, as add-node does on the kernel (idempotent, and it
// keeps what the command line does not name).
func ctlAddNodeAPI(c *cli.Context, api *director.APIClient) error {
	s, err := ctlAPISpec(c)
	if err != nil {
		return err
	}
	p, given := ctlPatch(s)
	n := director.Node{NodeRef: p.NodeRef, Weight: s.Weight}
	if p.Method != nil {
		n.Method = *p.Method
	}
	if p.TunType != nil {
		n.TunType = *p.TunType
	}
	n.TunPort = s.TunPort
	if p.TunCsum != nil {
		n.TunCsum = *p.TunCsum
	}
	if s.Upper != nil {
		n.Upper = *s.Upper
	}
	if s.Lower != nil {
		n.Lower = *s.Lower
	}
	err = api.AddNode(c.Context, n)
	switch {
	case err == nil:
		fmt.Fprintf(c.App.Writer, "added real server %s to %s (through the director at %s)\n", s.Real, s.Service, api.Addr())
		return nil
	case !errors.Is(err, director.ErrExists):
		return err
	case !given:
		fmt.Fprintf(c.App.Writer, "unchanged: real server %s of %s (the director has it)\n", s.Real, s.Service)
		return nil
	}
	if err := api.EditNode(c.Context, p); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "edited real server %s of %s (through the director at %s)\n", s.Real, s.Service, api.Addr())
	return nil
}

func ctlEditNodeAPI(c *cli.Context, api *director.APIClient) error {
	s, err := ctlAPISpec(c)
	if err != nil {
		return err
	}
	p, _ := ctlPatch(s) // nothing given: the daemon still says whether it has the real server
	if err := api.EditNode(c.Context, p); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "edited real server %s of %s (through the director at %s)\n", s.Real, s.Service, api.Addr())
	return nil
}

func ctlRemoveNodeAPI(c *cli.Context, api *director.APIClient) error {
	s, err := ctlAPISpec(c)
	if err != nil {
		return err
	}
	if err := api.RemoveNode(c.Context, ctlNodeRef(s)); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "removed real server %s from %s (through the director at %s)\n", s.Real, s.Service, api.Addr())
	return nil
}
