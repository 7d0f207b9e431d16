package provision

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks Linux to start writing a range of f to disk without
// waiting for it (sync_file_range(2) with SYNC_FILE_RANGE_WRITE). It is a
// hint: errors are ignored, and Commit's fsync is what makes the file
// durable.
func startWriteback(f *os.File, off, n int64) {
	unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
