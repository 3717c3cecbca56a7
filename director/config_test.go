package director

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/lvsnode/lvsnode/ipvs"
)

func TestBadConfigNamesFileAndLine(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"services:\n  - service: tcp 10.0.0.100\n", "d.yaml:2: "},
		{"services:\n  - service: tcp 10.0.0.100:80\n    nodes:\n      - address: 10.0.0.11\n        weight: 70000\n", "d.yaml:5: tcp 10.0.0.100:80: weight 70000"},
		{"services:\n  - service: tcp 10.0.0.100:80\n    nodes:\n      - address: 10.0.0.11\n        method: fast\n", "d.yaml:5: method \"fast\""},
		{"services:\n  - service: tcp 10.0.0.100:80\n    bogus: 1\n", "d.yaml:3: field bogus not found"},
		{"services:\n  - service: tcp 10.0.0.100:80\n    nodes:\n      - address: 10.0.0.11\n      - address: 10.0.0.11\n", "d.yaml:5: tcp 10.0.0.100:80: real server 10.0.0.11:80 listed twice"},
		{"services:\n  - service: tcp 10.0.0.100:80\n    check: {type: tcp, data_path: true}\n    nodes:\n      - address: 10.0.0.11\n        method: nat\n", "d.yaml:3: "},
		{"services:\n  - service: tcp 10.0.0.100:80\n    check:\n      type: http\n      timeout: 5s\n      interval: 1s\n    nodes: [{address: 10.0.0.11}]\n", "d.yaml:4: "},
		{"services:\n  - service: tcp 10.0.0.100:80\n    quorum: 1\n    nodes: []\n", "d.yaml:3: tcp 10.0.0.100:80: quorum 1"},
		{"resync: fast\n", "d.yaml:1: "},
		{"services:\n  - service: tcp 10.0.0.100:80\n    scheduler: wrrr\n    nodes: [{address: 10.0.0.11}]\n", "d.yaml:3: tcp 10.0.0.100:80: unknown scheduler \"wrrr\""},
		{"services:\n  - service: tcp 10.0.0.100:80\n    nodes:\n      - address: 10.0.0.11\n        check: {type: tcp,\n          target: nope}\n", "d.yaml:6: check.target: "},
		{"services:\n  - service: tcp 10.0.0.100:80\n    check: {type: tcp, source: x, interval: 1s}\n    nodes: [{address: 10.0.0.11}]\n", "d.yaml:3: check.source: "},
		{"services:\n  - service: tcp 10.0.0.100:80\n    check: {type: tcp, interval: 2x}\n    nodes: [{address: 10.0.0.11}]\n", "d.yaml:3: "},
		{"api:\n  listen: 0.0.0.0:9111\n", "d.yaml: api.listen"},
		{"services:\n  - service: tcp 10.0.0.100:80\n    check: {type: tcp, data_path: true}\n    nodes: [{address: 10.0.0.11}]\n", "d.yaml:3: tcp 10.0.0.100:80 10.0.0.11:80: data_path needs check.source"},
		{"services:\n  - service: fwm 0x4c560001\n    nodes: [{address: 10.0.0.11}]\n", "d.yaml:2: "},
	} {
		_, err := ParseConfig("d.yaml", []byte(c.yaml))
		if err == nil || !errors.Is(err, ErrInvalid) {
			t.Errorf("%q: err %v, want ErrInvalid", c.yaml, err)
			continue
		}
		msg := strings.TrimPrefix(err.Error(), "invalid: ")
		if !strings.HasPrefix(msg, c.want) || strings.Contains(msg, "\n") {
			t.Errorf("%q:\n got %s\nwant %s...", c.yaml, msg, c.want)
		}
	}
}

// twos (Linux 6.2) is a scheduler name, though the lab's 6.1 lacks it:
// the file is accepted and a kernel without it says so.
func TestConfigAcceptsEveryLinuxScheduler(t *testing.T) {
	for _, sc := range ipvs.AllSchedulers {
		y := "services:\n  - service: tcp 10.0.0.100:80\n    scheduler: " + sc + "\n    nodes: [{address: 10.0.0.11}]\n"
		if _, err := ParseConfig("d.yaml", []byte(y)); err != nil {
			t.Errorf("scheduler %s: %v", sc, err)
		}
	}
	if !slices.Contains(ipvs.AllSchedulers, "twos") {
		t.Error("twos (Linux 6.2) missing from ipvs.AllSchedulers")
	}
}
