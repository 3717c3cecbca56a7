package main

import (
	"os"
	"path/filepath"
	"testing"
)

const (
	mitText    = "Permission is hereby granted, free of charge, to any person obtaining a copy"
	apacheText = "Licensed under the Apache License, Version 2.0 (the \"License\");"
	bsd3Text   = "Redistribution and use in source and binary forms ... * Neither the name of Google Inc."
	bsd2Text   = "Redistribution and use in source and binary forms, with or without modification"
)

// A module under two licenses is listed with both (gopkg.in/yaml.v3:
// MIT and Apache-2.0; github.com/klauspost/compress: BSD-3-Clause and
// Apache-2.0), in the order its LICENSE has them.
func TestModuleLicenseListsEveryLicense(t *testing.T) {
	cache := t.TempDir()
	for _, c := range []struct{ path, text, want string }{
		{"gopkg.in/yaml.v3", "covered by two licenses: MIT and Apache.\n" + mitText + "\n### Apache License ###\n" + apacheText, "MIT and Apache-2.0"},
		{"github.com/klauspost/compress", bsd3Text + "\n\n" + apacheText, "BSD-3-Clause and Apache-2.0"},
		{"github.com/BurntSushi/x", bsd2Text, "BSD-2-Clause"},
		{"example.com/mit", mitText, "MIT"},
		{"example.com/unknown", "All rights reserved.", "see its LICENSE file"},
	} {
		dir := filepath.Join(cache, escapeModPath(c.path)+"@v1.0.0")
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "LICENSE"), []byte(c.text), 0o644)
		if got := moduleLicense(cache, c.path, "v1.0.0"); got != c.want {
			t.Errorf("%s: %q, want %q", c.path, got, c.want)
		}
	}
}
