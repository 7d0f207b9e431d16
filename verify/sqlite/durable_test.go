package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify"
)

// Every write is fsynced before it returns: Update and each group commit,
// and the WAL synced is the database's own.
func TestWritesWaitForTheWALSync(t *testing.T) {
	st, err := Open(filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	var synced atomic.Int64
	release := make(chan struct{})
	st.wal.mu.Lock()
	st.wal.fsync = func(f *os.File) error {
		if !strings.HasSuffix(f.Name(), "t.db-wal") {
			t.Errorf("fsync of %s", f.Name())
		}
		<-release
		synced.Add(1)
		return fdatasync(f)
	}
	st.wal.mu.Unlock()

	done := make(chan error, 1)
	go func() {
		done <- st.Update(ctx, func(tx verify.Tx) error { return tx.CreateUser(ctx, testUser("alice")) })
	}()
	select {
	case err := <-done:
		t.Fatalf("Update returned (%v) before its fsync", err)
	case <-time.After(50 * time.Millisecond):
	}
	release <- struct{}{}
	if err := <-done; err != nil || synced.Load() != 1 {
		t.Fatalf("Update = %v after %d fsyncs", err, synced.Load())
	}

	// Concurrent group commits: none returns before an fsync that
	// followed its commit; one fsync may serve several batches.
	var wg sync.WaitGroup
	var returned atomic.Int64
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := st.Batch(ctx, func(tx verify.Tx) error {
				return tx.CreateDevice(ctx, testDevice(i))
			})
			if err != nil {
				t.Error(err)
			}
			returned.Add(1)
		}()
	}
	time.Sleep(50 * time.Millisecond)
	if n := returned.Load(); n != 0 {
		t.Fatalf("%d group commits returned with no fsync", n)
	}
	close(release)
	wg.Wait()
	if n := synced.Load(); n < 2 || n > 21 {
		t.Errorf("%d fsyncs for 1 update and 20 group commits", n)
	}
}

// After a failed fsync nothing is known about the disk: that write and
// every later one fail, until the store is opened again.
func TestFailedWALSyncSticks(t *testing.T) {
	p := filepath.Join(t.TempDir(), "t.db")
	st, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	eio := errors.New("input/output error")
	st.wal.mu.Lock()
	st.wal.fsync = func(*os.File) error { return eio }
	st.wal.mu.Unlock()
	err = st.Batch(ctx, func(tx verify.Tx) error { return tx.CreateUser(ctx, testUser("alice")) })
	if !errors.Is(err, eio) {
		t.Fatalf("Batch with a failing fsync = %v", err)
	}
	st.wal.mu.Lock()
	st.wal.fsync = fdatasync // the disk is back, but the store cannot know what it lost
	st.wal.mu.Unlock()
	for _, write := range []func() error{
		func() error {
			return st.Batch(ctx, func(tx verify.Tx) error { return tx.CreateUser(ctx, testUser("bob")) })
		},
		func() error {
			return st.Update(ctx, func(tx verify.Tx) error { return tx.CreateUser(ctx, testUser("carol")) })
		},
	} {
		if err := write(); !errors.Is(err, eio) {
			t.Errorf("write after a failed fsync = %v", err)
		}
	}
	st.Close()

	st, err = Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Update(ctx, func(tx verify.Tx) error { return tx.CreateUser(ctx, testUser("dave")) }); err != nil {
		t.Fatalf("write after reopening: %v", err)
	}
}

func testUser(name string) *verify.UserRecord {
	return &verify.UserRecord{User: verify.User{ID: "AIDA" + strings.ToUpper(name), Name: name, Path: "/", Arn: "arn:aws:iam::123456789012:user/" + name, CreatedAt: time.Unix(1, 0)}}
}

func testDevice(i int) *verify.DeviceRecord {
	s, _ := token.NewSerial("TEST", uint64(i))
	return &verify.DeviceRecord{Device: verify.Device{ID: string(s), Kind: verify.KindHardware, State: verify.StateAvailable, Spec: token.DefaultSpec, CreatedAt: time.Unix(1, 0)},
		SealedSeed: []byte("sealed"), KeyID: "k1"}
}
