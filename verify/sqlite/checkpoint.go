package sqlite

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
	"time"
)

// The write-ahead log is copied back into the database file (checkpointed)
// mostly off the writer's path. SQLite's automatic checkpoint runs inside
// the commit that takes the log past wal_autocheckpoint frames, so the
// writer, and every check waiting on its batch, stops for the whole copy:
// reading each frame back from the log, writing it into the database and
// syncing both. With devices checked in a random order every check dirties
// a page of its own, and those copies were a fifth of the writer's time.
//
// So the writer's threshold is raised to walAutoCheckpoint frames, and a
// checkpointer on a connection of its own runs a PASSIVE checkpoint
// checkpointEvery after commits: it copies what no reader still needs,
// without taking the write lock, while the writer goes on. The writer's own
// automatic checkpoint stays as the backstop, and is what lets the log
// start over from its beginning: a passive pass under steady writes never
// catches up with the log's end, and the log only restarts after a pass that
// did; the writer's pass then has little left to copy. The larger log also
// means a page written many times between passes is copied once.
//
// Measured with `tokenlab bench verify` on SQLite, devices in random order
// (ratio to the bare handler): 0.42 with SQLite's defaults (1000 frames, in
// the writer), 0.43 with 8000 frames in the writer (and p99 from 21 to
// 25 ms, the longer copies), 0.46 with 8000 and this checkpointer. (The
// bench's own device pool then still loaded the garbage collector, the
// bare handler's more: every ratio since is lower, about 0.40 here.)
const (
	walAutoCheckpoint = 8000 // frames of 4 KiB: a log of about 32 MiB
	checkpointEvery   = 100 * time.Millisecond
)

// checkpointer runs passive checkpoints on conn after commits.
type checkpointer struct {
	conn  *sql.Conn
	every time.Duration
	kick  chan struct{}
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once
	err   error // the last pass's, read after done

	// What the passes saw: how many ran, and after the last one the
	// frames in the log and how many of them were in the database.
	passes, frames, copied atomic.Int64
}

func startCheckpointer(conn *sql.Conn, every time.Duration) *checkpointer {
	k := &checkpointer{conn: conn, every: every, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go k.loop()
	return k
}

// committed tells the checkpointer the log has grown; it never blocks.
func (k *checkpointer) committed() {
	if k == nil {
		return
	}
	select {
	case k.kick <- struct{}{}:
	default:
	}
}

func (k *checkpointer) loop() {
	defer close(k.done)
	wait := time.NewTimer(k.every)
	wait.Stop()
	for {
		select {
		case <-k.kick:
		case <-k.stop:
			return
		}
		// Commits keep coming under load; one pass per interval.
		wait.Reset(k.every)
		select {
		case <-wait.C:
		case <-k.stop:
			wait.Stop()
			return
		}
		// A failed pass loses nothing: the frames stay in the log, and the
		// writer's automatic checkpoint copies them. The error is kept for
		// close, so that it is not lost either.
		var busy, frames, copied int64
		k.err = k.conn.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied)
		if k.err == nil {
			k.frames.Store(frames)
			k.copied.Store(copied)
			k.passes.Add(1)
		}
	}
}

// close stops the checkpointer and returns the last pass's error; a second
// call only returns it again.
func (k *checkpointer) close() error {
	k.once.Do(func() { close(k.stop) })
	<-k.done
	return k.err
}
