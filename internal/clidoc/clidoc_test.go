package clidoc

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
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
			&cli.StringFlag{Name: "mode", Aliases: []string{"m"}, Usage: "dr, tun or nat"},
			&cli.BoolFlag{Name: "fast", Usage: "a boolean: takes no value"},
		},
	}}}
}

var testValues = Values{"mode": {"dr", "tun", "nat"}, "fast": {"x"}}

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
	out := Bash(testApp(), testValues)
	for _, want := range []string{"'') echo 'run' ;;", "'run') echo '--addr --dry-run --fast --help --mode -a -h -m' ;;",
		"'run --mode') echo 'dr tun nat' ;;", "'run -m') echo 'dr tun nat' ;;", "complete -o default -F _tool tool"} {
		if !strings.Contains(out, want) {
			t.Errorf("script lacks %q:\n%s", want, out)
		}
	}
}

// bash, as on TAB: --help on a leaf command, an enumerated flag's values
// instead of file names, flags again after a value.
func TestBashCompletes(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		skipOrFail(t, "needs bash")
	}
	script := filepath.Join(t.TempDir(), "tool")
	os.WriteFile(script, []byte(Bash(testApp(), testValues)), 0o644)
	complete := func(words ...string) string {
		t.Helper()
		prog := `source "$1"; shift
COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
_tool tool "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
printf '%s\n' "${COMPREPLY[@]}"`
		out, err := exec.Command(bash, append([]string{"--norc", "--noprofile", "-c", prog, "bash", script}, words...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	for _, c := range []struct {
		words []string
		want  string
	}{
		{[]string{"tool", "run", "--he"}, "--help"},
		{[]string{"tool", "--he"}, "--help"},
		{[]string{"tool", "run", "--mode", ""}, "dr\ntun\nnat"},
		{[]string{"tool", "run", "-m", "t"}, "tun"},
		{[]string{"tool", "run", "--mode", "nat", "--d"}, "--dry-run"},
		{[]string{"tool", "run", "--fast", "r"}, ""}, // a boolean takes no value: nothing (bash then offers files)
	} {
		if got := complete(c.words...); got != c.want {
			t.Errorf("%s<TAB>: %q, want %q", strings.Join(c.words, " "), got, c.want)
		}
	}
}

// zsh offers the values too (compsys's _describe stood in for).
func TestZshCompletesValues(t *testing.T) {
	zsh, err := exec.LookPath("zsh")
	if err != nil {
		skipOrFail(t, "needs zsh (apt-get install zsh)")
	}
	script := filepath.Join(t.TempDir(), "_tool")
	os.WriteFile(script, []byte(Zsh(testApp(), testValues)), 0o644)
	prog := `_describe() { print -l -- ${(P)4} }
_files() { print FILES }
words=(tool run --mode "") CURRENT=4
source "$1"`
	out, err := exec.Command(zsh, "-f", "-c", prog, "zsh", script).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "dr\ntun\nnat" {
		t.Errorf("zsh after --mode: %v\n%s", err, out)
	}
}

type yamlInner struct {
	A string `yaml:"a"`
	B int    `yaml:"b"`
}

type yamlCheck struct {
	Type string `yaml:"type"`
}

type yamlTop struct {
	Plain  string             `yaml:"plain"`
	Ptr    *yamlInner         `yaml:"ptr"`
	List   []yamlInner        `yaml:"list"`
	Check  *yamlCheck         `yaml:"check"`
	Scalar yamlScalar         `yaml:"scalar"`
	Opaque struct{ x, y int } `yaml:"opaque"`
	Skip   string             `yaml:"-"`
	hidden string
}

type yamlScalar struct{ v string }

// InlineInner is exported: yaml.v3 inlines only exported embedded structs.
type InlineInner struct {
	A string `yaml:"a"`
	B int    `yaml:"b"`
}

type yamlWithInline struct {
	Kind        string `yaml:"kind"`
	InlineInner `yaml:",inline"`
}

func (*yamlScalar) UnmarshalYAML(func(any) error) error { return nil }

// Every yaml-tagged key, recursively; named types by name; scalars
// (their own UnmarshalYAML, no tagged fields) as plain keys.
func TestYAMLKeys(t *testing.T) {
	named := map[reflect.Type]bool{reflect.TypeOf(yamlCheck{}): true}
	got := YAMLKeys(reflect.TypeOf(yamlTop{}), named)
	want := "plain, ptr: {a, b}, list: [{a, b}], check, scalar, opaque"
	if got != want {
		t.Errorf("YAMLKeys:\n got %s\nwant %s", got, want)
	}
	if got := YAMLKeys(reflect.TypeOf(yamlWithInline{}), nil); got != "kind, a, b" {
		t.Errorf("YAMLKeys with an inline struct: %s, want kind, a, b", got)
	}
	if got := YAMLKeys(reflect.TypeOf(&yamlTop{}), nil); !strings.Contains(got, "check: {type}") {
		t.Errorf("YAMLKeys without named: %s", got)
	}
	if got := strings.Join(YAMLTopKeys(reflect.TypeOf(yamlTop{})), " "); got != "plain ptr list check scalar opaque" {
		t.Errorf("YAMLTopKeys: %s", got)
	}
}

// skipOrFail skips for a missing tool, unless LVSNODE_REQUIRE_TOOLS=1 (CI
// installs every tool the tests need), where it fails.
func skipOrFail(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("LVSNODE_REQUIRE_TOOLS") == "1" {
		t.Fatal(msg + " (LVSNODE_REQUIRE_TOOLS=1 forbids skipping)")
	}
	t.Skip(msg)
}
