package versioninfo

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/lvsnode/lvsnode/ipvs"
)

func TestCollectReadsTheKernelsIPVSVersion(t *testing.T) {
	in := Collect("v1.2.3-4-gabcdef0", func() (ipvs.Client, error) { return ipvs.NewFake(), nil })
	var b bytes.Buffer
	in.WriteText(&b)
	want := fmt.Sprintf("lvsnode v1.2.3-4-gabcdef0\ngo: %s %s/%s\nIPVS: 1.2.1 (connection table 4096 buckets)\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestCollectSaysWhyIPVSIsNotAvailable(t *testing.T) {
	in := Collect("dev", func() (ipvs.Client, error) { return nil, fmt.Errorf("connect to IPVS: %w", ipvs.ErrNoIPVS) })
	var b bytes.Buffer
	in.WriteText(&b)
	if !strings.HasSuffix(b.String(), "\nIPVS: not available (connect to IPVS: "+ipvs.ErrNoIPVS.Error()+")\n") {
		t.Errorf("got\n%s", b.String())
	}
	b.Reset()
	in.WriteJSON(&b)
	var back map[string]any
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back["version"] != "dev" || back["ipvs_error"] == nil || back["ipvs"] != nil {
		t.Errorf("json: %s", b.String())
	}
}
