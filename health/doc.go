// Package health owns the director's health checks of real servers: the
// checkers (TCP connect, HTTP and HTTPS GET, the agent's readiness endpoint,
// and data-path probes marked with SO_MARK), and the Scheduler that runs each
// distinct check once, however many services use it, applies rise and fall,
// and reports state changes.
//
// It never touches the IPVS table, addresses, routes, rules or sysctls: it
// only opens probe sockets. Acting on a state change (weight 0, removal, a
// sorry server) and programming the per-real-server fwmark service that a
// data-path probe relies on are the director daemon's job; this package
// only marks the probe and dials.
//
// Contracts callers rely on:
//   - Definition.Validate and NewChecker fail with an error wrapping
//     ErrInvalid that names the field and the check.
//   - A failed Result carries Err wrapping one of ErrTimeout, ErrRefused,
//     ErrConnect, ErrMark, ErrTLS, ErrStatus, ErrBody, ErrNotReady or
//     ErrDraining, so callers can branch with errors.Is.
//   - The agent's readiness endpoint (GET /readyz of `lvsnode agent run`)
//     answers 200 when ready; 503 whose first body line is "draining" (or
//     starts with "draining:" or "draining ") means the agent is draining
//     on purpose, reported as the Draining state, distinct from Down.
//   - Scheduler.Add, Update and Remove fail with errors wrapping ErrExists,
//     ErrNotFound or ErrClosed.
package health
