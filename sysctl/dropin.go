package sysctl

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

// Setting is one parameter and the value it should have, with the reason it
// exists (written as a comment into drop-in files).
type Setting struct {
	Key   Key
	Value string
	Why   string
}

// DropInHeader starts every drop-in lvsnode writes; a file without it is
// someone else's and is never overwritten or removed.
const DropInHeader = "# Written by lvsnode agent; removed by `lvsnode agent teardown`.\n"

// CheckDropInPath returns an error if path exists and is not a regular file
// that lvsnode wrote (a symlink, or a file of someone else's).
func CheckDropInPath(path string) error {
	fi, err := os.Lstat(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s exists and is not a regular file (a symlink?): refusing to replace it", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(data, []byte(DropInHeader)) {
		return fmt.Errorf("%s exists and was not written by lvsnode: refusing to overwrite it; choose another sysctl-file", path)
	}
	return nil
}

// RenderDropIn returns the text of a sysctl.d(5) file holding settings, so
// that systemd-sysctl (at boot and on every udev replay) sets them again.
func RenderDropIn(settings []Setting) []byte {
	var b bytes.Buffer
	b.WriteString(DropInHeader)
	for _, s := range settings {
		if s.Why != "" {
			fmt.Fprintf(&b, "# %s\n", s.Why)
		}
		fmt.Fprintf(&b, "%s = %s\n", s.Key, s.Value)
	}
	return b.Bytes()
}

// WriteDropIn atomically replaces path with the rendered settings. Pick a
// name that sorts late (99-lvsnode.conf) so no earlier file overrides it.
func WriteDropIn(path string, settings []Setting) error {
	return WriteFileAtomic(path, RenderDropIn(settings), 0o644)
}

// WriteFileAtomic writes data to a temporary file beside path, syncs it and
// renames it over path, so readers see the old or the new file, never half.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	// Make the rename itself durable: without syncing the directory, a
	// power loss can bring the old file back.
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
