package examples_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The BIRD examples for an active-active group parse (bird -p), and keep
// what makes them safe: the VIP starts withdrawn on a director, BFD, and
// the router merges the directors' paths into one multipath route.
func TestBirdExamples(t *testing.T) {
	bird, err := exec.LookPath("bird")
	if err != nil {
		t.Skip("bird is not installed (Debian: apt-get install bird2): the BIRD examples are not checked")
	}
	for file, wants := range map[string][]string{
		"bird/director.conf": {"protocol static vip", "disabled yes;", "bfd on;", "next hop self;"},
		"bird/router.conf":   {"merge paths on;", "bfd on;"},
	} {
		out, err := exec.Command(bird, "-p", "-c", file).CombinedOutput()
		if err != nil {
			t.Errorf("bird -p -c %s: %v: %s", file, err, out)
		}
		text := readFile(t, file)
		for _, w := range wants {
			if !strings.Contains(text, w) {
				t.Errorf("%s lacks %q", file, w)
			}
		}
	}
	if s := readFile(t, "bird/lvsnode-announce"); !strings.Contains(s, "/readyz") || !strings.Contains(s, "disable vip") {
		t.Error("lvsnode-announce does not withdraw the VIP on a failed /readyz")
	}
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
