package main

import (
	"errors"
	"os/exec"
	"testing"
	"time"
)

func TestDebVersion(t *testing.T) {
	day := time.Date(2026, 11, 22, 4, 53, 0, 0, time.UTC)
	for _, c := range []struct{ describe, want string }{
		{"v1.2.3", "1.2.3"},
		{"v1.2.3-rc1", "1.2.3~rc1"},
		{"v1.2.3-4-gabc1234", "1.2.3+git4.abc1234"},
		{"v1.2.3-4-gabc1234-dirty", "1.2.3+git4.abc1234+dirty"},
		{"8589e41", "0.0~git20261122045300.8589e41"},
		{"8589e41-dirty", "0.0~git20261122045300.8589e41+dirty"},
		{"dev", "0.0~dev"},
		{"", "0.0~dev"},
		{"release-x", "0.0~release~x"},
	} {
		if got := debVersion(c.describe, day); got != c.want {
			t.Errorf("debVersion(%q) = %q, want %q", c.describe, got, c.want)
		}
	}
}

// Builds in commit order give versions dpkg sorts in the same order, so
// each is an upgrade of the one before: two untagged commits of one day
// whose hashes sort the other way (071393c then 20a32db, and 20a32db then
// 071393c), a build from before this scheme (date only), the first tag's
// release candidate, the tag, builds past it, the next tag.
func TestDebVersionsSortAsCommits(t *testing.T) {
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Skip("needs dpkg (--compare-versions)")
	}
	at := func(h, m, s int) time.Time { return time.Date(2026, 11, 22, h, m, s, 0, time.UTC) }
	builds := []string{
		"0.0~git20261121.fffffff", // the old scheme, the day before
		"0.0~git20261122.9999999", // the old scheme: its largest same-day version
		debVersion("20a32db", at(4, 53, 0)),
		debVersion("071393c", at(4, 53, 1)),
		debVersion("071393c-dirty", at(4, 53, 1)),
		debVersion("20a32db", at(5, 10, 0)),
		debVersion("v0.1.0-rc1", at(6, 0, 0)),
		debVersion("v0.1.0", at(6, 0, 0)),
		debVersion("v0.1.0-1-g9abcdef", at(6, 1, 0)),
		debVersion("v0.1.0-2-g0123456", at(6, 2, 0)),
		debVersion("v0.1.0-10-g0000001", at(6, 3, 0)),
		debVersion("v0.1.1", at(7, 0, 0)),
	}
	for i := 1; i < len(builds); i++ {
		if err := exec.Command("dpkg", "--compare-versions", builds[i], "gt", builds[i-1]).Run(); err != nil {
			t.Errorf("dpkg --compare-versions %s gt %s: false (the newer build would be a downgrade)", builds[i], builds[i-1])
		}
	}
}

// A version dpkg would refuse is bad input, refused before anything is built.
func TestCheckVersion(t *testing.T) {
	for _, describe := range []string{"v1.0_beta", "v1.0 beta", "v1:2"} {
		err := checkVersion(describe, debVersion(describe, time.Unix(0, 0)))
		if !errors.Is(err, errUsage) {
			t.Errorf("-version %s: %v, want a usage error", describe, err)
		}
	}
	for _, describe := range []string{"v1.2.3", "v1.2.3-rc1", "v1.2.3-4-gabc1234-dirty", "8589e41", "dev", "release-x"} {
		if err := checkVersion(describe, debVersion(describe, time.Unix(0, 0))); err != nil {
			t.Errorf("-version %s: %v", describe, err)
		}
	}
}
