package main

import (
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
		{"8589e41", "0.0~git20261122.8589e41"},
		{"8589e41-dirty", "0.0~git20261122.8589e41+dirty"},
		{"dev", "0.0~dev"},
		{"", "0.0~dev"},
		{"release-x", "0.0~release~x"},
	} {
		if got := debVersion(c.describe, day); got != c.want {
			t.Errorf("debVersion(%q) = %q, want %q", c.describe, got, c.want)
		}
	}
}
