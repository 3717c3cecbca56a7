package controller

import (
	"bytes"
	"strings"
	"testing"

	"github.com/lvsnode/lvsnode/ipvs"
)

// ServiceFlags is the text List prints after each service's scheduler.
func TestServiceFlagsMatchesList(t *testing.T) {
	tab := mustTable(t, `-A -t 10.0.0.100:80 -s rr -p 300 -M 255.255.255.0
-A -t 10.0.0.101:80 -s rr -p 60 --pe sip
-A -u 10.0.0.100:53 -s sh -b sh-port,sh-fallback -o
-A -t [fd00::100]:443 -s mh -b mh-port -p 30 -M 64
-A -f 5 -6 -s wlc
`)
	var b bytes.Buffer
	if err := List(&b, ipvs.Info{}, tab, ListOptions{NoSort: true}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")[3:]
	want := []string{"persistent 300 mask 255.255.255.0", "persistent 60 pe sip", "(sh-fallback,sh-port) ops", "(mh-port) persistent 30 mask 64", ""}
	for i, e := range tab.Services {
		got := ServiceFlags(e.Service)
		if got != want[i] {
			t.Errorf("%s: ServiceFlags %q, want %q", serviceArg(e.Service.ServiceKey), got, want[i])
		}
		// List prints "PROTO ADDR SCHED[ FLAGS]".
		line := lines[i]
		_, after, _ := strings.Cut(line, " "+e.Service.Scheduler)
		if strings.TrimSpace(after) != got {
			t.Errorf("List prints %q after the scheduler, ServiceFlags %q", after, got)
		}
	}
}
