// Command mkdeb builds lvsnode's Debian packages with nfpm (as a library):
// for each architecture a static binary, the man pages and completion
// scripts that binary generates from its own command tree, the systemd
// units and example configs, copyright and changelog. `make deb` runs it.
//
//	go run ./mkdeb -root .. -out ../dist -arch amd64 -arch arm64
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

type archList []string

func (a *archList) String() string     { return strings.Join(*a, ",") }
func (a *archList) Set(s string) error { *a = append(*a, s); return nil }

func main() {
	var o options
	var arches archList
	flag.StringVar(&o.Root, "root", "..", "the lvsnode repository")
	flag.StringVar(&o.Out, "out", "../dist", "where the .deb files go")
	flag.StringVar(&o.Describe, "version", "", "git describe output (default: run git describe --tags --always --dirty)")
	flag.Var(&arches, "arch", "Debian architecture to build (repeatable; default amd64 and arm64)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "mkdeb: unexpected argument %q\n", flag.Arg(0))
		os.Exit(2)
	}
	o.Arches = arches
	if len(o.Arches) == 0 {
		o.Arches = []string{"amd64", "arm64"}
	}
	debs, err := o.run()
	if err != nil {
		fmt.Fprintf(os.Stderr, "mkdeb: %v\n", err)
		os.Exit(1)
	}
	for _, d := range debs {
		fmt.Println(d)
	}
}
