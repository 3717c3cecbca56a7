// Package clidoc renders lvsnode's urfave/cli command tree as the documents
// an installed system tool ships: man pages (roff, section 8) and bash and
// zsh completion scripts. Everything is generated from the same *cli.App
// that parses the command line, so --help, the man pages and the
// completions cannot drift apart; text that --help does not carry (the YAML
// keys, exit statuses, examples) comes in as Sections from the caller.
// It only renders; it writes no file.
package clidoc

import (
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
)

// visible are the commands a user sees: not hidden, not urfave's help.
func visible(cmds []*cli.Command) []*cli.Command {
	var out []*cli.Command
	for _, c := range cmds {
		if !c.Hidden && c.Name != "help" {
			out = append(out, c)
		}
	}
	return out
}

// flagDoc is one flag as the documents show it.
type flagDoc struct {
	names       []string // long first ("--vip"), then the aliases ("-c")
	placeholder string   // "VALUE", "VIP:PORT"; "" for a boolean
	usage       string
	def         string
	env         []string
	repeatable  bool
}

// flags lists the visible flags of a flag set, help excluded when noHelp.
func flags(fs []cli.Flag, noHelp bool) []flagDoc {
	var out []flagDoc
	for _, f := range fs {
		if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
			continue
		}
		names := f.Names()
		if noHelp && names[0] == "help" {
			continue
		}
		d := flagDoc{}
		sort.SliceStable(names, func(i, j int) bool { return len(names[i]) > 1 && len(names[j]) == 1 })
		for _, n := range names {
			if len(n) == 1 {
				d.names = append(d.names, "-"+n)
			} else {
				d.names = append(d.names, "--"+n)
			}
		}
		if g, ok := f.(cli.DocGenerationFlag); ok {
			d.placeholder, d.usage = unquote(g.GetUsage())
			if g.TakesValue() && d.placeholder == "" {
				d.placeholder = "VALUE"
			}
			if !g.TakesValue() {
				d.placeholder = ""
			}
			d.def = strings.Trim(g.GetDefaultText(), `"`)
			d.env = g.GetEnvVars()
		}
		if s, ok := f.(cli.DocGenerationSliceFlag); ok && s.IsSliceFlag() {
			d.repeatable = true
		}
		if _, ok := f.(*cli.BoolFlag); ok {
			d.def = ""
		}
		out = append(out, d)
	}
	return out
}

// unquote takes the `PLACEHOLDER` out of a usage text, as urfave/cli's
// help does: ("VIP:PORT", "TCP virtual service VIP:PORT").
func unquote(usage string) (string, string) {
	i := strings.IndexByte(usage, '`')
	if i < 0 {
		return "", usage
	}
	j := strings.IndexByte(usage[i+1:], '`')
	if j < 0 {
		return "", usage
	}
	name := usage[i+1 : i+1+j]
	return name, usage[:i] + name + usage[i+2+j:]
}
