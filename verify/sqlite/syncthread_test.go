//go:build linux && cgo

package sqlite

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The fsync thread fsyncs, and a failed fdatasync comes back as its errno.
func TestSyncThread(t *testing.T) {
	th, err := startSyncThread()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for range 3 {
		if _, err := f.Write(make([]byte, 8192)); err != nil {
			t.Fatal(err)
		}
		if err := th.fdatasync(f); err != nil {
			t.Fatalf("fdatasync of a file: %v", err)
		}
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if err := th.fdatasync(r); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("fdatasync of a pipe = %v, want EINVAL", err)
	}
	if err := th.fdatasync(f); err != nil {
		t.Fatalf("fdatasync after a failure: %v", err)
	}
	if err := th.stop(); err != nil {
		t.Fatal(err)
	}
}

// While the thread fsyncs, the goroutine waiting for it is parked on the
// poller ("IO wait"), not in a system call holding its processor, as it
// is with fdatasync on its own thread (the control).
func TestSyncThreadParksTheCaller(t *testing.T) {
	th, err := startSyncThread()
	if err != nil {
		t.Fatal(err)
	}
	defer th.stop()
	dir := t.TempDir()
	if got := stateDuringFsync(t, dir, fdatasync, "sqlite.fdatasync"); got != "syscall" {
		t.Fatalf("control: a goroutine in fdatasync is %q, want syscall; the probe cannot tell", got)
	}
	if got := stateDuringFsync(t, dir, th.fdatasync, "(*syncThread).fdatasync"); got != "IO wait" {
		t.Fatalf("a goroutine waiting for the fsync thread is %q, want IO wait", got)
	}
}

// stateDuringFsync dirties a file, fsyncs it with sync on another
// goroutine, and returns the state that goroutine's header shows most
// often in stack dumps taken while its stack shows frame (it passes
// through others on the way in and out). It retries with more data when
// the fsync ends before 20 dumps caught it.
func stateDuringFsync(t *testing.T, dir string, sync func(*os.File) error, frame string) string {
	t.Helper()
	buf := make([]byte, 4<<20)
	dump := make([]byte, 1<<20)
	for size := 16 << 20; size <= 256<<20; size *= 2 {
		f, err := os.Create(filepath.Join(dir, "dirty"))
		if err != nil {
			t.Fatal(err)
		}
		for n := 0; n < size; n += len(buf) {
			if _, err := f.Write(buf); err != nil {
				t.Fatal(err)
			}
		}
		done := make(chan error, 1)
		go func() { done <- sync(f) }()
		seen := map[string]int{}
		n := 0
	sample:
		for {
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
				break sample
			default:
			}
			if st := goroutineState(dump[:runtime.Stack(dump, true)], frame); st != "" {
				seen[st]++
				n++
			}
			time.Sleep(100 * time.Microsecond)
		}
		f.Close()
		if n >= 20 {
			top := ""
			for st, c := range seen {
				if top == "" || c > seen[top] {
					top = st
				}
			}
			t.Logf("%s: %v", frame, seen)
			return top
		}
	}
	t.Fatalf("fewer than 20 stack dumps caught %s during an fsync of 256 MiB", frame)
	return ""
}

// goroutineState returns the state in the header ("goroutine 7 [IO
// wait]:") of the goroutine whose stack in dump shows frame.
func goroutineState(dump []byte, frame string) string {
	for _, g := range bytes.Split(dump, []byte("\n\n")) {
		if !bytes.Contains(g, []byte(frame+"(")) {
			continue
		}
		head, _, _ := bytes.Cut(g, []byte("\n"))
		_, st, ok := strings.Cut(string(head), "[")
		if !ok {
			return ""
		}
		st, _, _ = strings.Cut(st, "]")
		st, _, _ = strings.Cut(st, ",") // "IO wait, 2 minutes"
		return st
	}
	return ""
}

// walSync uses the thread, stops it on close, and fsyncs on its own
// thread after that.
func TestWALSyncThread(t *testing.T) {
	db := filepath.Join(t.TempDir(), "t.db")
	if err := os.WriteFile(db+"-wal", []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	w := newWALSync(db)
	if err := w.sync(); err != nil {
		t.Fatal(err)
	}
	if w.thread == nil {
		t.Fatal("no fsync thread after a sync")
	}
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
	if w.thread != nil {
		t.Fatal("fsync thread kept after close")
	}
	if err := w.sync(); err != nil {
		t.Fatalf("sync after close: %v", err)
	}
	if w.thread != nil {
		t.Fatal("a new fsync thread after close")
	}
	w.close()
}
