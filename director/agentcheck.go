package director

import (
	"errors"
	"fmt"
	"strings"

	"github.com/lvsnode/lvsnode/health"
)

// A real server's `agent:` is the lvsnode agent's readiness (/readyz),
// probed beside its `check:`. The check says whether the service answers;
// the agent says whether the real server is set up for the VIP (bound,
// ARP quiet, tunnel up) and whether it asks to be drained. One check slot
// could carry only one of the two: with `check: {type: http}` alone the
// director never hears an `agent drain`, and the agent removes its VIPs
// while new clients still arrive (seen in the lab's demo). The agent probe
// is one more scheduler subscription, so it is shared like any check: one
// probe per real server address and port, whatever the number of services.

// agentSuffix makes the scheduler id of a node's agent subscription.
const agentSuffix = " #agent"

func agentSubID(nodeID string) string { return nodeID + agentSuffix }

// agentOf splits a scheduler subscriber id: the node id and whether it is
// the node's agent subscription.
func agentOf(sub string) (string, bool) { return strings.CutSuffix(sub, agentSuffix) }

// compileAgent validates a node's agent: block: a `ready` check (the type
// may be left out) of the real server's own address by default.
func compileAgent(n *node, as health.Definition, l lines) error {
	switch as.Type {
	case "":
		as.Type = health.Ready
	case health.Ready:
	default:
		return errAt(l.at("type"), "%s: agent.type %q: agent: is the agent's readiness (type ready); put other probes under check:", n.id, as.Type)
	}
	if as.DataPath || as.Mark != 0 {
		return errAt(l.at(""), "%s: agent: probes the real server's own address; data_path and mark belong to check:", n.id)
	}
	d := checkDefinition(as, n.dest.Addr, n.svc.key.Addr)
	if err := d.Validate(); err != nil {
		return &lineError{l.at(""), fmt.Errorf("%s: agent: %w", n.id, errors.Join(ErrInvalid, err))}
	}
	n.agent = &d
	return nil
}

// agentWord is a NodeState.Agent value from the agent check's state.
func agentWord(s health.State) string {
	switch s {
	case health.Up:
		return AgentReady
	case health.Draining:
		return AgentDraining
	}
	return AgentNotReady
}

// agentInitial is where a restarted daemon starts the agent probe: the
// saved answer, so a restart changes no weight.
func agentInitial(saved string) health.State {
	switch saved {
	case AgentReady:
		return health.Up
	case AgentDraining:
		return health.Draining
	}
	return health.Down
}
