package health

import (
	"encoding/json"
	"fmt"
	"time"
)

// definitionFields is Definition without its methods: the default JSON
// encoding of every field but the durations.
type definitionFields Definition

// definitionJSON shadows the durations with their text form.
type definitionJSON struct {
	*definitionFields
	Interval textDuration `json:"interval,omitzero"`
	Timeout  textDuration `json:"timeout,omitzero"`
}

// MarshalJSON writes README.md's keys, durations as text ("200ms").
func (d Definition) MarshalJSON() ([]byte, error) {
	f := definitionFields(d)
	return json.Marshal(definitionJSON{&f, textDuration(d.Interval), textDuration(d.Timeout)})
}

// UnmarshalJSON reads README.md's keys; a duration is text ("200ms") or a
// number of nanoseconds. Errors wrap ErrInvalid and name the key.
func (d *Definition) UnmarshalJSON(b []byte) error {
	var f definitionFields
	j := definitionJSON{definitionFields: &f}
	if err := json.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("%w: check: %v", ErrInvalid, err)
	}
	*d = Definition(f)
	d.Interval, d.Timeout = time.Duration(j.Interval), time.Duration(j.Timeout)
	return nil
}

type textDuration time.Duration

func (t textDuration) MarshalText() ([]byte, error) { return []byte(time.Duration(t).String()), nil }

func (t *textDuration) UnmarshalJSON(b []byte) error {
	var n int64
	if err := json.Unmarshal(b, &n); err == nil {
		*t = textDuration(n)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration %s: want text such as \"200ms\"", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: want e.g. 200ms, 2s", s)
	}
	*t = textDuration(v)
	return nil
}
