package main

import (
	"debug/buildinfo"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// copyrightText is /usr/share/doc/lvsnode/copyright (Debian's machine-
// readable format). The static binary carries the Go modules it was built
// from: they are listed from the binary's own build information, each with
// the license its LICENSE file names, so the list cannot go stale.
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

// moduleLicense names the license of a module from its LICENSE file in the
// module cache (where the build took it from), or "see its LICENSE file".
func moduleLicense(modCache, path, version string) string {
	dir := filepath.Join(modCache, escapeModPath(path)+"@"+version)
	for _, name := range []string{"LICENSE", "LICENSE.txt", "LICENSE.md", "COPYING", "LICENCE"} {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			continue
		}
		t := strings.Join(strings.Fields(string(raw)), " ")
		switch {
		case strings.Contains(t, "Apache License") && strings.Contains(t, "Version 2.0"):
			return "Apache-2.0"
		case strings.Contains(t, "Mozilla Public License") && strings.Contains(t, "2.0"):
			return "MPL-2.0"
		case strings.Contains(t, "Permission is hereby granted, free of charge"):
			return "MIT"
		case strings.Contains(t, "Redistribution and use") && strings.Contains(t, "Neither the name"):
			return "BSD-3-Clause"
		case strings.Contains(t, "Redistribution and use"):
			return "BSD-2-Clause"
		case strings.Contains(t, "Permission to use, copy, modify, and/or distribute"):
			return "ISC"
		}
	}
	return "see its LICENSE file"
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
