package clidoc

import (
	"fmt"
	"sort"
	"strings"

	"github.com/urfave/cli/v2"
)

// node is one command of the tree as the completion scripts see it.
type node struct {
	path  string // "" for the app, "controller", "controller add-node"
	subs  []*cli.Command
	flags []flagDoc
}

// helpFlag is the --help urfave/cli adds to every command when it runs
// it (so it is not yet in an unrun command's Flags).
var helpFlag = flagDoc{names: []string{"--help", "-h"}, usage: "show help"}

// withHelp adds --help to a command's flags unless it has it or hides it.
func withHelp(fs []flagDoc, hide bool) []flagDoc {
	for _, f := range fs {
		if f.names[0] == "--help" {
			return fs
		}
	}
	if hide {
		return fs
	}
	return append(fs, helpFlag)
}

// walk lists every command path of the app, the app first.
func walk(app *cli.App) []node {
	out := []node{{path: "", subs: visible(app.Commands), flags: withHelp(flags(app.Flags, false), app.HideHelp)}}
	var rec func(prefix string, cmds []*cli.Command)
	rec = func(prefix string, cmds []*cli.Command) {
		for _, c := range visible(cmds) {
			p := strings.TrimPrefix(prefix+" "+c.Name, " ")
			out = append(out, node{path: p, subs: visible(c.Subcommands), flags: withHelp(flags(c.Flags, false), c.HideHelp)})
			rec(p, c.Subcommands)
		}
	}
	rec("", app.Commands)
	return out
}

func (n node) subNames() string {
	var s []string
	for _, c := range n.subs {
		s = append(s, c.Name)
		s = append(s, c.Aliases...)
	}
	return strings.Join(s, " ")
}

func (n node) flagNames() string {
	var s []string
	for _, f := range n.flags {
		s = append(s, f.names...)
	}
	sort.Strings(s)
	return strings.Join(s, " ")
}

// shq quotes s for a POSIX shell's single quotes.
func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// Values are the values of enumerated flags, by long name without the
// dashes ("mode": dr, tun, nat): completion offers them after any name of
// that flag. urfave/cli has no enumerated flags, so the caller says.
type Values map[string][]string

// valueTable is each command's enumerated flags: "PATH FLAG" -> values.
func valueTable(app *cli.App, values Values) [][2]string {
	var rows [][2]string
	for _, n := range walk(app) {
		for _, f := range n.flags {
			v := values[strings.TrimPrefix(f.names[0], "--")]
			if len(v) == 0 || f.placeholder == "" {
				continue
			}
			for _, name := range f.names {
				rows = append(rows, [2]string{strings.TrimPrefix(n.path+" "+name, " "), strings.Join(v, " ")})
			}
		}
	}
	return rows
}

// Bash is the bash completion script for app (named app.Name): subcommands
// at every level, then the flags of the command typed so far, and after an
// enumerated flag its values; anything else (another flag's value)
// completes file names. Install it as
// /usr/share/bash-completion/completions/NAME.
func Bash(app *cli.App, values Values) string {
	var b strings.Builder
	name := strings.ReplaceAll(app.Name, "-", "_")
	fmt.Fprintf(&b, "# bash completion for %s; generated from its command tree (%s generate bash).\n\n", app.Name, app.Name)
	table := func(fn string, get func(node) string) {
		fmt.Fprintf(&b, "_%s_%s() {\n\tcase $1 in\n", name, fn)
		for _, n := range walk(app) {
			if v := get(n); v != "" {
				fmt.Fprintf(&b, "\t%s) echo %s ;;\n", shq(n.path), shq(v))
			}
		}
		b.WriteString("\tesac\n}\n\n")
	}
	table("subcommands", node.subNames)
	table("flags", func(n node) string { return n.flagNames() })
	fmt.Fprintf(&b, "_%s_values() {\n\tcase $1 in\n", name)
	for _, r := range valueTable(app, values) {
		fmt.Fprintf(&b, "\t%s) echo %s ;;\n", shq(r[0]), shq(r[1]))
	}
	b.WriteString("\tesac\n}\n\n")
	// Only leaf commands have flags with values, so a value never stands
	// where a subcommand name would be taken for one.
	fmt.Fprintf(&b, `_%[1]s() {
	local cur=${COMP_WORDS[COMP_CWORD]} path= w i v
	for ((i = 1; i < COMP_CWORD; i++)); do
		w=${COMP_WORDS[i]}
		[[ $w != -* && " $(_%[1]s_subcommands "$path") " == *" $w "* ]] && path=${path:+$path }$w
	done
	COMPREPLY=()
	if ((COMP_CWORD > 1)) && v=$(_%[1]s_values "${path:+$path }${COMP_WORDS[COMP_CWORD-1]}") && [[ -n $v ]]; then
		COMPREPLY=($(compgen -W "$v" -- "$cur"))
	elif [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$(_%[1]s_flags "$path")" -- "$cur"))
	else
		COMPREPLY=($(compgen -W "$(_%[1]s_subcommands "$path")" -- "$cur"))
	fi
}
complete -o default -F _%[1]s %[2]s
`, name, app.Name)
	return b.String()
}

// Zsh is the zsh completion script for app, the same tree as Bash with
// each command's and flag's usage as its description. Install it as
// /usr/share/zsh/vendor-completions/_NAME.
func Zsh(app *cli.App, values Values) string {
	var b strings.Builder
	name := strings.ReplaceAll(app.Name, "-", "_")
	fmt.Fprintf(&b, "#compdef %s\n# zsh completion for %s; generated from its command tree (%s generate zsh).\n\n", app.Name, app.Name, app.Name)
	fmt.Fprintf(&b, "_%s_subcommands() {\n\tcase $1 in\n", name)
	for _, n := range walk(app) {
		if len(n.subs) == 0 {
			continue
		}
		var items []string
		for _, c := range n.subs {
			items = append(items, shq(c.Name+":"+zdesc(c.Usage)))
		}
		fmt.Fprintf(&b, "\t%s) reply=(%s) ;;\n", shq(n.path), strings.Join(items, " "))
	}
	b.WriteString("\t*) reply=() ;;\n\tesac\n}\n\n")
	fmt.Fprintf(&b, "_%s_flags() {\n\tcase $1 in\n", name)
	for _, n := range walk(app) {
		var items []string
		for _, f := range n.flags {
			for _, fn := range f.names {
				items = append(items, shq(zesc(fn)+":"+zdesc(f.usage)))
			}
		}
		if len(items) > 0 {
			fmt.Fprintf(&b, "\t%s) reply=(%s) ;;\n", shq(n.path), strings.Join(items, " "))
		}
	}
	b.WriteString("\t*) reply=() ;;\n\tesac\n}\n\n")
	fmt.Fprintf(&b, "_%s_values() {\n\tcase $1 in\n", name)
	for _, r := range valueTable(app, values) {
		var items []string
		for _, v := range strings.Fields(r[1]) {
			items = append(items, shq(zesc(v)))
		}
		fmt.Fprintf(&b, "\t%s) reply=(%s) ;;\n", shq(r[0]), strings.Join(items, " "))
	}
	b.WriteString("\t*) reply=() ;;\n\tesac\n}\n\n")
	fmt.Fprintf(&b, `_%[1]s() {
	local cmdpath= w i
	local -a reply subs
	for ((i = 2; i < CURRENT; i++)); do
		w=${words[i]}
		[[ $w == -* ]] && continue
		_%[1]s_subcommands "$cmdpath"
		subs=(${reply%%%%:*})
		[[ ${subs[(Ie)$w]} -gt 0 ]] && cmdpath=${cmdpath:+$cmdpath }$w
	done
	_%[1]s_values "${cmdpath:+$cmdpath }${words[CURRENT-1]}"
	if (( ${#reply} )); then
		_describe -t values value reply
	elif [[ ${words[CURRENT]} == -* ]]; then
		_%[1]s_flags "$cmdpath"
		_describe -t options option reply
	else
		_%[1]s_subcommands "$cmdpath"
		(( ${#reply} )) && _describe -t commands command reply || _files
	fi
}

_%[1]s "$@"
`, name)
	return b.String()
}

// zesc escapes a _describe item's name (a colon would end it).
func zesc(s string) string { return strings.ReplaceAll(s, ":", `\:`) }

// zdesc is a one-line description.
func zdesc(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	_, s = unquote(s)
	return s
}
