package sqlite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// walSync makes what the writer has committed durable: an fsync of the
// database's write-ahead log.
//
// The writer connection runs with synchronous=NORMAL, under which SQLite
// writes a transaction's frames to the WAL at COMMIT without syncing them
// (it still syncs the WAL before every checkpoint and the database file
// after it, and the WAL header when the log starts over). Every commit of
// the writer is followed by sync before anyone is told about it, which
// puts the commit frame, and every frame and header written before it, on
// disk: an acknowledged transaction survives a crash or power loss, as
// with synchronous=FULL. The difference is where the fsync runs: FULL
// syncs inside COMMIT, with the write lock held; here the group commit
// (sqltx.Batcher) syncs beside the next batch, and one fsync covers every
// batch committed meanwhile.
//
// One consequence: the read-only connections can see a transaction a few
// hundred microseconds before it is durable. A write that depends on what
// it read is itself answered only after a later fsync, which covers the
// earlier commit too (the WAL is one file, written in order); only a pure
// read may show a change that a crash then undoes, and that change was
// never acknowledged to whoever made it.
//
// Linux's fsync flushes the file, whichever descriptor wrote its pages, so
// a descriptor of our own serves. After a failed fsync nothing is known
// about what reached the disk (the kernel may have dropped the dirty
// pages): the error sticks, and every later write fails until the store
// is opened again.
//
// The fdatasync itself runs on a thread of its own where there is one
// (syncThread), so that the goroutine waiting for it holds no processor.
type walSync struct {
	path  string
	fsync func(*os.File) error // datasync; tests replace it

	mu       sync.Mutex
	f        *os.File
	info     os.FileInfo
	err      error       // sticky, after a failed fsync
	thread   *syncThread // started by the first datasync
	noThread bool        // none could be started, or the log is closed
}

func newWALSync(dbPath string) *walSync {
	w := &walSync{path: dbPath + "-wal"}
	w.fsync = w.datasync
	return w
}

// datasync fdatasyncs f on the fsync thread, started on first use, or on
// the caller's thread where there is none. w.mu is held.
func (w *walSync) datasync(f *os.File) error {
	if w.thread == nil && !w.noThread {
		t, err := startSyncThread()
		if err != nil {
			w.noThread = true
		}
		w.thread = t
	}
	if w.thread != nil {
		return w.thread.fdatasync(f)
	}
	return fdatasync(f)
}

// sync fsyncs the WAL file.
func (w *walSync) sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	// The WAL file exists while any connection is open (ours are), but
	// check that it is still the one we hold: a new file needs its
	// directory entry synced too.
	cur, err := os.Stat(w.path)
	if err != nil {
		return fmt.Errorf("sqlite: write-ahead log: %w", err)
	}
	if w.f == nil || !os.SameFile(cur, w.info) {
		if err := w.open(); err != nil {
			return err
		}
	}
	if err := w.fsync(w.f); err != nil {
		w.err = fmt.Errorf("sqlite: fsync of the write-ahead log failed, writes are refused until the store is reopened: %w", err)
		return w.err
	}
	return nil
}

func (w *walSync) open() error {
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	f, err := os.Open(w.path)
	if err != nil {
		return fmt.Errorf("sqlite: write-ahead log: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("sqlite: write-ahead log: %w", err)
	}
	if err := syncDir(filepath.Dir(w.path)); err != nil {
		f.Close()
		return err
	}
	w.f, w.info = f, info
	return nil
}

// syncDir fsyncs a directory, so that a file created in it stays there.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("sqlite: fsync of %s: %w", dir, err)
	}
	return nil
}

func (w *walSync) close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.f != nil {
		w.f.Close()
		w.f = nil
	}
	w.noThread = true
	if t := w.thread; t != nil {
		w.thread = nil
		return t.stop()
	}
	return nil
}

// fdatasync flushes f's data and the metadata needed to read it back (its
// size), not its times: on ext4 an fsync for the mtime of every commit
// costs a journal commit each. SQLite's C build does the same on Linux.
func fdatasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if serr != syscall.EINTR {
				return
			}
		}
	}); err != nil {
		return err
	}
	return serr
}
