package director

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/lvsnode/lvsnode/ipvs"
	etcdstore "github.com/lvsnode/lvsnode/store/etcd"
)

// The desired services as the shared store's keys (store/etcd's layout):
// one key a service (its settings, without real servers) and one a real
// server. Keys are relative to the prefix; values are canonical JSON, so
// two directors encoding the same services write the same bytes.

// encodeServices is svcs as key -> value. A service with the default
// settings and real servers gets no key of its own: the real servers'
// keys imply it (an agent registering into a new service writes only its
// own key), and it leaves with the last of them.
func encodeServices(svcs []ServiceSpec) map[string]string {
	kv := map[string]string{}
	for _, s := range svcs {
		name := serviceID(s)
		c := s
		c.Service, c.Nodes = name, nil
		if !(same(c, ServiceSpec{Service: name}) && len(s.Nodes) > 0) {
			kv[etcdstore.ServiceKey("", name)] = mustJSON(c)
		}
		port := servicePort(s.Service)
		for _, n := range s.Nodes {
			kv[etcdstore.NodeKey("", name, nodeKey(n, port))] = mustJSON(n)
		}
	}
	return kv
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // the desired state's types always marshal
	}
	return string(b)
}

// sharedNode is a real server's value: a NodeSpec plus the agent's flag.
type sharedNode struct {
	NodeSpec
	Draining bool `json:"draining,omitempty"`
}

// decoded is one key's value read back: canonical is what encodeServices
// would write for it (to compare), draining the agent's flag.
type decoded struct {
	service  string
	rs       string // "" for a service key
	spec     ServiceSpec
	node     NodeSpec
	draining bool
	canon    string
}

// decodeKey reads one key (relative to the prefix) and its value. A field
// the value's type does not have (a typo: {"wieght": 5} would otherwise
// give weight 1) makes the key invalid (reported, not applied); an
// agent's key (store/etcd's Node, draining included) has only known ones.
// Fields inside check/agent are read by health.Definition's own decoder.
func decodeKey(k string, v []byte) (decoded, error) {
	svc, rs, ok := etcdstore.Parse("", k)
	if !ok {
		return decoded{}, fmt.Errorf("%w: key %q is not in lvsnode's layout", ErrInvalid, k)
	}
	sk, err := ParseService(svc)
	if err != nil {
		return decoded{}, fmt.Errorf("key %q: %w", k, err)
	}
	x := decoded{service: ServiceName(sk), rs: rs}
	if rs == "" {
		if err := decodeStrict(v, &x.spec); err != nil {
			return x, fmt.Errorf("%w: key %q: %v", ErrInvalid, k, err)
		}
		if sc := x.spec.Scheduler; sc != "" && !slices.Contains(ipvs.AllSchedulers, sc) {
			// the kernel would refuse it at every reconcile: skipped here,
			// reported with the other invalid keys
			return x, fmt.Errorf("%w: key %q: unknown scheduler %q: one of %s", ErrInvalid, k, sc, strings.Join(ipvs.AllSchedulers, " "))
		}
		x.spec.Service, x.spec.Nodes = x.service, nil
		x.canon = mustJSON(x.spec)
		return x, nil
	}
	var n sharedNode
	if err := decodeStrict(v, &n); err != nil {
		return x, fmt.Errorf("%w: key %q: %v", ErrInvalid, k, err)
	}
	if nodeKey(n.NodeSpec, sk.Port) != rs {
		return x, fmt.Errorf("%w: key %q holds real server %s", ErrInvalid, k, nodeKey(n.NodeSpec, sk.Port))
	}
	x.node, x.draining, x.canon = n.NodeSpec, n.Draining, mustJSON(n.NodeSpec)
	return x, nil
}

// decodeStrict is json.Unmarshal refusing unknown fields.
func decodeStrict(v []byte, into any) error {
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON value")
	}
	return nil
}

// assemble builds the services from decoded keys (sorted by service, then
// real server, so every director gets the same order).
func assemble(keys map[string]decoded) []ServiceSpec {
	names := make([]string, 0, len(keys))
	for k := range keys {
		names = append(names, k)
	}
	sort.Strings(names)
	byName := map[string]int{}
	var out []ServiceSpec
	svc := func(name string) *ServiceSpec {
		i, ok := byName[name]
		if !ok {
			out = append(out, ServiceSpec{Service: name})
			i = len(out) - 1
			byName[name] = i
		}
		return &out[i]
	}
	for _, k := range names {
		if x := keys[k]; x.rs == "" {
			s := svc(x.service)
			*s = x.spec
		}
	}
	for _, k := range names {
		if x := keys[k]; x.rs != "" {
			s := svc(x.service)
			s.Nodes = append(s.Nodes, x.node)
		}
	}
	return out
}

// withKeys is svcs with the keys of kv (relative key -> value, as
// encodeServices writes them) put in: a seeded service's settings or
// real server (EtcdStore.SeedFile). The result is in assemble's order.
func withKeys(svcs []ServiceSpec, kv map[string]string) []ServiceSpec {
	all := encodeServices(svcs)
	for k, v := range kv {
		all[k] = v
	}
	keys := make(map[string]decoded, len(all))
	for k, v := range all {
		if x, err := decodeKey(k, []byte(v)); err == nil { // encodeServices' own output decodes
			keys[k] = x
		}
	}
	return assemble(keys)
}
