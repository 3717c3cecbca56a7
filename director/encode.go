package director

import (
	"bytes"
	"encoding/json"
	"slices"
	"sync"

	"github.com/lvsnode/lvsnode/health"
)

// specEncoder writes a Desired as encoding/json does, reusing the
// encoding of each service it wrote last time and that is still the same:
// a runtime change saves the whole state before it answers, and with
// 1,000 services encoding them all again was most of that save. A
// service is the same when its fields and its real server list (the
// same backing array and length: lists are copied on write, never
// changed in place, see copyDesired) are; the weights and checks its
// real servers point to are replaced by edits, never changed in place.
type specEncoder struct {
	mu     sync.Mutex
	prev   map[specKey][]byte
	spare  map[specKey][]byte   // the map before prev, cleared for the next save
	states map[NodeState][]byte // most real servers share a few states
	size   int                  // the last encoding's, to size the next
}

type specKey struct {
	service, scheduler, onDown string
	persistent                 uint32
	quorum                     int
	sorry                      *NodeSpec
	check, agent               *health.Definition
	nodes                      *NodeSpec // the list's first element: its backing array
	n                          int
}

func keyOf(s *ServiceSpec) specKey {
	k := specKey{service: s.Service, scheduler: s.Scheduler, onDown: s.OnDown, persistent: s.Persistent,
		quorum: s.Quorum, sorry: s.Sorry, check: s.Check, agent: s.Agent, n: len(s.Nodes)}
	if len(s.Nodes) > 0 {
		k.nodes = &s.Nodes[0]
	}
	return k
}

// servicesPrefix is how json.Marshal starts a Desired without services
// (its first field, without omitempty).
const servicesPrefix = `{"services":null`

// encode is json.Marshal(d) but for the order of the keys (json.Unmarshal
// reads both the same): services, config, nodes, then the rest.
func (e *specEncoder) encode(d Desired) ([]byte, error) {
	rest := d
	rest.Services, rest.Config, rest.Nodes = nil, nil, nil
	tail, err := json.Marshal(rest)
	if err != nil || !bytes.HasPrefix(tail, []byte(servicesPrefix)) {
		return json.Marshal(d)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	next := e.spare
	if next == nil {
		next = make(map[specKey][]byte, len(d.Services)+len(d.Config))
	}
	clear(next)
	var b bytes.Buffer
	b.Grow(e.size + 64)
	b.WriteString(`{"services":`)
	if err := e.list(&b, d.Services, next); err != nil {
		return nil, err
	}
	if len(d.Config) > 0 { // omitempty
		b.WriteString(`,"config":`)
		if err := e.list(&b, d.Config, next); err != nil {
			return nil, err
		}
	}
	if len(d.Nodes) > 0 { // omitempty
		b.WriteString(`,"nodes":`)
		if err := e.nodes(&b, d.Nodes); err != nil {
			return nil, err
		}
	}
	b.Write(tail[len(servicesPrefix):])
	e.prev, e.spare, e.size = next, e.prev, b.Len()
	return b.Bytes(), nil
}

// nodes writes the node states as a JSON object, keys sorted as
// encoding/json sorts them, each distinct state encoded once.
func (e *specEncoder) nodes(b *bytes.Buffer, m map[string]NodeState) error {
	if e.states == nil || len(e.states) > 64 {
		e.states = map[NodeState][]byte{}
	}
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	b.WriteByte('{')
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		if plainJSON(id) {
			b.WriteByte('"')
			b.WriteString(id)
			b.WriteByte('"')
		} else {
			k, _ := json.Marshal(id)
			b.Write(k)
		}
		b.WriteByte(':')
		st := m[id]
		enc, ok := e.states[st]
		if !ok {
			var err error
			if enc, err = json.Marshal(st); err != nil {
				return err
			}
			e.states[st] = enc
		}
		b.Write(enc)
	}
	b.WriteByte('}')
	return nil
}

// plainJSON reports whether s is written in JSON as it is, between quotes
// (printable ASCII that encoding/json does not escape).
func plainJSON(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20, c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

func (e *specEncoder) list(b *bytes.Buffer, specs []ServiceSpec, next map[specKey][]byte) error {
	if specs == nil {
		b.WriteString("null")
		return nil
	}
	b.WriteByte('[')
	for i := range specs {
		if i > 0 {
			b.WriteByte(',')
		}
		k := keyOf(&specs[i])
		enc, ok := e.prev[k]
		if !ok {
			if enc, ok = next[k]; !ok {
				var err error
				if enc, err = json.Marshal(specs[i]); err != nil {
					return err
				}
			}
		}
		next[k] = enc
		b.Write(enc)
	}
	b.WriteByte(']')
	return nil
}
