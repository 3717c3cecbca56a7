package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/lvsnode/lvsnode/agent"
	"github.com/lvsnode/lvsnode/director"
	"github.com/lvsnode/lvsnode/internal/clidoc"
)

// testApp is main's app, set up as app.Run sets it up (help flags added).
func testApp() *cli.App {
	app := newApp()
	app.Setup()
	return app
}

// Every flag --help shows for a command is on that command's man page:
// the pages are made from the same tree.
func TestManPagesHaveEveryFlag(t *testing.T) {
	app := testApp()
	pages := map[string]string{}
	for _, p := range manPages(app) {
		pages[p.Name] = string(clidoc.Man(app, p, "2026-01-01", "test"))
	}
	var walk func(page, path string, cmds []*cli.Command)
	walk = func(page, path string, cmds []*cli.Command) {
		for _, c := range cmds {
			if c.Hidden || c.Name == "help" {
				continue
			}
			p := page
			if p == "lvsnode" && (c.Name == "agent" || c.Name == "controller") {
				p = "lvsnode-" + c.Name
			}
			if !strings.Contains(pages[p], `.SS "`+strings.ReplaceAll(path+" "+c.Name, "-", `\-`)+`"`) && path != "lvsnode" {
				t.Errorf("%s(8) has no section for %s %s", p, path, c.Name)
			}
			for _, f := range c.Flags {
				if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
					continue // not in --help either (ipvsadm's no-op -n)
				}
				for _, n := range f.Names() {
					if n == "help" || n == "h" {
						continue
					}
					dash := `\fB\-\-` + strings.ReplaceAll(n, "-", `\-`) + `\fR`
					if len(n) == 1 {
						dash = `\fB\-` + n + `\fR`
					}
					if !strings.Contains(pages[p], dash) {
						t.Errorf("%s(8) lacks %s's flag %s", p, path+" "+c.Name, n)
					}
				}
			}
			walk(p, path+" "+c.Name, c.Subcommands)
		}
	}
	walk("lvsnode", "lvsnode", app.Commands)
}

// The agent page's YAML keys are keys agent.LoadFile accepts.
func TestAgentYAMLKeysParse(t *testing.T) {
	values := map[string]string{"vips": "[10.0.0.1]", "interfaces": "[lo]", "gateways": "[10.0.0.2]",
		"teardown-on-stop": "false", "resync-interval": "10s", "tun-port": "6080"}
	for flag, key := range agentYAMLKeys {
		var doc string
		if parent, sub, ok := strings.Cut(key, ": {"); ok { // drain: {on-stop}, register: {ttl}
			sub = strings.TrimSuffix(sub, "}")
			v, ok := map[string]string{"on-stop": "false", "timeout": "5m", "min-wait": "2s", "ttl": "10s",
				"endpoints": "[http://10.0.0.5:2379]", "services": "[{service: tcp 10.0.0.100:80, weight: 1}]"}[sub]
			if !ok {
				v = `""`
			}
			doc = parent + ":\n  " + sub + ": " + v + "\n"
		} else {
			v, ok := values[key]
			if !ok {
				v = `""`
			}
			doc = key + ": " + v + "\n"
		}
		path := filepath.Join(t.TempDir(), "agent.yaml")
		os.WriteFile(path, []byte(doc), 0o644)
		if _, err := agent.LoadFile(path); err != nil {
			t.Errorf("--%s: YAML key %q: %v", flag, key, err)
		}
	}
}

// The controller page lists exactly director.Config's top-level keys.
func TestDirectorYAMLKeysAreTheConfigs(t *testing.T) {
	var want []string
	ty := reflect.TypeOf(director.Config{})
	for i := 0; i < ty.NumField(); i++ {
		if tag, _, _ := strings.Cut(ty.Field(i).Tag.Get("yaml"), ","); tag != "" && tag != "-" {
			want = append(want, tag)
		}
	}
	var got []string
	for _, it := range directorYAMLItems {
		got = append(got, it.Term)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("man page keys %v, director.Config has %v", got, want)
	}
}

func TestVersionCommand(t *testing.T) {
	r := run(t, nil, "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "lvsnode ") || !strings.Contains(r.stdout, "\nIPVS: ") {
		t.Errorf("lvsnode version: %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if v := run(t, nil, "--version"); v.stdout != r.stdout {
		t.Errorf("--version prints\n%s, version prints\n%s", v.stdout, r.stdout)
	}
	if j := run(t, nil, "version", "--json"); j.code != 0 || !strings.Contains(j.stdout, `"go": "go`) {
		t.Errorf("version --json: %d\n%s", j.code, j.stdout)
	}
}
