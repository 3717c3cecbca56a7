package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
)

const (
	pkgName    = "lvsnode"
	maintainer = "lvsnode maintainers <lvsnode@users.noreply.github.com>"
	homepage   = "https://github.com/lvsnode/lvsnode"
	docDir     = "/usr/share/doc/lvsnode"
)

// description is the control file's Description: a synopsis, then the
// extended text (nfpm indents it).
const description = `LVS (IPVS) real servers and directors as software
lvsnode sets up and keeps Linux Virtual Server clusters. "lvsnode agent" runs
on each real server: it sets the ARP sysctls, binds the VIPs on lo, adds the
routes for DR, TUN and NAT, repairs drift and tells systemd when it is ready.
"lvsnode controller" runs on the director: it programs IPVS over generic
netlink with ipvsadm's flags and formats, and "controller run" keeps the
services true to their healthy real servers.
The systemd units are installed but not enabled; the example
configurations are in /usr/share/doc/lvsnode/examples.`

// input is what one package is made of, all files on disk.
type input struct {
	Arch     string    // Debian architecture: amd64, arm64
	Version  string    // Debian version (debVersion)
	Describe string    // git describe, for the changelog
	Date     time.Time // the commit's time: every mtime and the changelog's date
	Binary   string    // the static lvsnode for Arch
	Docs     string    // generated: man/*.8, lvsnode.bash, _lvsnode
	Examples string    // the repository's examples/
	Debian   string    // packaging/debian: maintainer scripts, lintian overrides
	Years    string    // copyright years: "2026" or "2025-2026"
	Work     string    // scratch for generated files
	ModCache string    // GOMODCACHE, for the licenses in copyright
}

// content is one file of the package: where it comes from, where it goes.
type content struct {
	src, dst string
	mode     os.FileMode
}

// contents lists every file of the package, with why each is there.
func (in input) contents() ([]content, error) {
	c := []content{
		// The one binary; static, so the package depends on nothing.
		{in.Binary, "/usr/bin/lvsnode", 0o755},
		// The units, installed but not enabled: each needs a site config first.
		{filepath.Join(in.Examples, "lvsnode-agent.service"), "/lib/systemd/system/lvsnode-agent.service", 0o644},
		{filepath.Join(in.Examples, "lvsnode-controller.service"), "/lib/systemd/system/lvsnode-controller.service", 0o644},
		// Completion, where bash-completion and zsh look for vendor scripts.
		{filepath.Join(in.Docs, "lvsnode.bash"), "/usr/share/bash-completion/completions/lvsnode", 0o644},
		{filepath.Join(in.Docs, "_lvsnode"), "/usr/share/zsh/vendor-completions/_lvsnode", 0o644},
		// Why the one error lintian would report does not apply (see the file).
		{filepath.Join(in.Debian, "lintian-overrides"), "/usr/share/lintian/overrides/lvsnode", 0o644},
	}
	// Example configs, not conffiles: a VIP list or a service table has no
	// safe default, and cloud-init writes /etc/lvsnode/agent.yaml before the
	// package is installed.
	for _, f := range []string{"agent.yaml", "director.yaml", "cloud-init.yaml", "cloud-init-tun.yaml"} {
		c = append(c, content{filepath.Join(in.Examples, f), docDir + "/examples/" + f, 0o644})
	}
	pages, err := filepath.Glob(filepath.Join(in.Docs, "man", "*.8"))
	if err != nil || len(pages) == 0 {
		return nil, fmt.Errorf("no man pages in %s/man (lvsnode generate man)", in.Docs)
	}
	for _, p := range pages {
		gz, err := in.gzipFile(p)
		if err != nil {
			return nil, err
		}
		c = append(c, content{gz, "/usr/share/man/man8/" + filepath.Base(gz), 0o644})
	}
	cr, err := copyrightText(in.Binary, in.ModCache, in.Years)
	if err != nil {
		return nil, err
	}
	crPath := filepath.Join(in.Work, "copyright")
	if err := os.WriteFile(crPath, []byte(cr), 0o644); err != nil {
		return nil, err
	}
	clPath := filepath.Join(in.Work, "changelog")
	if err := os.WriteFile(clPath, []byte(in.changelog()), 0o644); err != nil {
		return nil, err
	}
	clGz, err := in.gzipFile(clPath)
	if err != nil {
		return nil, err
	}
	// Debian policy 12.5 and 12.7: every package has both.
	c = append(c, content{crPath, docDir + "/copyright", 0o644}, content{clGz, docDir + "/changelog.gz", 0o644})
	return c, nil
}

// changelog is the Debian changelog of this native package: one entry for
// this build (the history is the repository's).
func (in input) changelog() string {
	return fmt.Sprintf("%s (%s) unstable; urgency=medium\n\n"+
		"  * Built from %s (git describe); the changes are in the repository's\n"+
		"    history.\n\n -- %s  %s\n",
		pkgName, in.Version, in.Describe, maintainer, in.Date.UTC().Format("Mon, 02 Jan 2006 15:04:05 -0700"))
}

// gzipFile writes src.gz into the scratch dir as Debian wants it: maximum
// compression, no name and no time stamp in the header (reproducible).
func (in input) gzipFile(src string) (string, error) {
	raw, err := os.ReadFile(src)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := zw.Write(raw); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}
	dst := filepath.Join(in.Work, filepath.Base(src)+".gz")
	return dst, os.WriteFile(dst, buf.Bytes(), 0o644)
}

// build writes dir/lvsnode_VERSION_ARCH.deb and returns its path.
func (in input) build(dir string) (string, error) {
	cs, err := in.contents()
	if err != nil {
		return "", err
	}
	var fc files.Contents
	for _, c := range cs {
		fc = append(fc, &files.Content{Source: c.src, Destination: c.dst,
			FileInfo: &files.ContentFileInfo{Owner: "root", Group: "root", Mode: c.mode, MTime: in.Date}})
	}
	info := nfpm.WithDefaults(&nfpm.Info{
		Name: pkgName, Arch: in.Arch, Platform: "linux",
		Version: in.Version, VersionSchema: "none",
		Section: "net", Priority: "optional",
		Maintainer: maintainer, Homepage: homepage,
		Description: description,
		MTime:       in.Date,
		Overridables: nfpm.Overridables{
			Contents: fc,
			Umask:    0o022,
			Scripts: nfpm.Scripts{
				PostInstall: filepath.Join(in.Debian, "postinst"),
				PreRemove:   filepath.Join(in.Debian, "prerm"),
				PostRemove:  filepath.Join(in.Debian, "postrm"),
			},
		},
	})
	if err := nfpm.PrepareForPackager(info, "deb"); err != nil {
		return "", err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(dir, fmt.Sprintf("%s_%s_%s.deb", pkgName, in.Version, in.Arch))
	f, err := os.Create(out)
	if err != nil {
		return "", err
	}
	if err := deb.Default.Package(info, f); err != nil {
		f.Close()
		os.Remove(out)
		return "", err
	}
	return out, f.Close()
}
