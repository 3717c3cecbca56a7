package director

import (
	"context"
	"errors"
)

// Runtime is what the API can ask of a running director. Every method is safe for concurrent use.
type Runtime interface {
	Status() Status                                               // snapshot for GET /v1/status and metrics
	AddNode(ctx context.Context, n Node) error                    // creates the real server (and service if `Service` is given in full)
	EditNode(ctx context.Context, n NodePatch) error              // only the fields given change
	RemoveNode(ctx context.Context, ref NodeRef) error            // removes the real server from IPVS and the desired state
	Drain(ctx context.Context, ref NodeRef, o DrainOptions) error // returns when draining started, not finished
	Undrain(ctx context.Context, ref NodeRef) error               // back to the configured weight (when healthy)
}

// Sentinel errors. Every error of a Runtime method, of config loading and of
// a Store that has one of these causes wraps it (%w), so the API maps them
// to HTTP statuses with errors.Is:
//   - ErrNotFound (404): no such service or real server in the desired state.
//   - ErrExists (409): the real server (or service) is already there.
//   - ErrInvalid (400): bad input; the message names the field (or file:line).
//   - ErrNotManaged (409): the service exists in IPVS but this daemon does
//     not manage it, so it will not touch it.
var (
	ErrNotFound   = errors.New("not found")
	ErrExists     = errors.New("already exists")
	ErrInvalid    = errors.New("invalid")
	ErrNotManaged = errors.New("service not managed by this director")
)
