package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

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

// The controller page lists exactly director.Config's top-level keys,
// then the health check's.
func TestDirectorYAMLKeysAreTheConfigs(t *testing.T) {
	var want []string
	ty := reflect.TypeOf(director.Config{})
	for i := 0; i < ty.NumField(); i++ {
		if tag, _, _ := strings.Cut(ty.Field(i).Tag.Get("yaml"), ","); tag != "" && tag != "-" {
			want = append(want, tag)
		}
	}
	want = append(want, "check, agent")
	var got []string
	for _, it := range directorYAMLItems() {
		got = append(got, it.Term)
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("man page keys %v, director.Config has %v", got, want)
	}
}

// Every key director.yaml accepts, at any depth (api.tls_cert, a node's
// agent:, a check's ca_file), is on the controller page.
func TestDirectorYAMLKeysAllOnThePage(t *testing.T) {
	app := testApp()
	var page string
	for _, p := range manPages(app) {
		if p.Name == "lvsnode-controller" {
			page = string(clidoc.Man(app, p, "2026-01-01", "test"))
		}
	}
	_, section, _ := strings.Cut(page, ".SH \"CONFIGURATION FILE\"")
	section, _, _ = strings.Cut(section, "\n.SH ")
	words := map[string]bool{}
	for _, w := range strings.FieldsFunc(section, func(r rune) bool { return !(r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') }) {
		words[w] = true
	}
	seen := map[reflect.Type]bool{}
	var walk func(path string, ty reflect.Type)
	walk = func(path string, ty reflect.Type) {
		for ty.Kind() == reflect.Pointer || ty.Kind() == reflect.Slice {
			ty = ty.Elem()
		}
		if ty.Kind() != reflect.Struct || seen[ty] {
			return
		}
		seen[ty] = true
		for i := 0; i < ty.NumField(); i++ {
			tag, opts, _ := strings.Cut(ty.Field(i).Tag.Get("yaml"), ",")
			if tag == "" && strings.Contains(opts, "inline") && ty.Field(i).IsExported() {
				walk(path, ty.Field(i).Type) // store: inlines etcdstore.Config's keys
				continue
			}
			if tag == "" || tag == "-" || !ty.Field(i).IsExported() {
				continue
			}
			if !words[tag] {
				t.Errorf("lvsnode-controller(8) lacks the YAML key %s%s", path, tag)
			}
			walk(path+tag+".", ty.Field(i).Type)
		}
	}
	walk("", reflect.TypeOf(director.Config{}))
	// where an operator looks: a file's service edit or removal does not
	// change a shared (etcd) table
	if flat := strings.Join(strings.Fields(section), " "); !strings.Contains(flat, "only seed the shared state") || !strings.Contains(flat, "never deleted") {
		t.Error("lvsnode-controller(8) does not say that under store: etcd the file's services only seed the shared state")
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
	if x := run(t, nil, "version", "extra"); x.code != 2 || strings.Count(x.stderr, "\n") != 1 || !strings.Contains(x.stderr, `"extra"`) || x.stdout != "" {
		t.Errorf("lvsnode version extra: exit %d, stdout %q, stderr %q; want exit 2 and one line", x.code, x.stdout, x.stderr)
	}
	if j := run(t, nil, "version", "--json"); j.code != 0 || !strings.Contains(j.stdout, `"go": "go`) {
		t.Errorf("version --json: %d\n%s", j.code, j.stdout)
	}
}

// The .TH date is never empty: the commit's, else SOURCE_DATE_EPOCH's,
// else today's.
func TestManDate(t *testing.T) {
	now := time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
	for _, c := range []struct{ vcs, sde, want string }{
		{"2026-11-20T10:00:00Z", "1700000000", "2026-11-20"},
		{"", "1795320000", "2026-11-22"},
		{"", "", "2026-11-22"},
		{"", "junk", "2026-11-22"},
	} {
		if got := manDate(c.vcs, c.sde, now); got != c.want {
			t.Errorf("manDate(%q, %q) = %q, want %q", c.vcs, c.sde, got, c.want)
		}
	}
	// A build without vcs information (-buildvcs=false, as from a tarball).
	bin := filepath.Join(t.TempDir(), "lvsnode")
	if out, err := exec.Command("go", "build", "-buildvcs=false", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dir := t.TempDir()
	cmd := exec.Command(bin, "generate", "man", dir)
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=1795320000")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generate man: %v\n%s", err, out)
	}
	page, _ := os.ReadFile(filepath.Join(dir, "lvsnode.8"))
	if !strings.Contains(string(page), `.TH "LVSNODE" "8" "2026\-11\-22"`) {
		th, _, _ := strings.Cut(string(page[strings.Index(string(page), ".TH"):]), "\n")
		t.Errorf("lvsnode.8 without vcs.time, SOURCE_DATE_EPOCH=1795320000: %s", th)
	}
}
