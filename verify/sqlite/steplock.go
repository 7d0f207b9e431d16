package sqlite

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// stepLocks decide which store on a database file keeps the step log (see
// sqltx.StepLog). The owner holds PATH-steplog.lock exclusively for as
// long as it is open; every other store (a peer) holds PATH-steplog.peers
// shared, which the owner tries to take exclusively now and then to see
// whether any peer is there. flock locks belong to an open file, so two
// stores of one process exclude each other as two processes do, and a
// process that dies releases its locks.
type stepLocks struct {
	owner bool
	lock  *os.File // the owner's
	peers *os.File // a peer's shared lock, or the owner's probe
}

func takeStepLocks(path string) (*stepLocks, error) {
	open := func(name string) (*os.File, error) {
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			return nil, fmt.Errorf("sqlite: step log lock: %w", err)
		}
		return f, nil
	}
	l := &stepLocks{}
	f, err := open(path + "-steplog.lock")
	if err != nil {
		return nil, err
	}
	switch err := flock(f, syscall.LOCK_EX|syscall.LOCK_NB); {
	case err == nil:
		l.owner, l.lock = true, f
	case errors.Is(err, syscall.EWOULDBLOCK):
		f.Close()
	default:
		f.Close()
		return nil, fmt.Errorf("sqlite: step log lock: %w", err)
	}
	if l.peers, err = open(path + "-steplog.peers"); err != nil {
		l.close()
		return nil, err
	}
	if !l.owner {
		// Blocks only while the owner probes.
		if err := flock(l.peers, syscall.LOCK_SH); err != nil {
			l.close()
			return nil, fmt.Errorf("sqlite: step log lock: %w", err)
		}
	}
	return l, nil
}

// peersPresent is the owner's probe: whether a peer holds its lock.
func (l *stepLocks) peersPresent() bool {
	if err := flock(l.peers, syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		// EWOULDBLOCK: a peer; anything else: assume one, which costs
		// speed, never correctness.
		return true
	}
	flock(l.peers, syscall.LOCK_UN)
	return false
}

func (l *stepLocks) close() {
	for _, f := range []*os.File{l.lock, l.peers} {
		if f != nil {
			f.Close()
		}
	}
	l.lock, l.peers = nil, nil
}

func flock(f *os.File, how int) error {
	for {
		err := syscall.Flock(int(f.Fd()), how)
		if err != syscall.EINTR {
			return err
		}
	}
}
