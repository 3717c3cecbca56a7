package clidoc

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// Page is one man page: the command it documents and the text --help does
// not carry.
type Page struct {
	Name     string       // "lvsnode-agent": the page's name, file NAME.8
	Summary  string       // the NAME line after the dash
	Command  *cli.Command // the command documented; nil: the app itself
	Path     string       // how the command is typed: "lvsnode agent"
	Sections []Section    // after COMMANDS and OPTIONS, in this order
	SeeAlso  []string     // "ipvsadm(8)"
	// Elsewhere names the commands documented on a page of their own
	// ("agent": "lvsnode-agent(8)"): listed here by name and usage only.
	Elsewhere map[string]string
}

// Section is extra text. Text is paragraphs separated by blank lines; a
// line indented by spaces belongs to a literal block (commands, YAML).
// Items, when given, follow Text as a tagged list (term, then its text).
type Section struct {
	Title string
	Text  string
	Items []Item
}

// Item is one entry of a tagged list: an option, a YAML key, an exit status.
type Item struct{ Term, Text string }

// Man renders p as a roff man page of section 8 for app, dated date
// ("2026-11-22") and marked with version. The output uses only the man(7)
// macros and renders without warnings under `man --warnings -l`.
func Man(app *cli.App, p Page, date, version string) []byte {
	var w roff
	w.macro("TH", strings.ToUpper(p.Name), "8", date, "lvsnode "+version, "System Administration")
	w.macro("nh")  // option and variable names must not be hyphenated
	w.raw(".ad l") // nor stretched: long paths and URLs stay readable
	w.macro("SH", "NAME")
	w.text(p.Name + " - " + p.Summary)
	var desc string
	var subs []*cli.Command
	var own []cli.Flag
	if p.Command == nil {
		desc, subs, own = app.Description, visible(app.Commands), app.Flags
	} else {
		desc, subs, own = p.Command.Description, visible(p.Command.Subcommands), p.Command.Flags
	}
	w.macro("SH", "SYNOPSIS")
	if len(subs) == 0 {
		w.synopsis(p.Path, own, "")
	}
	for _, c := range subs {
		args := c.ArgsUsage
		if _, ok := p.Elsewhere[c.Name]; ok {
			args = "COMMAND ..."
		}
		w.synopsis(p.Path+" "+c.Name, c.Flags, args)
	}
	w.macro("SH", "DESCRIPTION")
	if p.Command != nil {
		w.text(p.Command.Usage + ".")
	} else {
		w.text(app.Usage + ".")
	}
	w.block(desc)
	if len(subs) > 0 {
		w.macro("SH", "COMMANDS")
		for _, c := range subs {
			if ref, ok := p.Elsewhere[c.Name]; ok {
				w.macro("SS", p.Path+" "+c.Name)
				w.text(c.Usage + "; see " + ref + ".")
				continue
			}
			w.command(p.Path, c)
		}
	}
	if fl := flags(own, true); len(fl) > 0 {
		w.macro("SH", "OPTIONS")
		w.flagList(fl)
	}
	for _, s := range p.Sections {
		w.macro("SH", strings.ToUpper(s.Title))
		w.block(s.Text)
		for _, it := range s.Items {
			w.macro("TP")
			w.raw(`\fB` + escapeLine(it.Term) + `\fR`)
			w.text(it.Text)
		}
	}
	if len(p.SeeAlso) > 0 {
		w.macro("SH", "SEE ALSO")
		refs := make([]string, len(p.SeeAlso))
		for i, r := range p.SeeAlso {
			name, sec, _ := strings.Cut(strings.TrimSuffix(r, ")"), "(")
			refs[i] = `\fB` + escape(name) + `\fR(` + sec + `)`
		}
		w.raw(strings.Join(refs, ",\n"))
	}
	return []byte(w.String())
}

// command documents one subcommand (and, recursively, its subcommands).
func (w *roff) command(parent string, c *cli.Command) {
	path := parent + " " + c.Name
	w.macro("SS", path)
	w.text(c.Usage + ".")
	if c.UsageText != "" {
		w.block(indent(c.UsageText))
	}
	w.block(c.Description)
	if fl := flags(c.Flags, true); len(fl) > 0 {
		w.macro("PP")
		w.text("Options:")
		w.flagList(fl)
	}
	for _, s := range visible(c.Subcommands) {
		w.command(path, s)
	}
}

func (w *roff) synopsis(path string, fs []cli.Flag, args string) {
	w.macro("PP")
	line := `\fB` + escape(path) + `\fR`
	if len(flags(fs, true)) > 0 {
		line += ` [\fIOPTIONS\fR]`
	}
	if args != "" {
		line += " " + escape(args)
	}
	w.raw(line)
}

func (w *roff) flagList(fl []flagDoc) {
	for _, f := range fl {
		w.macro("TP")
		var names []string
		for _, n := range f.names {
			s := `\fB` + escape(n) + `\fR`
			if f.placeholder != "" {
				s += ` \fI` + escape(f.placeholder) + `\fR`
			}
			names = append(names, s)
		}
		w.raw(strings.Join(names, ", "))
		text := f.usage
		if f.repeatable && !strings.Contains(text, "repeatable") {
			text += "; repeatable"
		}
		if f.def != "" {
			text += fmt.Sprintf(" (default %s)", f.def)
		}
		if len(f.env) > 0 {
			text += ". Environment: " + strings.Join(f.env, ", ")
		}
		w.text(text + ".")
	}
}

func indent(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = "   " + l
	}
	return strings.Join(lines, "\n")
}

// roff builds the page text.
type roff struct{ strings.Builder }

func (w *roff) macro(name string, args ...string) {
	w.WriteString("." + name)
	for _, a := range args {
		w.WriteString(` "` + strings.ReplaceAll(escape(a), `"`, `\(dq`) + `"`)
	}
	w.WriteString("\n")
}

// raw writes a line that is already roff.
func (w *roff) raw(s string) { w.WriteString(s + "\n") }

// text writes one paragraph of plain text, escaped, as filled lines.
func (w *roff) text(s string) {
	for _, l := range strings.Split(s, "\n") {
		l = strings.TrimSpace(l)
		if l != "" {
			w.WriteString(escapeLine(l) + "\n")
		}
	}
}

// block writes Section-style text: paragraphs, and indented lines as
// literal blocks (no filling, no adjusting).
func (w *roff) block(s string) {
	s = strings.Trim(s, "\n")
	if strings.TrimSpace(s) == "" {
		return
	}
	lines := strings.Split(s, "\n")
	for i := 0; i < len(lines); {
		switch {
		case strings.TrimSpace(lines[i]) == "":
			i++
		case strings.HasPrefix(lines[i], " "):
			w.macro("IP")
			w.macro("nf")
			for ; i < len(lines) && (strings.HasPrefix(lines[i], " ") || strings.TrimSpace(lines[i]) == ""); i++ {
				if strings.TrimSpace(lines[i]) == "" {
					if i+1 < len(lines) && strings.HasPrefix(lines[i+1], " ") {
						w.raw("")
						continue
					}
					break
				}
				w.raw(escapeLine(strings.TrimPrefix(lines[i], "  ")))
			}
			w.macro("fi")
		default:
			w.macro("PP")
			var para []string
			for ; i < len(lines) && strings.TrimSpace(lines[i]) != "" && !strings.HasPrefix(lines[i], " "); i++ {
				para = append(para, lines[i])
			}
			w.text(strings.Join(para, "\n"))
		}
	}
}

// escapeLine escapes a whole output line: a line starting with . or ' would
// be a request.
func escapeLine(s string) string {
	s = escape(s)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}

// escape makes text literal for roff: backslashes, minus signs (so options
// copy and paste as ASCII hyphen-minus), and any non-ASCII rune as \[uXXXX].
func escape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\e`)
		case r == '-':
			b.WriteString(`\-`)
		case r > 126:
			fmt.Fprintf(&b, `\[u%04X]`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
