package health

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"os"
	"reflect"
	"regexp"
	"slices"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestDefinitionJSONIsREADMEsKeysWithTextDurations(t *testing.T) {
	d := Definition{Type: HTTP, Target: netip.MustParseAddr("10.0.0.11"), Port: 80, Path: "/health", Expect: []int{200, 204},
		Mark: 0x2a, Source: netip.MustParseAddr("10.0.0.2"), DataPath: true,
		Interval: 200 * time.Millisecond, Timeout: 100 * time.Millisecond, Rise: 2, Fall: 2, Initial: Up}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"type":"http","target":"10.0.0.11","port":80,"path":"/health","expect":[200,204],"mark":42,` +
		`"source":"10.0.0.2","data_path":true,"rise":2,"fall":2,"initial":"up","interval":"200ms","timeout":"100ms"}`
	if string(b) != want {
		t.Fatalf("JSON:\n%s\nwant:\n%s", b, want)
	}
	var back Definition
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, d) {
		t.Fatalf("round trip: %+v, %v", back, err)
	}
	// Unset fields are left out; a number is still read as nanoseconds.
	if b, _ := json.Marshal(Definition{Type: TCP}); string(b) != `{"type":"tcp"}` {
		t.Errorf("zero definition: %s", b)
	}
	if err := json.Unmarshal([]byte(`{"type":"tcp","interval":2000000000}`), &back); err != nil || back.Interval != 2*time.Second {
		t.Errorf("nanoseconds: %v %v", back.Interval, err)
	}
	if err := json.Unmarshal([]byte(`{"type":"tcp","timeout":"2x"}`), &back); err == nil {
		t.Error("bad duration accepted")
	}
}

// The YAML block of README.md decodes into a Definition with no unknown
// key, and JSON writes exactly the same keys.
func TestREADMEKeysAreTheDefinitionsKeys(t *testing.T) {
	md, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```yaml\n(check:\n.*?)```").FindSubmatch(md)
	if m == nil {
		t.Fatal("no ```yaml check: block in README.md")
	}
	var doc struct {
		Check Definition `yaml:"check"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(m[1]))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("README's check block: %v", err)
	}
	d := doc.Check
	if d.Type != HTTP || d.Target != netip.MustParseAddr("10.0.0.11") || d.Interval != 2*time.Second || d.Mark != 0x2a || !d.DataPath {
		t.Errorf("README's check block decoded as %+v", d)
	}
	var raw, keys map[string]any
	yaml.Unmarshal(m[1], &raw)
	b, _ := json.Marshal(d)
	json.Unmarshal(b, &keys)
	got := mapKeys(keys)
	// README shows initial and insecure at their defaults, which JSON leaves out.
	want := slices.DeleteFunc(mapKeys(raw["check"].(map[string]any)), func(k string) bool { return k == "initial" || k == "insecure" })
	if !slices.Equal(got, want) {
		t.Errorf("JSON keys %v, README keys %v", got, want)
	}
}

func mapKeys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
