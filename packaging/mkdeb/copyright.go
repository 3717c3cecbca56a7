package main

import (
	"debug/buildinfo"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// copyrightText is /usr/share/doc/lvsnode/copyright (Debian's machine-
// readable format). The static binary carries the Go modules it was built
// from: they are listed from the binary's own build information, each with
// every license its LICENSE file names, so the list cannot go stale.
func copyrightText(bin, modCache, years string) (string, error) {
	bi, err := buildinfo.ReadFile(bin)
	if err != nil {
		return "", fmt.Errorf("%s: %w", bin, err)
	}
	var b strings.Builder
	b.WriteString(`Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: lvsnode
Source: https://github.com/lvsnode/lvsnode
Comment: /usr/bin/lvsnode is a static Go binary (` + bi.GoVersion + `). Besides
 lvsnode itself it contains the Go standard library (BSD-3-Clause) and these
 Go modules, each under the license of its own LICENSE file:
`)
	for _, d := range bi.Deps {
		m := d
		if d.Replace != nil {
			m = d.Replace
		}
		fmt.Fprintf(&b, " %s %s (%s)\n", d.Path, m.Version, moduleLicense(modCache, m.Path, m.Version))
	}
	b.WriteString(`
Files: *
Copyright: ` + years + ` the lvsnode authors
License: unspecified
 The lvsnode repository carries no license file yet; until it does, the
 authors keep all rights.
`)
	return b.String(), nil
}

// licenseMarks are the phrases that identify a license text, BSD-3
// before BSD-2 (whose phrase it shares).
var licenseMarks = []struct{ id, phrase, also string }{
	{"Apache-2.0", "Apache License", "Version 2.0"},
	{"MPL-2.0", "Mozilla Public License", "2.0"},
	{"MIT", "Permission is hereby granted, free of charge", ""},
	{"BSD-3-Clause", "Neither the name", "Redistribution and use"},
	{"BSD-2-Clause", "Redistribution and use", ""},
	{"ISC", "Permission to use, copy, modify, and/or distribute", ""},
}

// moduleLicense names every license in a module's license files in the
// module cache (where the build took it from), in the order they appear,
// joined with " and " as the copyright format does when all apply
// (gopkg.in/yaml.v3: "MIT and Apache-2.0"); "see its LICENSE file" when it
// recognises none.
func moduleLicense(modCache, path, version string) string {
	dir := filepath.Join(modCache, escapeModPath(path)+"@"+version)
	type found struct {
		at int
		id string
	}
	var ids []found
	offset := 0
	for _, name := range []string{"LICENSE", "LICENSE.txt", "LICENSE.md", "COPYING", "LICENCE"} {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		t := strings.Join(strings.Fields(string(raw)), " ")
		bsd3 := false
		for _, m := range licenseMarks {
			i := strings.Index(t, m.phrase)
			if i < 0 || (m.also != "" && !strings.Contains(t, m.also)) || (m.id == "BSD-2-Clause" && bsd3) {
				continue
			}
			bsd3 = bsd3 || m.id == "BSD-3-Clause"
			if !slices.ContainsFunc(ids, func(f found) bool { return f.id == m.id }) {
				ids = append(ids, found{offset + i, m.id})
			}
		}
		offset += len(t)
	}
	if len(ids) == 0 {
		return "see its LICENSE file"
	}
	slices.SortFunc(ids, func(a, b found) int { return a.at - b.at })
	var names []string
	for _, f := range ids {
		names = append(names, f.id)
	}
	return strings.Join(names, " and ")
}

// escapeModPath is the module cache's case encoding: "!" before each
// upper-case letter, lowered (github.com/BurntSushi -> github.com/!burnt!sushi).
func escapeModPath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('!')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}
