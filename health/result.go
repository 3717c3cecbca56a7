package health

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Checker runs one probe. Check honours ctx and the definition's timeout,
// never panics on network errors, and is safe for use by one goroutine at a
// time (the Scheduler never runs a check concurrently with itself).
type Checker interface {
	Check(ctx context.Context) Result
}

// Result is the outcome of one probe.
type Result struct {
	OK       bool          // the probe passed
	Draining bool          // the agent said "draining" (then OK is false)
	Reason   string        // short, for logs and status: "connected", "status 503", "timeout after 1s"; always through CleanReason (no control characters, at most ReasonLimit bytes)
	Latency  time.Duration // from the start of the probe to its verdict
	Err      error         // nil when OK; wraps one of the Err* sentinels
}

// Sentinel errors. Failed results and API calls wrap them (errors.Is).
var (
	ErrInvalid  = errors.New("invalid health check")
	ErrTimeout  = errors.New("timeout")
	ErrRefused  = errors.New("connection refused")
	ErrConnect  = errors.New("connect failed")
	ErrMark     = errors.New("cannot set SO_MARK")
	ErrTLS      = errors.New("tls failed")
	ErrStatus   = errors.New("unexpected status")
	ErrBody     = errors.New("body does not match")
	ErrNotReady = errors.New("not ready")
	ErrDraining = errors.New("draining")
	ErrExists   = errors.New("subscriber already exists")
	ErrNotFound = errors.New("no such subscriber")
	ErrClosed   = errors.New("scheduler closed")
)

func pass(start time.Time, reason string) Result {
	return Result{OK: true, Reason: CleanReason(reason), Latency: time.Since(start)}
}

func fail(start time.Time, err error) Result {
	return Result{Reason: CleanReason(err.Error()), Latency: time.Since(start), Err: err}
}

// State is what the rise/fall machine concludes about a check.
type State uint8

const (
	// Down: fall consecutive failures (or the initial state, like
	// keepalived's alpha). The director sets weight 0.
	Down State = iota
	// Up: rise consecutive successes. The configured weight applies.
	Up
	// Draining: the agent asked to be drained. The director sets weight 0
	// and waits for connections to end; unlike Down it is deliberate, so it
	// takes effect on the first such answer, without fall.
	Draining
)

var stateNames = [...]string{Down: "down", Up: "up", Draining: "draining"}

func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// MarshalText writes the name, for JSON and YAML.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText accepts "down", "up" or "draining".
func (s *State) UnmarshalText(b []byte) error {
	for i, n := range stateNames {
		if string(b) == n {
			*s = State(i)
			return nil
		}
	}
	return fmt.Errorf("%w: state %q: want down, up or draining", ErrInvalid, b)
}
