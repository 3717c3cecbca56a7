package director

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lvsnode/lvsnode/health"
	"github.com/lvsnode/lvsnode/health/healthtest"
)

// Two services on the same real servers, each with an HTTP check of the
// service and the agent's readiness beside it (service-level agent: for
// one, node-level for the other).
const withAgent = `
services:
  - service: tcp 10.0.0.100:80
    scheduler: rr
    check: {type: http, interval: 200ms, rise: 2, fall: 2}
    agent: {port: 9109, interval: 200ms, rise: 2, fall: 2}
    nodes:
      - address: 10.0.0.11
        weight: 3
      - address: 10.0.0.12
  - service: tcp 10.0.0.100:443
    check: {type: tcp, interval: 200ms, rise: 2, fall: 2}
    nodes:
      - address: 10.0.0.11
        agent: {port: 9109, interval: 200ms, rise: 2, fall: 2}
`

// setWhere scripts the checkers whose key contains every word.
func (r *rig) setWhere(res health.Result, words ...string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
next:
	for k, c := range r.checks {
		for _, w := range words {
			if !strings.Contains(string(k), w) {
				continue next
			}
		}
		c.Set(res)
		n++
	}
	return n
}

// An agent drain reaches the director although the real server's check is
// an HTTP check: weight 0 at once in both services, the HTTP check passing
// all along does not end it, and the agent's "ready" does.
func TestAgentProbeBesideTheCheckDrainsAndRestores(t *testing.T) {
	r := newRig(t, withAgent)
	// One agent probe per real server, shared by both services of 10.0.0.11.
	if n := r.d.sched.Runs(); n != 5 { // http .11 .12, tcp .11, ready .11 .12
		t.Fatalf("%d check runs, want 5 (the agent probe of 10.0.0.11 shared)", n)
	}
	r.tick(2)
	up := "tcp 10.0.0.100:443 10.0.0.11:443 w=1\ntcp 10.0.0.100:80 10.0.0.11:80 w=3\ntcp 10.0.0.100:80 10.0.0.12:80 w=1\n"
	r.wantWeights(up)
	if n := r.setWhere(healthtest.Draining, "ready", "10.0.0.11"); n != 1 {
		t.Fatalf("%d agent probes of 10.0.0.11, want 1", n)
	}
	r.tick(1) // no fall for draining
	r.wantWeights("tcp 10.0.0.100:443 10.0.0.11:443 w=0\ntcp 10.0.0.100:80 10.0.0.11:80 w=0\ntcp 10.0.0.100:80 10.0.0.12:80 w=1\n")
	n := r.d.Status().Services[0].Nodes[0]
	if n.Agent != AgentDraining || n.Health != HealthUp || n.Drain == DrainNone {
		t.Fatalf("agent %s health %s drain %s: want draining, up (the HTTP check still passes), a drain", n.Agent, n.Health, n.Drain)
	}
	r.tick(3) // the HTTP check keeps passing: still drained
	// The HTTP check fails and recovers meanwhile: its "up" is not the
	// agent's, so the drain goes on.
	r.setWhere(healthtest.Fail, "http", "10.0.0.11")
	r.tick(2)
	r.setWhere(healthtest.OK, "http", "10.0.0.11")
	r.tick(2)
	if n := r.d.Status().Services[0].Nodes[0]; n.Health != HealthUp || n.Drain == DrainNone {
		t.Fatalf("health %s drain %s after the HTTP check recovered, want up and still a drain", n.Health, n.Drain)
	}
	r.wantWeights("tcp 10.0.0.100:443 10.0.0.11:443 w=0\ntcp 10.0.0.100:80 10.0.0.11:80 w=0\ntcp 10.0.0.100:80 10.0.0.12:80 w=1\n")
	r.setWhere(healthtest.OK, "ready", "10.0.0.11")
	r.tick(2) // rise 2
	r.wantWeights(up)
	if n := r.d.Status().Services[0].Nodes[0]; n.Agent != AgentReady || n.Drain != DrainNone {
		t.Fatalf("agent %s drain %s after ready, want ready, none", n.Agent, n.Drain)
	}
}

// An agent that is not ready (its VIP not bound, a tunnel down) takes the
// real server out like a failing check, though the service answers on the
// real server's own address.
func TestAgentNotReadyIsDown(t *testing.T) {
	r := newRig(t, withAgent)
	r.tick(2)
	r.setWhere(healthtest.Fail, "ready", "10.0.0.12")
	r.tick(2) // fall 2
	r.wantWeights("tcp 10.0.0.100:443 10.0.0.11:443 w=1\ntcp 10.0.0.100:80 10.0.0.11:80 w=3\ntcp 10.0.0.100:80 10.0.0.12:80 w=0\n")
	n := r.d.Status().Services[0].Nodes[1]
	if n.Agent != AgentNotReady || n.Health != HealthUp {
		t.Fatalf("agent %s health %s, want not-ready and up", n.Agent, n.Health)
	}
}

func TestAgentBlockIsValidated(t *testing.T) {
	for _, c := range []struct{ yaml, want string }{
		{"agent: {type: http}", `test.yaml:4: `},
		{"agent: {type: http}", `agent.type "http"`},
		{"agent: {data_path: true}", "data_path and mark belong to check:"},
		{"agent: {interval: 1x}", "test.yaml:4: cannot unmarshal !!str `1x`"},
		{"agent: {target: nowhere}", "test.yaml:4: agent.target"},
	} {
		y := "services:\n  - service: tcp 10.0.0.100:80\n    nodes:\n      - {address: 10.0.0.11, " + c.yaml + "}\n"
		_, err := ParseConfig("test.yaml", []byte(y))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.yaml, err, c.want)
		}
	}
}

// A real server taken out by on_down: remove is not put back (at weight 0)
// by a drain of it; a healthy one being drained stays at weight 0.
func TestDrainDoesNotPutBackARemovedDownServer(t *testing.T) {
	r := newRig(t, strings.Replace(twoNodes, "scheduler: rr", "scheduler: rr\n    on_down: remove", 1))
	r.tick(2)
	r.setWhere(healthtest.Fail, "10.0.0.11")
	r.tick(2)
	r.wantWeights("tcp 10.0.0.100:80 10.0.0.12:80 w=1\n")
	if err := r.d.Drain(context.Background(), NodeRef{Service: "*", Address: "10.0.0.11"}, DrainOptions{Timeout: Duration(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := r.d.Drain(context.Background(), NodeRef{Service: "*", Address: "10.0.0.12"}, DrainOptions{Timeout: Duration(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	r.tick(0)
	r.wantWeights("tcp 10.0.0.100:80 10.0.0.12:80 w=0\n")
}
