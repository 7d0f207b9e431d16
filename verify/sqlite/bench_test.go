package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/sqlite"
)

// BenchmarkUserDevice measures the check path's read (one statement on a
// read connection, outside a transaction) among 50000 devices of 6250
// users, alone and while the writer commits a device update every 500 µs,
// as under load: each commit makes the readers' page caches start over.
func BenchmarkUserDevice(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	const n = 50000
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	err = st.Update(ctx, func(tx verify.Tx) error {
		for i := 0; i < n; i++ {
			if i%8 == 0 {
				u := fmt.Sprintf("bench-user-%d", i/8)
				if err := tx.CreateUser(ctx, &verify.UserRecord{User: verify.User{ID: "AIDA" + strings.ToUpper(u), Name: u, Path: "/", Arn: "arn:aws:iam::123456789012:user/" + u, CreatedAt: now}}); err != nil {
					return err
				}
			}
			d := &verify.DeviceRecord{Device: verify.Device{ID: fmt.Sprintf("GAHT%08d", i), Kind: verify.KindHardware, State: verify.StateAssigned,
				User: fmt.Sprintf("bench-user-%d", i/8), Spec: token.DefaultSpec, CreatedAt: now, LastStep: 100}, SealedSeed: make([]byte, 48), KeyID: "kek-1"}
			if err := tx.CreateDevice(ctx, d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	read := func(b *testing.B) {
		var i atomic.Int64
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				k := int(i.Add(7919)) % n
				err := st.Peek(ctx, func(tx verify.Tx) error {
					_, _, err := tx.UserDevice(ctx, fmt.Sprintf("bench-user-%d", k/8), fmt.Sprintf("GAHT%08d", k))
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("quiet", read)
	b.Run("writes", func(b *testing.B) {
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for step := uint64(101); ; step++ {
				select {
				case <-stop:
					return
				case <-time.After(500 * time.Microsecond):
				}
				st.Batch(ctx, func(tx verify.Tx) error {
					_, err := tx.AdvanceStep(ctx, verify.StepUpdate{ID: fmt.Sprintf("GAHT%08d", step%n), User: fmt.Sprintf("bench-user-%d", step%n/8), Above: step, Step: step, Now: now})
					return err
				})
			}
		}()
		read(b)
		close(stop)
		<-done
	})
}
