package provision

import (
	"fmt"
	"os"
	"path/filepath"
)

// File is an output file written under a temporary name in the target's
// directory and renamed into place by Commit, so a failure never leaves a
// half-written file under the real name.
type File struct {
	*os.File
	path    string
	done    bool
	written int64 // bytes written
	flushed int64 // bytes whose write-back was started
}

// writebackEvery is how much a File lets pile up in the page cache before
// it asks the kernel to start writing it out, so Commit's fsync waits for
// the last few megabytes only, not for the whole file.
const writebackEvery = 32 << 20

// Write writes to the temporary file.
func (f *File) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	f.written += int64(n)
	if f.written-f.flushed >= writebackEvery {
		startWriteback(f.File, f.flushed, f.written-f.flushed)
		f.flushed = f.written
	}
	return n, err
}

// CreateFile opens a temporary file beside path, readable by its owner
// only (seed files hold secrets).
func CreateFile(path string) (*File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("provision: %w", err)
	}
	return &File{File: f, path: path}, nil
}

// Commit flushes the file to disk and renames it to its real name.
func (f *File) Commit() error {
	if f.done {
		return nil
	}
	f.done = true
	if err := f.Sync(); err != nil {
		f.File.Close()
		os.Remove(f.Name())
		return fmt.Errorf("provision: %w", err)
	}
	if err := f.File.Close(); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("provision: %w", err)
	}
	if err := os.Rename(f.Name(), f.path); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("provision: %w", err)
	}
	return nil
}

// Abort removes the temporary file; after Commit it does nothing, so
// "defer f.Abort()" is the usual pattern.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.File.Close()
	os.Remove(f.Name())
}
