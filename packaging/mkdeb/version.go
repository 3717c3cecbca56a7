package main

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// errUsage marks bad input (exit status 2).
var errUsage = errors.New("usage")

// nativeVersionRE is Debian policy 5.6.12's upstream_version for a native
// package (no epoch, no revision, so no '-' or ':'): a digit first, then
// letters, digits, '.', '+' and '~'.
var nativeVersionRE = regexp.MustCompile(`^[0-9][A-Za-z0-9.+~]*$`)

// checkVersion refuses a Debian version dpkg would refuse to install.
func checkVersion(describe, v string) error {
	if !nativeVersionRE.MatchString(v) {
		return fmt.Errorf("%w: -version %s: gives Debian version %q, which dpkg refuses (a digit first, then only letters, digits, '.', '+', '~')", errUsage, describe, v)
	}
	return nil
}

// describeRE splits `git describe --tags` output past a tag: TAG-N-gHASH.
var describeRE = regexp.MustCompile(`^(.*)-([0-9]+)-g([0-9a-f]+)$`)

// debVersion turns `git describe --tags --always --dirty` output into a
// Debian native version that sorts the way the commits do:
//
//	v1.2.3                -> 1.2.3
//	v1.2.3-rc1            -> 1.2.3~rc1 (before 1.2.3)
//	v1.2.3-4-gabc1234     -> 1.2.3+git4.abc1234
//	abc1234 (no tag yet)  -> 0.0~git20261122045300.abc1234 (the commit's
//	                         time to the second, so two builds of one day
//	                         sort by time, not by hash)
//	...-dirty             -> ...+dirty
//	dev, ""               -> 0.0~dev
func debVersion(describe string, commit time.Time) string {
	v, dirty := strings.CutSuffix(describe, "-dirty")
	suffix := ""
	if dirty {
		suffix = "+dirty"
	}
	switch {
	case v == "" || v == "dev":
		return "0.0~dev" + suffix
	case regexp.MustCompile(`^[0-9a-f]{7,40}$`).MatchString(v):
		return "0.0~git" + commit.UTC().Format("20060102150405") + "." + v + suffix
	}
	var tail string
	if m := describeRE.FindStringSubmatch(v); m != nil {
		v, tail = m[1], "+git"+m[2]+"."+m[3]
	}
	v = strings.ReplaceAll(strings.TrimPrefix(v, "v"), "-", "~")
	if v == "" || v[0] < '0' || v[0] > '9' {
		v = "0.0~" + v
	}
	return v + tail + suffix
}
