package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// -version v1.0_beta would make a package dpkg refuses to install: exit
// status 2, one line naming -version, nothing built.
func TestBadVersionIsUsage(t *testing.T) {
	out := filepath.Join(t.TempDir(), "dist")
	var stdout, stderr strings.Builder
	code := mkdeb([]string{"-root", "../..", "-out", out, "-version", "v1.0_beta", "-arch", "amd64"}, &stdout, &stderr)
	if code != 2 || strings.Count(stderr.String(), "\n") != 1 || !strings.Contains(stderr.String(), "-version v1.0_beta") {
		t.Errorf("mkdeb -version v1.0_beta: exit %d, stderr %q", code, stderr.String())
	}
	if _, err := os.Stat(out); err == nil {
		t.Errorf("mkdeb -version v1.0_beta created %s", out)
	}
}

// Outside a git checkout (a `git archive` tarball) the date comes from
// SOURCE_DATE_EPOCH; with neither, the error says "not a git checkout".
func TestSourceDateWithoutGit(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("GIT_CEILING_DIRECTORIES", filepath.Dir(dir)) // even if /tmp were inside a repository
	t.Setenv("SOURCE_DATE_EPOCH", "1795320000")
	if d, err := sourceDate(dir); err != nil || !d.Equal(time.Unix(1795320000, 0)) {
		t.Errorf("sourceDate with SOURCE_DATE_EPOCH: %v, %v", d, err)
	}
	t.Setenv("SOURCE_DATE_EPOCH", "")
	if _, err := sourceDate(dir); err == nil || !strings.Contains(err.Error(), "not a git checkout") || !strings.Contains(err.Error(), "SOURCE_DATE_EPOCH") {
		t.Errorf("sourceDate without git and SOURCE_DATE_EPOCH: %v", err)
	}
	if d, err := sourceDate("../.."); err != nil || d.Year() < 2025 {
		t.Errorf("sourceDate in the repository: %v, %v", d, err)
	}
}

// The caller's GOAMD64/GOARM64 do not leak into the package's binary.
func TestBuildEnvPinsTheBaseline(t *testing.T) {
	t.Setenv("GOAMD64", "v3")
	t.Setenv("GOARM64", "v9.0")
	env := buildEnv("amd64")
	last := func(name string) string {
		v := ""
		for _, kv := range env {
			if s, ok := strings.CutPrefix(kv, name+"="); ok {
				v = s
			}
		}
		return v
	}
	if last("GOAMD64") != "v1" || last("GOARM64") != "v8.0" || last("CGO_ENABLED") != "0" {
		t.Errorf("build env: GOAMD64=%s GOARM64=%s CGO_ENABLED=%s", last("GOAMD64"), last("GOARM64"), last("CGO_ENABLED"))
	}
}
