package clidoc

import (
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

func testApp() *cli.App {
	return &cli.App{Name: "tool", Usage: "a tool", Commands: []*cli.Command{{
		Name: "run", Usage: "run it", Description: ".starts with a dot\n\n   literal \\ line",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "addr", Aliases: []string{"a"}, Usage: "listen on `HOST:PORT`", Value: "x", EnvVars: []string{"TOOL_ADDR"}},
			&cli.BoolFlag{Name: "dry-run", Usage: "change nothing"},
			&cli.BoolFlag{Name: "secret", Hidden: true},
		},
	}}}
}

// Text that roff would read as requests or escapes stays text.
func TestManEscapes(t *testing.T) {
	out := string(Man(testApp(), Page{Name: "tool", Summary: "a tool", Path: "tool"}, "2026-01-01", "v1"))
	for _, want := range []string{
		`\&.starts with a dot`, // a leading dot is no request
		`literal \e line`,      // a backslash is no escape
		`\fB\-\-addr\fR \fIHOST:PORT\fR, \fB\-a\fR \fIHOST:PORT\fR`,
		`listen on HOST:PORT (default x). Environment: TOOL_ADDR.`,
		`\fB\-\-dry\-run\fR`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("page lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "secret") {
		t.Error("a hidden flag is on the page")
	}
}

func TestBashTables(t *testing.T) {
	out := Bash(testApp())
	for _, want := range []string{"'') echo 'run' ;;", "'run') echo '--addr --dry-run -a' ;;", "complete -o default -F _tool tool"} {
		if !strings.Contains(out, want) {
			t.Errorf("script lacks %q:\n%s", want, out)
		}
	}
}
