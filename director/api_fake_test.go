package director

import (
	"context"
	"sync"
)

// apiFakeRuntime records the API's calls and answers with err (when set).
type apiFakeRuntime struct {
	mu     sync.Mutex
	calls  []string
	nodes  []Node
	patch  []NodePatch
	refs   []NodeRef
	drains []DrainOptions
	err    error
	status Status
}

var _ Runtime = (*apiFakeRuntime)(nil)

func (f *apiFakeRuntime) call(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, name)
	return f.err
}

func (f *apiFakeRuntime) Status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "Status")
	return f.status
}

func (f *apiFakeRuntime) AddNode(_ context.Context, n Node) error {
	f.nodes = append(f.nodes, n)
	return f.call("AddNode")
}

func (f *apiFakeRuntime) EditNode(_ context.Context, n NodePatch) error {
	f.patch = append(f.patch, n)
	return f.call("EditNode")
}

func (f *apiFakeRuntime) RemoveNode(_ context.Context, r NodeRef) error {
	f.refs = append(f.refs, r)
	return f.call("RemoveNode")
}

func (f *apiFakeRuntime) Drain(_ context.Context, r NodeRef, o DrainOptions) error {
	f.refs = append(f.refs, r)
	f.drains = append(f.drains, o)
	return f.call("Drain")
}

func (f *apiFakeRuntime) Undrain(_ context.Context, r NodeRef) error {
	f.refs = append(f.refs, r)
	return f.call("Undrain")
}
