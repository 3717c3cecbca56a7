package clidoc

import (
	"reflect"
	"strings"
)

// YAMLKeys lists the YAML keys of struct type t (a pointer is followed),
// recursively, in YAML's flow style as a man page shows them:
//
//	socket, listen, token_file
//	service, sorry: {address, port}, nodes: [{address, port}]
//
// The keys are the fields' yaml tags, so the list cannot miss one. A field
// whose type is in named is shown by name only (its keys are listed once,
// elsewhere on the page). A struct without yaml-tagged fields (netip.Addr)
// or with its own UnmarshalYAML is a scalar.
func YAMLKeys(t reflect.Type, named map[reflect.Type]bool) string {
	var keys []string
	for _, f := range fields(t) {
		key := f.key
		ft := deref(f.typ)
		list := false
		if ft.Kind() == reflect.Slice && ft.Elem().Kind() != reflect.Uint8 {
			ft, list = deref(ft.Elem()), true
		}
		if !named[ft] && len(fields(ft)) > 0 {
			inner := "{" + YAMLKeys(ft, named) + "}"
			if list {
				inner = "[" + inner + "]"
			}
			key += ": " + inner
		}
		keys = append(keys, key)
	}
	return strings.Join(keys, ", ")
}

// YAMLTopKeys are the top-level keys of struct type t, in field order.
func YAMLTopKeys(t reflect.Type) []string {
	var keys []string
	for _, f := range fields(t) {
		keys = append(keys, f.key)
	}
	return keys
}

type yamlField struct {
	key string
	typ reflect.Type
}

// fields are the yaml-tagged fields of a struct type a YAML mapping
// decodes into; none for anything else. A type with its own UnmarshalYAML
// is taken at its tags (director's sync: reads the keys its fields name);
// one with no tagged field is a scalar key.
func fields(t reflect.Type) []yamlField {
	t = deref(t)
	if t.Kind() != reflect.Struct {
		return nil
	}
	var out []yamlField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if f.IsExported() && tag == "" && strings.Contains(opts, "inline") { // its keys are this mapping's
			out = append(out, fields(f.Type)...)
			continue
		}
		if !f.IsExported() || tag == "" || tag == "-" {
			continue
		}
		out = append(out, yamlField{tag, f.Type})
	}
	return out
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}
