package director

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"
)

// canonical is x as json.Marshal writes it after a round trip.
func canonical(t *testing.T, b []byte) string {
	t.Helper()
	var x Desired
	if err := json.Unmarshal(b, &x); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	c, _ := json.Marshal(x)
	return string(c)
}

// What a store saves after every kind of runtime change is what
// json.Marshal would have written (the encoder reuses the encoding of the
// services a change did not touch; lists are copied on write), and a
// node id JSON must escape is escaped.
func TestSavedStateIsTheDesiredState(t *testing.T) {
	r, _ := scopedRig(t)
	ctx := context.Background()
	check := func(what string) {
		t.Helper()
		saved, _ := r.store.Load(ctx)
		b, _ := json.Marshal(saved)
		want, _ := json.Marshal(r.d.desired)
		if canonical(t, b) != canonical(t, want) {
			t.Fatalf("%s: saved\n%s\nwant\n%s", what, b, want)
		}
	}
	ref := NodeRef{Service: "tcp 10.0.0.101:80", Address: "10.0.0.11"}
	steps := []struct {
		name string
		do   func() error
	}{
		{"add", func() error {
			return r.d.AddNode(ctx, Node{NodeRef: NodeRef{Service: ref.Service, Address: "10.0.0.13"}})
		}},
		{"edit", func() error { return r.d.EditNode(ctx, NodePatch{NodeRef: ref, Weight: ptr(uint32(7))}) }},
		{"edit again", func() error { return r.d.EditNode(ctx, NodePatch{NodeRef: ref, Method: ptr("tun")}) }},
		{"drain", func() error { return r.d.Drain(ctx, ref, DrainOptions{Timeout: Duration(time.Minute)}) }},
		{"remove", func() error { return r.d.RemoveNode(ctx, NodeRef{Service: ref.Service, Address: "10.0.0.13"}) }},
		{"add, new service", func() error {
			return r.d.AddNode(ctx, Node{NodeRef: NodeRef{Service: "tcp 10.0.0.104:80", Address: "10.0.0.11"}})
		}},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		check(s.name)
	}
	var e specEncoder
	d := Desired{Nodes: map[string]NodeState{"a<b\"c": {Drain: DrainNone}, "plain": {Health: HealthUp}}}
	b, err := e.encode(d)
	want, _ := json.Marshal(d)
	if err != nil || canonical(t, b) != canonical(t, want) {
		t.Fatalf("escaped ids: %s (%v), want %s", b, err, want)
	}
}

type failingStore struct{ MemStore }

func (f *failingStore) Save(context.Context, Desired) error { return errors.New("disk full") }

// A change that cannot be saved changes nothing: the running desired
// state is as it was (the edit worked on copies: the lists are copied on
// write), and IPVS is not written.
func TestUnsavedChangeChangesNothing(t *testing.T) {
	r, _ := scopedRig(t)
	ctx := context.Background()
	before, _ := json.Marshal(r.d.desired)
	log := len(r.fake.Log)
	r.d.o.Store = &failingStore{}
	ref := NodeRef{Service: "tcp 10.0.0.101:80", Address: "10.0.0.11"}
	for _, err := range []error{
		r.d.EditNode(ctx, NodePatch{NodeRef: ref, Weight: ptr(uint32(7))}),
		r.d.AddNode(ctx, Node{NodeRef: NodeRef{Service: ref.Service, Address: "10.0.0.13"}}),
		r.d.RemoveNode(ctx, ref),
	} {
		if err == nil {
			t.Fatal("a change that could not be saved succeeded")
		}
	}
	if after, _ := json.Marshal(r.d.desired); string(after) != string(before) {
		t.Errorf("desired state changed:\n%s\nwas\n%s", after, before)
	}
	if len(r.fake.Log) != log {
		t.Errorf("IPVS written: %q", r.fake.Log[log:])
	}
}
