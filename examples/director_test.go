package examples_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lvsnode/lvsnode/director"

	"github.com/lvsnode/lvsnode/internal/testcert"
)

// The example config is valid as shipped (every key documented there parses).
func TestDirectorExampleIsValid(t *testing.T) {
	cfg, err := director.LoadConfig("director.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Services) == 0 {
		t.Fatal("the example has no service")
	}
	if !cfg.Sync.Enabled() {
		t.Error("the example has no sync: block")
	}
}

func TestSystemdAcceptsTheControllerUnit(t *testing.T) {
	unit, err := os.ReadFile("lvsnode-controller.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Type=notify", "WatchdogSec=", "ExecReload=", "RestartPreventExitStatus=2", "controller run --config"} {
		if !strings.Contains(string(unit), want) {
			t.Errorf("unit lacks %s", want)
		}
	}
	if strings.Contains(string(unit), "\nProtectKernelTunables=yes") {
		t.Error("ProtectKernelTunables=yes makes /proc/sys read-only: the daemon could not set net.ipv4.vs.* and accept_local")
	}
	checkPathsMayBeMissing(t, string(unit))
	verifyUnit(t, "lvsnode-controller.service", unit)
}

// The example's commented-out store: block (an etcd-backed group) parses
// once uncommented, with its CA and password files present, and
// active_active: true refuses the example's wlc services as the comment
// says (issue 12 review: no test read these blocks, so a renamed key in
// them would have gone unnoticed).
func TestDirectorExampleStoreBlock(t *testing.T) {
	raw, err := os.ReadFile("director.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	files := map[string]string{}
	ca, _ := testcert.SelfSigned(t, "etcd-ca")
	cert, key := testcert.SelfSigned(t, "director")
	for path, body := range map[string][]byte{"/etc/lvsnode/etcd-ca.pem": ca, "/etc/lvsnode/etcd-client.pem": cert, "/etc/lvsnode/etcd-client.key": key, "/etc/lvsnode/etcd.password": []byte("secret\n")} {
		local := filepath.Join(dir, filepath.Base(path))
		if err := os.WriteFile(local, body, 0o600); err != nil {
			t.Fatal(err)
		}
		files[path] = local
	}
	var out []string
	in, found := false, false
	for _, l := range strings.Split(string(raw), "\n") {
		switch {
		case l == "# store:":
			in, found = true, true
			l = "store:"
		case in && strings.HasPrefix(l, "#   "):
			l = strings.TrimPrefix(l, "# ")
		default:
			in = false
		}
		for path, local := range files {
			if in {
				l = strings.ReplaceAll(l, path, local)
			}
		}
		out = append(out, l)
	}
	if !found {
		t.Fatal(`director.yaml has no "# store:" block to check`)
	}
	conf := strings.Join(out, "\n")
	path := filepath.Join(dir, "director.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := director.LoadConfig(path)
	if err != nil {
		t.Fatalf("the store: block, uncommented: %v", err)
	}
	if cfg.Store.Type != director.StoreEtcd || len(cfg.Store.Endpoints) != 3 || cfg.Store.User == "" || cfg.Store.Cert == "" || cfg.Store.Name == "" {
		t.Errorf("the store: block did not give an etcd store with endpoints, user, cert and name: %+v", cfg.Store)
	}
	if !strings.Contains(conf, "\n# active_active: false\n") {
		t.Fatal(`director.yaml has no "# active_active: false" line to check`)
	}
	aa := strings.Replace(conf, "\n# active_active: false\n", "\nactive_active: true\n", 1)
	if err := os.WriteFile(path, []byte(aa), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := director.LoadConfig(path); err == nil || !strings.Contains(err.Error(), "scheduler wlc under active_active") {
		t.Errorf("active_active: true with the example's wlc services: err %v, want the refusal the comment describes", err)
	}
}
