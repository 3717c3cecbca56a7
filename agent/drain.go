package agent

import (
	"fmt"
	"time"
)

// Drain defaults. The director reacts to the first "draining" answer of
// its ready check (health: no fall for draining), so MinWait must cover
// at least one of its probe intervals plus the probe's timeout; interval
// × fall also survives a lost probe. The default is health's default
// check (interval 2 s × fall 3): an agent and a director left at their
// defaults work together. Faster checks allow less (the lab: 200 ms × 2,
// min-wait 2 s).
const (
	DefaultDrainTimeout = 5 * time.Minute
	DefaultDrainMinWait = 6 * time.Second
	// drainPoll is how often a drain counts the VIPs' sockets: one
	// sock_diag dump per family, cheap next to a client's last request.
	drainPoll = 500 * time.Millisecond
)

// DrainConfig is the drain: block of the config.
type DrainConfig struct {
	// OnStop makes SIGTERM drain before stopping (a second SIGTERM stops
	// at once). Off, SIGTERM stops at once, as before drains existed.
	OnStop bool
	// Timeout bounds a drain: the VIPs go then, sockets or not.
	Timeout time.Duration
	// MinWait is the least a drain lasts, even with no socket open, so
	// the director has seen "draining" and stopped sending new clients.
	MinWait time.Duration
}

// Phase is where the daemon stands with respect to draining.
type Phase string

// The phases. Serving is the normal one; Draining keeps the VIPs bound
// and repaired while /readyz says "draining"; Drained has removed them
// and says not ready until `agent undrain`.
const (
	Serving  Phase = "serving"
	Draining Phase = "draining"
	Drained  Phase = "drained"
)

// drain is the drain state machine, pure: the daemon feeds it the time
// and the socket count, and acts on what step returns.
type drain struct {
	phase    Phase
	since    time.Time // entered the phase
	minUntil time.Time // not done before
	deadline time.Time // done at the latest
	exit     bool      // stop the daemon when drained (SIGTERM)
	sockets  int       // last count; -1 until counted
	countErr error     // the last count failed: never read as 0
	ended    string    // why the last drain ended
}

// begin starts draining at now, for at most timeout, at least minWait.
// On a drain already running it keeps its times and only adds exit (a
// SIGTERM during `agent drain` stops the daemon when that drain ends).
// It returns false when already drained (nothing left to wait for).
func (m *drain) begin(now time.Time, timeout, minWait time.Duration, exit bool) bool {
	switch m.phase {
	case Draining:
		m.exit = m.exit || exit
		return true
	case Drained:
		return false
	}
	minWait = min(minWait, timeout)
	*m = drain{phase: Draining, since: now, minUntil: now.Add(minWait), deadline: now.Add(timeout), exit: exit, sockets: -1}
	return true
}

// step records a count taken at now and tells whether the drain is over:
// no socket left once MinWait has passed, or the timeout reached. A count
// that failed waits for the next one or the timeout.
func (m *drain) step(now time.Time, sockets int, err error) bool {
	if m.phase != Draining {
		return false
	}
	m.countErr = err
	if err == nil {
		m.sockets = sockets
	}
	switch {
	case !now.Before(m.deadline):
		m.ended = fmt.Sprintf("timeout %s reached with %s", m.deadline.Sub(m.since).Round(time.Millisecond), m.socketText())
	case err == nil && sockets == 0 && !now.Before(m.minUntil):
		m.ended = fmt.Sprintf("no socket to a VIP left after %s", now.Sub(m.since).Round(time.Millisecond))
	default:
		return false
	}
	m.phase, m.since = Drained, now
	return true
}

// undrain returns to serving from either phase; false if already serving.
func (m *drain) undrain(now time.Time) bool {
	if m.phase == Serving || m.phase == "" {
		return false
	}
	*m = drain{phase: Serving, since: now, sockets: -1}
	return true
}

func (m *drain) socketText() string {
	switch {
	case m.countErr != nil:
		return "sockets unknown (" + m.countErr.Error() + ")"
	case m.sockets < 0:
		return "sockets not counted yet"
	case m.sockets == 1:
		return "1 socket to a VIP"
	}
	return fmt.Sprintf("%d sockets to VIPs", m.sockets)
}

// line is the first line /readyz answers in a drain phase (health's
// ready checker reads "draining" or "draining: ..." as draining, anything
// else on a 503 as not ready).
func (m *drain) line(now time.Time) string {
	switch m.phase {
	case Draining:
		return fmt.Sprintf("draining: %s, for %s, at most %s more", m.socketText(),
			now.Sub(m.since).Round(time.Second), m.deadline.Sub(now).Round(time.Second))
	case Drained:
		return "drained: VIPs removed (" + m.ended + "); `lvsnode agent undrain` serves again"
	}
	return ""
}
