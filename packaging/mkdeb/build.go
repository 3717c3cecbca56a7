package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// options are one mkdeb run.
type options struct {
	Root     string   // the repository
	Out      string   // where the packages go
	Describe string   // git describe ("" = ask git)
	Arches   []string // Debian architectures (= GOARCH for amd64, arm64)
}

// run builds a package per architecture and returns their paths.
func (o options) run() ([]string, error) {
	for _, a := range o.Arches {
		if a != "amd64" && a != "arm64" {
			return nil, fmt.Errorf("%w: -arch %s: only amd64 and arm64 are built", errUsage, a)
		}
	}
	root, err := filepath.Abs(o.Root)
	if err != nil {
		return nil, err
	}
	if o.Out, err = filepath.Abs(o.Out); err != nil { // the paths printed work from anywhere
		return nil, err
	}
	if o.Describe == "" {
		if o.Describe, err = git(root, "describe", "--tags", "--always", "--dirty"); err != nil {
			return nil, fmt.Errorf("%w (not a git checkout? pass -version)", err)
		}
	}
	// Refuse a version dpkg would refuse before building anything (the
	// date only matters for the untagged form, which is always valid).
	if err := checkVersion(o.Describe, debVersion(o.Describe, time.Unix(0, 0))); err != nil {
		return nil, err
	}
	date, err := sourceDate(root)
	if err != nil {
		return nil, err
	}
	years := date.Format("2006")
	if first, err := git(root, "log", "--max-parents=0", "--format=%cd", "--date=format:%Y"); err == nil {
		if f := strings.Fields(first); len(f) > 0 && f[0] != years {
			years = f[0] + "-" + years
		}
	}
	work, err := os.MkdirTemp("", "mkdeb-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	bins := map[string]string{}
	for _, a := range o.Arches {
		if bins[a], err = goBuild(root, work, a, o.Describe); err != nil {
			return nil, err
		}
	}
	// The docs come from running a binary: one of this machine's arch.
	host, ok := bins[runtime.GOARCH]
	if !ok {
		if host, err = goBuild(root, work, runtime.GOARCH, o.Describe); err != nil {
			return nil, err
		}
	}
	docs := filepath.Join(work, "docs")
	if err := generateDocs(host, docs, date); err != nil {
		return nil, err
	}
	modCache, err := goEnv(root, "GOMODCACHE")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, a := range o.Arches {
		scratch := filepath.Join(work, "pkg-"+a)
		if err := os.MkdirAll(scratch, 0o755); err != nil {
			return nil, err
		}
		in := input{Arch: a, Version: debVersion(o.Describe, date), Describe: o.Describe, Date: date,
			Binary: bins[a], Docs: docs, Examples: filepath.Join(root, "examples"),
			Debian: filepath.Join(root, "packaging", "debian"), Years: years, Work: scratch, ModCache: modCache}
		p, err := in.build(o.Out)
		if err != nil {
			return nil, fmt.Errorf("%s package: %w", a, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// sourceDate is the time of the commit being packaged: every mtime, the
// changelog's and the man pages' date, the untagged version. From git, or
// outside a git checkout (a `git archive` tarball) from SOURCE_DATE_EPOCH
// (reproducible-builds.org); with neither, an error that says so.
func sourceDate(root string) (time.Time, error) {
	ct, gitErr := git(root, "log", "-1", "--format=%ct")
	from := "git log"
	if gitErr != nil {
		ct, from = os.Getenv("SOURCE_DATE_EPOCH"), "SOURCE_DATE_EPOCH"
		if ct == "" {
			return time.Time{}, fmt.Errorf("%s is not a git checkout (%v) and SOURCE_DATE_EPOCH is not set: one of them dates the package", root, gitErr)
		}
	}
	secs, err := strconv.ParseInt(ct, 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: commit time %q is not seconds since 1970", from, ct)
	}
	return time.Unix(secs, 0).UTC(), nil
}

// goBuild builds the static binary for goarch as `make build` does.
func goBuild(root, work, goarch, describe string) (string, error) {
	bin := filepath.Join(work, goarch, "lvsnode")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+describe, "-o", bin, "./cmd/lvsnode")
	cmd.Dir = root
	cmd.Env = buildEnv(goarch)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build (GOARCH=%s): %v\n%s", goarch, err, out)
	}
	return bin, nil
}

// buildEnv is the caller's environment with the target pinned: static,
// linux/goarch, and the baseline instruction set of the Debian
// architecture (a caller's GOAMD64=v3 would make a package that crashes
// on older amd64 CPUs). exec.Cmd uses the last value of a repeated name.
func buildEnv(goarch string) []string {
	return append(slices.Clone(os.Environ()), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+goarch, "GOAMD64=v1", "GOARM64=v8.0")
}

// generateDocs runs `lvsnode generate` for the man pages and completions.
func generateDocs(bin, dir string, date time.Time) error {
	if out, err := exec.Command(bin, "generate", "--date", date.Format("2006-01-02"), "man", filepath.Join(dir, "man")).CombinedOutput(); err != nil {
		return fmt.Errorf("lvsnode generate man: %v\n%s", err, out)
	}
	for shell, name := range map[string]string{"bash": "lvsnode.bash", "zsh": "_lvsnode"} {
		out, err := exec.Command(bin, "generate", shell).Output()
		if err != nil {
			return fmt.Errorf("lvsnode generate %s: %v", shell, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), out, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func git(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %v", strings.Join(args, " "), err)
	}
	return strings.TrimSpace(string(out)), nil
}

func goEnv(dir, name string) (string, error) {
	cmd := exec.Command("go", "env", name)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go env %s: %v", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}
