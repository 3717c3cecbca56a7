// Command mkdeb builds lvsnode's Debian packages with nfpm (as a library):
// for each architecture a static binary, the man pages and completion
// scripts that binary generates from its own command tree, the systemd
// units and example configs, copyright and changelog. `make deb` runs it.
//
//	go run ./mkdeb -root .. -out ../dist -arch amd64 -arch arm64
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

type archList []string

func (a *archList) String() string     { return strings.Join(*a, ",") }
func (a *archList) Set(s string) error { *a = append(*a, s); return nil }

func main() { os.Exit(mkdeb(os.Args[1:], os.Stdout, os.Stderr)) }

// mkdeb is the command: the packages' paths on stdout, one line on stderr
// and exit status 2 for bad input (nothing built), 1 for a failure.
func mkdeb(args []string, stdout, stderr io.Writer) int {
	var o options
	var arches archList
	fs := flag.NewFlagSet("mkdeb", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Root, "root", "..", "the lvsnode repository")
	fs.StringVar(&o.Out, "out", "../dist", "where the .deb files go")
	fs.StringVar(&o.Describe, "version", "", "git describe output (default: run git describe --tags --always --dirty)")
	fs.Var(&arches, "arch", "Debian architecture to build (repeatable; default amd64 and arm64)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "mkdeb: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	o.Arches = arches
	if len(o.Arches) == 0 {
		o.Arches = []string{"amd64", "arm64"}
	}
	debs, err := o.run()
	if err != nil {
		fmt.Fprintf(stderr, "mkdeb: %s\n", strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
		if errors.Is(err, errUsage) {
			return 2
		}
		return 1
	}
	for _, d := range debs {
		fmt.Fprintln(stdout, d)
	}
	return 0
}
