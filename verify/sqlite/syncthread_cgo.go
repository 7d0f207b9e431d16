//go:build linux && cgo

package sqlite

/*
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

// A request is the descriptor plus one; this value, never a descriptor,
// ends the thread.
#define TL_SYNC_STOP ((uint64_t)1 << 62)

// tl_sync_loop reads a request from req, fdatasyncs the descriptor it
// names and writes the answer to done: 1 for success, errno plus one for
// a failure. The Go side has at most one request outstanding, so the two
// eventfd counters never add two values together.
static void *tl_sync_loop(void *arg) {
	int req = ((int *)arg)[0], done = ((int *)arg)[1];
	for (;;) {
		uint64_t v;
		if (read(req, &v, sizeof v) != sizeof v) {
			if (errno == EINTR)
				continue;
			return NULL;
		}
		if (v >= TL_SYNC_STOP)
			return NULL;
		int rc;
		do
			rc = fdatasync((int)(v - 1));
		while (rc < 0 && errno == EINTR);
		uint64_t ans = rc < 0 ? (uint64_t)errno + 1 : 1;
		while (write(done, &ans, sizeof ans) < 0 && errno == EINTR)
			;
	}
}

// tl_sync_start starts the thread with every signal blocked (it inherits
// the mask), so that no signal meant for the Go program lands on it.
static int tl_sync_start(int *fds, pthread_t *th) {
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(th, NULL, tl_sync_loop, fds);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

static int tl_sync_join(pthread_t th) { return pthread_join(th, NULL); }
*/
import "C"

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"unsafe"
)

// syncThread runs fdatasync on an OS thread of its own, outside the Go
// scheduler, and the goroutine waiting for it parks on an eventfd through
// the runtime's poller.
//
// Why: a goroutine in a blocking system call keeps its processor (P)
// until the runtime's monitor notices, 20 µs to 10 ms later, and hands it
// to another thread. An fsync of the write-ahead log takes 0.2 to 0.4 ms
// here, once or twice a millisecond under load, and with GOMAXPROCS 2 the
// other goroutines had one processor for most of each: a runtime trace of
// `tokenlab bench verify` showed one processor idle with goroutines
// runnable about a tenth of the time, the syncer in its system call.
// Measured with the bench (ratio to the bare handler, random order, 10 s,
// alternating runs): 0.535, 0.541, 0.553 with this thread against 0.513,
// 0.517, 0.517 without. The syncer now hears of a finished fsync through
// the poller, which the scheduler consults when a processor runs out of
// work: its fsyncs take 1.0 ms instead of 0.36 by its own clock, and each
// covers more commits. Linux AIO's IOCB_CMD_FDSYNC also frees the
// processor, but runs the fsync on a kernel worker that waits for a CPU
// behind ours: 0.507-0.522 in a throw-away build.
type syncThread struct {
	fds  *C.int // req, done: in C memory, read by the thread at its start
	th   C.pthread_t
	req  int      // eventfd, blocking: the thread reads requests from it
	done *os.File // eventfd, non-blocking: answers, read through the poller
}

const syncStop = 1 << 62 // TL_SYNC_STOP

func startSyncThread() (*syncThread, error) {
	req, err := eventfd(0)
	if err != nil {
		return nil, err
	}
	done, err := eventfd(syscall.O_NONBLOCK)
	if err != nil {
		syscall.Close(req)
		return nil, err
	}
	t := &syncThread{req: req, done: os.NewFile(uintptr(done), "fsync-thread-done")}
	t.fds = (*C.int)(C.malloc(C.size_t(2 * unsafe.Sizeof(C.int(0)))))
	fds := unsafe.Slice(t.fds, 2)
	fds[0], fds[1] = C.int(req), C.int(done)
	if rc := C.tl_sync_start(t.fds, &t.th); rc != 0 {
		t.release()
		return nil, fmt.Errorf("sqlite: starting the fsync thread: %w", syscall.Errno(rc))
	}
	return t, nil
}

func eventfd(flags int) (int, error) {
	fd, _, e := syscall.Syscall(syscall.SYS_EVENTFD2, 0, uintptr(syscall.O_CLOEXEC|flags), 0)
	if e != 0 {
		return -1, fmt.Errorf("sqlite: eventfd: %w", e)
	}
	return int(fd), nil
}

// fdatasync has the thread fdatasync f and waits for its answer. Calls
// must not overlap (walSync's mutex sees to that).
func (t *syncThread) fdatasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	fd := -1
	if err := rc.Control(func(d uintptr) { fd = int(d) }); err != nil {
		return err
	}
	// f stays open until the answer is in: the caller holds it.
	defer runtime.KeepAlive(f)
	if err := t.send(uint64(fd) + 1); err != nil {
		return err
	}
	var b [8]byte
	if _, err := t.done.Read(b[:]); err != nil {
		return fmt.Errorf("sqlite: waiting for the fsync thread: %w", err)
	}
	switch v := binary.NativeEndian.Uint64(b[:]); {
	case v == 1:
		return nil
	case v > 1 && v < 1<<16:
		return syscall.Errno(v - 1)
	default:
		return fmt.Errorf("sqlite: the fsync thread answered %d", v)
	}
}

func (t *syncThread) send(v uint64) error {
	var b [8]byte
	binary.NativeEndian.PutUint64(b[:], v)
	for {
		_, err := syscall.Write(t.req, b[:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("sqlite: asking the fsync thread: %w", err)
		}
		return nil
	}
}

// stop ends the thread, after the fsync it may be running, and frees
// what it used.
func (t *syncThread) stop() error {
	err := t.send(syncStop)
	if err == nil {
		if rc := C.tl_sync_join(t.th); rc != 0 {
			err = fmt.Errorf("sqlite: joining the fsync thread: %w", syscall.Errno(rc))
		}
	}
	if err != nil {
		// The thread may still read its descriptors: leave them open.
		return err
	}
	return t.release()
}

func (t *syncThread) release() error {
	syscall.Close(t.req)
	err := t.done.Close()
	C.free(unsafe.Pointer(t.fds))
	return err
}
