// Package versioninfo owns what `lvsnode version` reports: the build's
// version (git describe, set at link time), the Go toolchain, and the IPVS
// version the running kernel reports over generic netlink (IPVS_CMD_GET_INFO),
// or why it could not be read. It only reads; it never changes the kernel.
package versioninfo

import (
	"encoding/json"
	"fmt"
	"io"
	"runtime"

	"github.com/lvsnode/lvsnode/ipvs"
)

// Info is the report. IPVS is empty when IPVSError says why it is unknown.
type Info struct {
	Version   string `json:"version"`
	Go        string `json:"go"`
	Platform  string `json:"platform"`
	IPVS      string `json:"ipvs,omitempty"`
	TableSize uint32 `json:"ipvs_table_size,omitempty"`
	IPVSError string `json:"ipvs_error,omitempty"`
}

// Collect builds the report for build version v. open connects to IPVS
// (ipvs.New in the binary, a fake in tests); any error from it or from the
// GET_INFO request (ipvs.ErrNoIPVS when the module is not loaded,
// ipvs.ErrPermission without CAP_NET_ADMIN) becomes IPVSError, never a
// failure: the version of the binary is always reported.
func Collect(v string, open func() (ipvs.Client, error)) Info {
	in := Info{Version: v, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	c, err := open()
	if err != nil {
		in.IPVSError = err.Error()
		return in
	}
	defer c.Close()
	k, err := c.Info()
	if err != nil {
		in.IPVSError = err.Error()
		return in
	}
	in.IPVS = fmt.Sprintf("%d.%d.%d", k.Version[0], k.Version[1], k.Version[2])
	in.TableSize = k.TableSize
	return in
}

// WriteText writes the report for people, one fact a line:
//
//	lvsnode 8589e41
//	go: go1.26.8 linux/amd64
//	IPVS: 1.2.1 (connection table 4096 buckets)
//
// or "IPVS: not available (REASON)".
func (in Info) WriteText(w io.Writer) error {
	ipvsLine := fmt.Sprintf("IPVS: %s (connection table %d buckets)", in.IPVS, in.TableSize)
	if in.IPVS == "" {
		ipvsLine = fmt.Sprintf("IPVS: not available (%s)", in.IPVSError)
	}
	_, err := fmt.Fprintf(w, "lvsnode %s\ngo: %s %s\n%s\n", in.Version, in.Go, in.Platform, ipvsLine)
	return err
}

// WriteJSON writes the report as one JSON object.
func (in Info) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(in)
}
