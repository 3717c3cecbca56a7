package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/lvsnode/lvsnode/director"
	"github.com/lvsnode/lvsnode/health"
)

func ctlStatusCmd() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "what the running director daemon holds: services, real servers, health, drain, connections",
		Description: "Asks `lvsnode controller run` (GET /v1/status on its API) and prints, per\n" +
			"service, each real server's weight in IPVS next to its configured weight,\n" +
			"its health and last check, its drain state, its connections and what its\n" +
			"agent reports. A weight below the configured one is explained by HEALTH\n" +
			"(down: weight 0 until it recovers) or DRAIN. With store: type etcd it also\n" +
			"prints whether etcd answers, the revision and digest of the table held, each\n" +
			"director's (OTHER TABLE: it holds another) and the keys ignored as invalid.\n" +
			"--json prints the daemon's\n" +
			"answer as it is (the API's Status). Fails (exit 1) when no daemon answers;\n" +
			"`lvsnode controller list` shows the kernel's table without one.\n\n" +
			"   lvsnode controller status\n" +
			"   lvsnode controller status --json | jq '.services[].nodes[] | select(.health != \"up\")'\n" +
			"   lvsnode controller status --api https://director1:9111 --api-token-file /etc/lvsnode/api.token",
		Flags:        append([]cli.Flag{ctlBoolFlag("json", "", "the daemon's Status as JSON")}, ctlAPIFlags()...),
		OnUsageError: ctlUsageErr,
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return cli.Exit(fmt.Sprintf("unexpected argument %q (see: lvsnode controller status --help)", c.Args().First()), 2)
			}
			api, err := ctlAPI(c, true)
			if err != nil {
				return err
			}
			st, err := api.Status(c.Context)
			if err != nil {
				return ctlAPIErr(err)
			}
			if c.Bool("json") {
				enc := json.NewEncoder(c.App.Writer)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			now := time.Now()
			if !st.Now.IsZero() {
				now = st.Now // ages by the director's clock
			}
			return ctlPrintStatus(c.App.Writer, st, now)
		},
	}
}

// ctlPrintStatus is the human table of a Status.
func ctlPrintStatus(w io.Writer, st director.Status, now time.Time) error {
	w = cleanWriter{w}
	ready := "not ready"
	if st.Ready {
		ready = "ready"
	}
	plural := "s"
	if len(st.Services) == 1 {
		plural = ""
	}
	fmt.Fprintf(w, "Director %s, generation %d, %d service%s%s%s\n", ready, st.Generation, len(st.Services), plural, ctlSyncWarn(st.Sync), ctlStoreWarn(st.Store))
	ctlPrintSync(w, st.Sync)
	ctlPrintStore(w, st.Store, now)
	for _, s := range st.Services {
		fmt.Fprintf(w, "\n%s  %s", s.Service, s.Scheduler)
		if !s.Managed {
			fmt.Fprint(w, "  (not managed)")
		}
		fmt.Fprintf(w, "  up %d/%d", s.Up, len(s.Nodes))
		if s.Quorum > 0 {
			fmt.Fprintf(w, "  quorum %d", s.Quorum)
		}
		if s.Sorry {
			fmt.Fprint(w, "  SORRY SERVER ACTIVE")
		}
		fmt.Fprintln(w)
		if len(s.Nodes) == 0 {
			continue
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  REAL SERVER\tMETHOD\tWEIGHT\tCONF\tHEALTH\tLAST CHECK\tDRAIN\tACTIVE\tINACT\tPERSIST\tAGENT")
		for _, n := range s.Nodes {
			drain := n.Drain
			if drain != "" && drain != director.DrainNone && !n.DrainSince.IsZero() {
				drain += " " + ctlAgo(now, n.DrainSince)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", ctlNodeAddr(n.NodeRef), n.Method, n.Weight, n.ConfiguredWeight,
				n.Health, ctlCheckText(n.LastCheck, now), drain, n.ActiveConn, n.InactConn, n.PersistConn, n.Agent)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func ctlNodeAddr(r director.NodeRef) string {
	a, err := netip.ParseAddr(r.Address)
	if err != nil || r.Port == 0 {
		return r.Address
	}
	return netip.AddrPortFrom(a, r.Port).String()
}

// ctlCheckText is "ok 1.2ms 3s ago", "FAIL connection refused 1s ago" or "-".
func ctlCheckText(ch director.Check, now time.Time) string {
	if ch.At.IsZero() {
		return "-"
	}
	verdict := "ok"
	if !ch.OK {
		verdict = "FAIL"
		if ch.Reason != "" {
			verdict += " " + ch.Reason
		}
	}
	return verdict + " " + strconv.FormatFloat(ch.LatencyMS, 'f', 1, 64) + "ms " + ctlAgo(now, ch.At)
}

func ctlAgo(now, t time.Time) string {
	d := now.Sub(t)
	if d < 0 {
		d = 0
	}
	return d.Round(time.Second).String() + " ago"
}

// cleanWriter replaces control characters but \n and \t (the table's own)
// in every write: health cleans the reasons a real server sends, and this is
// the second line of defence for any other text in a Status. Each write is
// one whole fmt call, so no rune is split across writes.
type cleanWriter struct{ w io.Writer }

func (c cleanWriter) Write(p []byte) (int, error) {
	s := strings.Map(func(r rune) rune {
		if r != '\n' && r != '\t' && health.IsControl(r) {
			return utf8.RuneError
		}
		return r
	}, string(p))
	if _, err := io.WriteString(c.w, s); err != nil {
		return 0, err
	}
	return len(p), nil
}

// ctlStoreWarn flags, on the first line, a shared store this director
// cannot read: it serves its last known table.
func ctlStoreWarn(s *director.StoreStatus) string {
	if s == nil || s.Reachable {
		return ""
	}
	return ", store " + s.Backend + " UNREACHABLE"
}

// ctlPrintStore is the shared store (store: type etcd) as this director
// sees it: reachable or not and since when, the revision and digest of
// the state it holds, each director of the group's (another digest: it
// holds another table), and the keys ignored as invalid. Nothing for the
// file store.
func ctlPrintStore(w io.Writer, s *director.StoreStatus, now time.Time) {
	if s == nil {
		return
	}
	state := "reachable"
	if !s.Reachable {
		state = "UNREACHABLE"
	}
	if !s.Since.IsZero() {
		state += fmt.Sprintf(" for %s", now.Sub(s.Since).Truncate(time.Second))
	}
	fmt.Fprintf(w, "Store: %s %s, revision %d, digest %s\n", s.Backend, state, s.Revision, s.Digest)
	if !s.Reachable {
		fmt.Fprintf(w, "Store error (serving the last known table): %s\n", s.Error)
	}
	names := make([]string, 0, len(s.Directors))
	for n := range s.Directors {
		names = append(names, n)
	}
	slices.Sort(names)
	var parts []string
	for _, n := range names {
		r := s.Directors[n]
		p := fmt.Sprintf("%s at %d", n, r.Revision)
		if r.Digest != s.Digest {
			p += " (OTHER TABLE: digest " + r.Digest + ")"
		}
		parts = append(parts, p)
	}
	if len(parts) > 0 {
		fmt.Fprintf(w, "Directors: %s\n", strings.Join(parts, "; "))
	}
	keys := make([]string, 0, len(s.Invalid))
	for k := range s.Invalid {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "Store key IGNORED %s: %s\n", k, s.Invalid[k])
	}
}
