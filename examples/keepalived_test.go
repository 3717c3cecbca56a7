package examples_test

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// The shipped keepalived example moves the VIP only, fast (VRRPv3, adverts
// below 1 s), and never preempts; the lab runs a byte-for-byte copy of it
// (lab/guest/ha-keepalived.conf, lab/scenarios/ha-failover.sh).
func TestKeepalivedExample(t *testing.T) {
	conf, err := os.ReadFile("keepalived/keepalived.conf")
	if err != nil {
		t.Fatal(err)
	}
	lab, err := os.ReadFile("../lab/guest/ha-keepalived.conf")
	if err != nil {
		t.Fatal(err)
	}
	if string(conf) != string(lab) {
		t.Error("lab/guest/ha-keepalived.conf differs from examples/keepalived/keepalived.conf: copy it")
	}
	var active []string
	for _, l := range strings.Split(string(conf), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			if i := strings.Index(l, "#"); i >= 0 {
				l = strings.TrimSpace(l[:i])
			}
			active = append(active, l)
		}
	}
	text := strings.Join(active, "\n")
	for _, want := range []string{"vrrp_version 3", "state BACKUP", "nopreempt", "virtual_ipaddress {"} {
		if !strings.Contains(text, want) {
			t.Errorf("lacks %q", want)
		}
	}
	for _, bad := range []string{"virtual_server", "lvs_sync_daemon", "preempt_delay"} {
		if strings.Contains(text, bad) {
			t.Errorf("has %q: lvsnode owns IPVS and sync; nopreempt makes a delay moot", bad)
		}
	}
	m := regexp.MustCompile(`(?m)^advert_int ([0-9.]+)$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatal("no advert_int")
	}
	if v, _ := strconv.ParseFloat(m[1], 64); v <= 0 || v >= 1 {
		t.Errorf("advert_int %s: want below 1 s (VRRPv3)", m[1])
	}
}
