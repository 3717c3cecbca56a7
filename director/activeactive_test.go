package director

import (
	"context"
	"strings"
	"testing"

	"github.com/lvsnode/lvsnode/health"
	"github.com/lvsnode/lvsnode/health/healthtest"
	"github.com/lvsnode/lvsnode/ipvs"
	"github.com/lvsnode/lvsnode/sysctl"
)

const aaService = `
services:
  - service: tcp 10.0.0.100:80
    nodes:
      - address: 10.0.0.11
        method: dr
      - address: 10.0.0.12
        method: dr
`

// aaRig is a rig whose sysctl fake also has the sloppy keys, at the
// kernel's default 0.
func aaRig(t *testing.T, yaml string) *rig {
	r := &rig{t: t, fake: ipvs.NewFake(), clock: healthtest.NewFakeClock(), store: &MemStore{},
		checks: map[health.Key]*healthtest.Checker{}, builds: map[health.Key]int{}}
	r.sc = sysctl.NewFake(map[string]string{"net.ipv4.vs.expire_nodest_conn": "0",
		"net.ipv4.vs.expire_quiescent_template": "0", "net.ipv4.conf.all.accept_local": "0",
		"net.ipv4.vs.sloppy_tcp": "0", "net.ipv4.vs.sloppy_sctp": "0"})
	return r.start(yaml)
}

// kernelService is what the fake kernel holds for the service.
func kernelService(t *testing.T, f *ipvs.Fake) ipvs.Service {
	t.Helper()
	svcs, err := f.Services()
	if err != nil || len(svcs) != 1 {
		t.Fatalf("services %v, %v: want one", svcs, err)
	}
	return svcs[0]
}

func TestActiveActiveProgramsMHPortAndSloppy(t *testing.T) {
	r := aaRig(t, "active_active: true\n"+aaService)
	r.tick(0)
	s := kernelService(t, r.fake)
	if want := ipvs.FlagSched1 | ipvs.FlagSched2; s.Scheduler != "mh" || s.Flags&want != want {
		t.Errorf("scheduler %s flags %#x: want mh with mh-fallback,mh-port (%#x)", s.Scheduler, s.Flags, want)
	}
	for _, k := range []string{"net.ipv4.vs.sloppy_tcp", "net.ipv4.vs.sloppy_sctp"} {
		if v := r.sc.Value(k); v != "1" {
			t.Errorf("%s = %s, want 1", k, v)
		}
	}
}

func TestWithoutActiveActiveNothingChanges(t *testing.T) {
	r := aaRig(t, aaService)
	r.tick(0)
	if s := kernelService(t, r.fake); s.Scheduler != "wlc" || s.Flags&(ipvs.FlagSched1|ipvs.FlagSched2|ipvs.FlagSched3) != 0 {
		t.Errorf("scheduler %s flags %#x: want wlc, no scheduler flag", s.Scheduler, s.Flags)
	}
	if v := r.sc.Value("net.ipv4.vs.sloppy_tcp"); v != "0" {
		t.Errorf("sloppy_tcp = %s without active_active, want 0 (untouched)", v)
	}
}

func TestActiveActiveReloadMovesAServiceToMH(t *testing.T) {
	r := aaRig(t, aaService)
	r.tick(0)
	cfg, err := ParseConfig("test.yaml", []byte("active_active: true\n"+aaService))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.d.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	r.tick(0)
	if s := kernelService(t, r.fake); s.Scheduler != "mh" || s.Flags&ipvs.FlagSched2 == 0 {
		t.Errorf("after reload: scheduler %s flags %#x, want mh with mh-port", s.Scheduler, s.Flags)
	}
	if v := r.sc.Value("net.ipv4.vs.sloppy_tcp"); v != "1" {
		t.Errorf("after reload sloppy_tcp = %s, want 1", v)
	}
}

// Turned off again by a reload, the services go back to the file's
// scheduler: the running model's mh services are not reused.
func TestActiveActiveOffAgainRestoresTheScheduler(t *testing.T) {
	r := aaRig(t, "active_active: true\n"+aaService)
	r.tick(0)
	cfg, err := ParseConfig("test.yaml", []byte(aaService))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.d.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	r.tick(0)
	if s := kernelService(t, r.fake); s.Scheduler != "wlc" || s.Flags&(ipvs.FlagSched1|ipvs.FlagSched2) != 0 {
		t.Errorf("active_active off: scheduler %s flags %#x, want wlc without mh flags", s.Scheduler, s.Flags)
	}
}

func TestActiveActiveRefusesWithLine(t *testing.T) {
	for _, c := range []struct{ name, svc, want string }{
		{"other scheduler", "    scheduler: rr\n", "test.yaml:5: services[0]: tcp 10.0.0.100:80: scheduler rr under active_active"},
		{"persistence", "    persistent: 300\n", "test.yaml:5: services[0]: tcp 10.0.0.100:80: persistent under active_active"},
	} {
		y := "active_active: true\n" + strings.Replace(aaService, "    nodes:\n", c.svc+"    nodes:\n", 1)
		_, err := ParseConfig("test.yaml", []byte(y))
		if err == nil || !errorsIs(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrInvalid with %q", c.name, err, c.want)
		}
		if _, err := ParseConfig("test.yaml", []byte(strings.Replace(y, "active_active: true\n", "", 1))); err != nil {
			t.Errorf("%s without active_active: %v", c.name, err)
		}
	}
	// mh named explicitly is accepted (and gets mh-port).
	y := "active_active: true\n" + strings.Replace(aaService, "    nodes:\n", "    scheduler: mh\n    nodes:\n", 1)
	if _, err := ParseConfig("test.yaml", []byte(y)); err != nil {
		t.Errorf("scheduler mh: %v", err)
	}
}
