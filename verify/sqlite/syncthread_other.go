//go:build !(linux && cgo)

package sqlite

import (
	"errors"
	"os"
)

// syncThread needs cgo (an OS thread outside the Go scheduler) and Linux's
// eventfd; without them walSync fsyncs on the syncer's own thread.
type syncThread struct{}

func startSyncThread() (*syncThread, error) {
	return nil, errors.New("sqlite: no fsync thread in this build (it needs cgo on Linux)")
}

func (*syncThread) fdatasync(*os.File) error { return errors.New("sqlite: no fsync thread") }

func (*syncThread) stop() error { return nil }
