package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify"
)

var stepT0 = time.Date(2026, 11, 29, 12, 0, 10, 0, time.UTC)

// id is the device every step-log test checks.
const id = "GAHT00000001"

// stepFixture opens a store in a new directory with user alice and
// hardware device id assigned to her at step 100, and returns it with its
// file's path.
func stepFixture(t *testing.T, opts ...Option) (*Store, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "t.db")
	st, err := Open(p, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	err = st.Update(ctx, func(tx verify.Tx) error {
		if err := tx.CreateUser(ctx, &verify.UserRecord{User: verify.User{ID: "AIDAALICE", Name: "alice", Path: "/", Arn: "arn:aws:iam::123456789012:user/alice", CreatedAt: stepT0}}); err != nil {
			return err
		}
		return createStepDevice(ctx, tx, id)
	})
	if err != nil {
		t.Fatal(err)
	}
	return st, p
}

func createStepDevice(ctx context.Context, tx verify.Tx, id string) error {
	d := &verify.DeviceRecord{
		Device:     verify.Device{ID: id, Kind: verify.KindHardware, State: verify.StateAvailable, Spec: token.DefaultSpec, CreatedAt: stepT0},
		SealedSeed: []byte("sealed:" + id), KeyID: "k1",
	}
	if err := tx.CreateDevice(ctx, d); err != nil {
		return err
	}
	_, err := tx.Assign(ctx, verify.StepUpdate{ID: id, User: "alice", Above: 100, Step: 100, Now: stepT0})
	return err
}

func advance(t *testing.T, st *Store, id string, step uint64) bool {
	t.Helper()
	var won bool
	err := st.Batch(context.Background(), func(tx verify.Tx) (err error) {
		won, err = tx.AdvanceStep(context.Background(), verify.StepUpdate{ID: id, User: "alice", Above: step, Step: step, Drift: 1, Now: stepT0})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return won
}

// rowStep reads a device's last_step as its row holds it, without the log.
func rowStep(t *testing.T, st *Store, id string) int64 {
	t.Helper()
	var n int64
	if err := st.ckpt.conn.QueryRowContext(context.Background(), `SELECT last_step FROM devices WHERE id = ?`, id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// sweptStep reads the step step_fold holds for a device, 0 for none.
func sweptStep(t *testing.T, st *Store, id string) int64 {
	t.Helper()
	var n int64
	err := st.ckpt.conn.QueryRowContext(context.Background(), `SELECT coalesce(max(step), 0) FROM step_fold WHERE id = ?`, id).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func logRows(t *testing.T, st *Store) int64 {
	t.Helper()
	var n int64
	if err := st.ckpt.conn.QueryRowContext(context.Background(), `SELECT count(*) FROM step_log`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func lastStep(t *testing.T, st *Store, id string) uint64 {
	t.Helper()
	var d *verify.DeviceRecord
	err := st.View(context.Background(), func(tx verify.Tx) (err error) {
		d, err = tx.Device(context.Background(), id)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return d.LastStep
}

// reopen opens the store at p again, closed at the test's end.
func reopen(t *testing.T, p string, opts ...Option) *Store {
	t.Helper()
	st, err := Open(p, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// crash closes st as a killed process would leave the file: the step log
// not swept into step_fold.
func crash(st *Store) {
	st.locks.owner = false
	st.Close()
}

// isSwept checks that st finds step in step_fold, not in the log, reads
// it and refuses it again.
func isSwept(t *testing.T, st *Store, step uint64, after string) {
	t.Helper()
	if got, n := sweptStep(t, st, id), logRows(t, st); got != int64(step) || n != 0 {
		t.Fatalf("after %s step_fold holds %d with %d log rows; want %d and none", after, got, n, step)
	}
	if got := lastStep(t, st, id); got != step {
		t.Fatalf("after %s Device reads step %d, want %d", after, got, step)
	}
	if advance(t, st, id, step) {
		t.Fatalf("after %s step %d accepted again", after, step)
	}
}

// closed accepts step on the fixture's device and closes the store, which
// writes the step into step_fold; it returns the file's path.
func closed(t *testing.T, step uint64) string {
	t.Helper()
	st, p := stepFixture(t)
	if !advance(t, st, id, step) {
		t.Fatalf("step %d refused", step)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// An accepted step goes to the log, not the row; reads see it; after a
// crash, opening the file writes it into step_fold, and reads still see
// it.
func TestStepLogReplay(t *testing.T) {
	st, p := stepFixture(t)
	if !st.OwnsStepLog() {
		t.Fatal("a lone store does not own the step log")
	}
	if !advance(t, st, id, 101) {
		t.Fatal("step 101 refused")
	}
	if advance(t, st, id, 101) {
		t.Fatal("step 101 accepted twice")
	}
	if got := rowStep(t, st, id); got != 100 {
		t.Fatalf("the row holds step %d, want 100 (101 only in the log)", got)
	}
	if got, n := lastStep(t, st, id), logRows(t, st); got != 101 || n != 1 {
		t.Fatalf("Device reads step %d with %d log rows; want 101 from 1", got, n)
	}
	if n := st.Stats().StepLog; n != 1 {
		t.Fatalf("Stats().StepLog = %d, want 1", n)
	}
	crash(st)

	isSwept(t, reopen(t, p), 101, "the crash")
}

// Closing writes the log into step_fold. A store that writes rows in
// place reads the step there and refuses it, and folds it into the row
// before its own write.
func TestStepLogDrainOnClose(t *testing.T) {
	st := reopen(t, closed(t, 105), WithoutStepLog())
	isSwept(t, st, 105, "Close, writing rows in place")
	if got := rowStep(t, st, id); got != 105 {
		t.Fatalf("after a refused write the row holds %d, want 105 (folded first)", got)
	}
	if !advance(t, st, id, 106) {
		t.Fatal("step 106 refused")
	}
	if got := rowStep(t, st, id); got != 106 {
		t.Fatalf("the row holds %d, want 106 (written in place)", got)
	}
}

// A device deleted and created again under its id gets none of the old
// one's steps, crash or not: steps in the log, swept into step_fold, or
// accepted in the same transaction (not yet inserted into the log).
func TestStepLogForget(t *testing.T) {
	for _, where := range []string{"log", "step_fold", "transaction"} {
		t.Run(where, func(t *testing.T) {
			ctx := context.Background()
			var st *Store
			var p string
			switch where {
			case "log":
				st, p = stepFixture(t)
				advance(t, st, id, 500)
			case "step_fold":
				p = closed(t, 500)
				st = reopen(t, p)
			default:
				st, p = stepFixture(t)
			}
			err := st.Batch(ctx, func(tx verify.Tx) error {
				if where == "transaction" {
					won, err := tx.AdvanceStep(ctx, verify.StepUpdate{ID: id, User: "alice", Above: 500, Step: 500, Now: stepT0})
					if err != nil || !won {
						return fmt.Errorf("step 500: %v, %v", won, err)
					}
				}
				if _, err := tx.Detach(ctx, id, verify.StateAvailable); err != nil {
					return err
				}
				if err := tx.DeleteDevice(ctx, id); err != nil {
					return err
				}
				return createStepDevice(ctx, tx, id)
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := lastStep(t, st, id); got != 100 {
				t.Fatalf("the new device reads step %d, want 100", got)
			}
			crash(st)
			st = reopen(t, p)
			if got := lastStep(t, st, id); got != 100 {
				t.Fatalf("after a crash the new device reads step %d, want 100", got)
			}
		})
	}
}

// A step swept into step_fold is refused again when nothing else holds
// it: no log entry in memory, no device cache, the row behind.
func TestStepLogSweptWithoutCache(t *testing.T) {
	st, p := stepFixture(t)
	advance(t, st, id, 101)
	crash(st)
	st = reopen(t, p, WithDeviceCache(0))
	if st.Stats().StepLog != 0 || rowStep(t, st, id) != 100 || sweptStep(t, st, id) != 101 {
		t.Fatalf("after replay: %d log entries, row %d, step_fold %d; want 0, 100, 101", st.Stats().StepLog, rowStep(t, st, id), sweptStep(t, st, id))
	}
	if advance(t, st, id, 101) {
		t.Fatal("step 101, swept into step_fold, accepted again")
	}
	if !advance(t, st, id, 102) {
		t.Fatal("step 102 refused")
	}
}

// A log row below the step step_fold holds does not take it back. No
// store writes one; the guard keeps a damaged log from reopening codes.
func TestStepLogSweptNeverGoesBack(t *testing.T) {
	p := closed(t, 105)
	db, err := sql.Open("sqlite", "file:"+p)
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec(`INSERT INTO step_log (seq, device, step, drift) VALUES (1, ?, 103, 0)`, id)
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	st := reopen(t, p)
	if got := sweptStep(t, st, id); got != 105 {
		t.Fatalf("step_fold holds %d after replaying step 103, want 105", got)
	}
	if advance(t, st, id, 104) {
		t.Fatal("step 104 accepted below step 105")
	}
}

// A step in step_fold above the row's clears the failures and the lock
// the row holds, as AdvanceStep would have, for every read.
func TestStepLogSweptClearsFailures(t *testing.T) {
	ctx := context.Background()
	st, p := stepFixture(t)
	expired := stepT0.Add(-time.Minute)
	for range 2 {
		err := st.Batch(ctx, func(tx verify.Tx) error {
			_, _, err := tx.RecordFailure(ctx, id, func(int) time.Time { return expired })
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if !advance(t, st, id, 101) {
		t.Fatal("step 101 refused")
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = reopen(t, p)
	if got := sweptStep(t, st, id); got != 101 {
		t.Fatalf("step_fold holds %d, want 101", got)
	}
	var d *verify.DeviceRecord
	if err := st.View(ctx, func(tx verify.Tx) (err error) { d, err = tx.Device(ctx, id); return err }); err != nil {
		t.Fatal(err)
	}
	if d.LastStep != 101 || d.Failures != 0 || !d.LockedUntil.IsZero() {
		t.Fatalf("device at step %d, %d failures, locked until %v; want 101, none, never", d.LastStep, d.Failures, d.LockedUntil)
	}
}

// Other writes to a device fold its logged step into the row first: a
// failure recorded after an accepted code keeps both.
func TestStepLogFoldBeforeWrite(t *testing.T) {
	ctx := context.Background()
	st, _ := stepFixture(t)
	defer st.Close()
	advance(t, st, id, 200)
	err := st.Batch(ctx, func(tx verify.Tx) error {
		_, _, err := tx.RecordFailure(ctx, id, func(int) time.Time { return time.Time{} })
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := rowStep(t, st, id); got != 200 {
		t.Fatalf("after a failure the row holds %d, want 200", got)
	}
	var d *verify.DeviceRecord
	st.View(ctx, func(tx verify.Tx) (err error) { d, err = tx.Device(ctx, id); return err })
	if d.LastStep != 200 || d.Failures != 1 {
		t.Fatalf("device at step %d with %d failures; want 200 and 1", d.LastStep, d.Failures)
	}
	// The next good code clears the failure, through the row.
	if !advance(t, st, id, 201) {
		t.Fatal("step 201 refused")
	}
	st.View(ctx, func(tx verify.Tx) (err error) { d, err = tx.Device(ctx, id); return err })
	if d.LastStep != 201 || d.Failures != 0 {
		t.Fatalf("device at step %d with %d failures; want 201 and 0", d.LastStep, d.Failures)
	}
}

// A second store on the file is a peer: it reads the owner's log, and a
// step the owner accepted is refused there; the owner then stops
// appending and sweeps its log into the rows.
func TestStepLogPeer(t *testing.T) {
	owner, p := stepFixture(t)
	defer owner.Close()
	advance(t, owner, id, 300)

	peer := reopen(t, p)
	if peer.OwnsStepLog() {
		t.Fatal("the second store owns the step log too")
	}
	if got := lastStep(t, peer, id); got != 300 {
		t.Fatalf("the peer reads step %d, want the owner's 300", got)
	}
	if advance(t, peer, id, 300) {
		t.Fatal("the peer accepted step 300 again")
	}
	if !advance(t, peer, id, 301) {
		t.Fatal("the peer refused step 301")
	}
	if got := lastStep(t, owner, id); got != 301 {
		t.Fatalf("the owner reads step %d, want the peer's 301", got)
	}
	if advance(t, owner, id, 301) {
		t.Fatal("the owner accepted the peer's step 301")
	}
	// The owner sees the peer within probeEvery, then empties its log.
	deadline := time.Now().Add(5 * time.Second)
	for owner.steps.Appending() || logRows(t, owner) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the owner still appends (%v) with %d log rows", owner.steps.Appending(), logRows(t, owner))
		}
		time.Sleep(probeEveryTest)
		advance(t, owner, id, uint64(400+time.Now().UnixNano()%1000))
	}
}

const probeEveryTest = 20 * time.Millisecond

// The device cache holds a device's row once written (read again before
// the commit), and forgets it when it is deleted.
func TestDeviceCacheFollowsWrites(t *testing.T) {
	ctx := context.Background()
	st, _ := stepFixture(t)
	defer st.Close()
	if n := st.Stats().DeviceCache; n != 1 {
		t.Fatalf("after create and assign the cache holds %d devices, want 1", n)
	}
	err := st.Update(ctx, func(tx verify.Tx) error {
		return tx.CreateDevice(ctx, &verify.DeviceRecord{
			Device:     verify.Device{ID: "GAHT00000002", Kind: verify.KindHardware, State: verify.StateAvailable, Spec: token.DefaultSpec, CreatedAt: stepT0},
			SealedSeed: []byte("sealed"), KeyID: "k1",
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := st.Stats().DeviceCache; n != 2 {
		t.Fatalf("after a create the cache holds %d devices, want 2", n)
	}
	err = st.Update(ctx, func(tx verify.Tx) error {
		if _, err := tx.Detach(ctx, id, verify.StateAvailable); err != nil {
			return err
		}
		return tx.DeleteDevice(ctx, id)
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := st.Stats().DeviceCache; n != 1 {
		t.Fatalf("after a delete the cache holds %d devices, want 1", n)
	}
}

// A step accepted, folded by a finished sweep and trimmed from the log is
// still refused: the cached row took the fold.
func TestDeviceCacheAfterSweep(t *testing.T) {
	const other = "GAHT00000002"
	ctx := context.Background()
	st, _ := stepFixture(t, WithSweep(1, 1))
	defer st.Close()
	if err := st.Update(ctx, func(tx verify.Tx) error { return createStepDevice(ctx, tx, other) }); err != nil {
		t.Fatal(err)
	}
	if !advance(t, st, id, 101) {
		t.Fatal("step 101 refused")
	}
	// More batches, until the sweep has folded the step, trimmed its row
	// and forgotten it.
	gone := func() bool {
		var n int64
		if err := st.ckpt.conn.QueryRowContext(ctx, `SELECT count(*) FROM step_log WHERE device = ?`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 0 && !st.steps.Holds(id)
	}
	for i := 0; !gone(); i++ {
		if i == 50 {
			t.Fatal("the step log still holds step 101")
		}
		advance(t, st, other, uint64(200+i))
	}
	if advance(t, st, id, 101) {
		t.Fatal("step 101 accepted again after the sweep")
	}
	var name string
	var d *verify.DeviceRecord
	err := st.Batch(ctx, func(tx verify.Tx) (err error) {
		name, d, err = tx.UserDevice(ctx, "ALICE", id)
		return err
	})
	if err != nil || name != "alice" || d.LastStep != 101 || d.Drift != 1 {
		t.Fatalf("UserDevice = %q, %+v, %v; want alice at step 101, drift 1", name, d, err)
	}
}

// A write by another connection (another process) reaches the writer: the
// cache is dropped when data_version moves.
func TestDeviceCacheOtherConnection(t *testing.T) {
	st, _ := stepFixture(t)
	defer st.Close()
	if _, err := st.ckpt.conn.ExecContext(context.Background(), `UPDATE devices SET state = 'lost', user_name = '' WHERE id = ?`, id); err != nil {
		t.Fatal(err)
	}
	if advance(t, st, id, 150) {
		t.Fatal("a step accepted for a device another connection marked lost")
	}
}

// A write rolled back leaves the cache as the database is.
func TestDeviceCacheRollback(t *testing.T) {
	ctx := context.Background()
	st, _ := stepFixture(t)
	defer st.Close()
	errBoom := errors.New("boom")
	err := st.Batch(ctx, func(tx verify.Tx) error {
		if _, err := tx.Detach(ctx, id, verify.StateLost); err != nil {
			return err
		}
		if _, d, err := tx.UserDevice(ctx, "alice", id); err != nil || d.User != "" {
			return fmt.Errorf("UserDevice after the detach: %+v, %v; want the device unassigned", d, err)
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Batch = %v, want boom", err)
	}
	if !advance(t, st, id, 160) {
		t.Fatal("step 160 refused after the detach was rolled back")
	}
}

// The background checkpoint (PASSIVE, on a connection of its own) copies
// pages but changes no data: the writer's data_version stays, and so does
// its device cache.
func TestDeviceCacheSurvivesCheckpoint(t *testing.T) {
	ctx := context.Background()
	st, _ := stepFixture(t)
	defer st.Close()
	advance(t, st, id, 101)
	var busy, frames, copied int64
	if err := st.ckpt.conn.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied); err != nil || copied == 0 {
		t.Fatalf("checkpoint: busy %d, %d frames, %d copied, %v", busy, frames, copied, err)
	}
	advance(t, st, id, 102)
	if n := st.Stats().DeviceCache; n != 1 {
		t.Fatalf("after a checkpoint the cache holds %d devices, want 1", n)
	}
}

// A transaction with more accepted steps than one INSERT carries logs
// them all: each survives a crash.
func TestStepLogManyInOneTransaction(t *testing.T) {
	ctx := context.Background()
	st, p := stepFixture(t)
	const n = 131 // three INSERTs of flush (64 rows each)
	ids := make([]string, n)
	err := st.Update(ctx, func(tx verify.Tx) error {
		for i := range ids {
			ids[i] = fmt.Sprintf("GAHT1%07d", i)
			if err := createStepDevice(ctx, tx, ids[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = st.Batch(ctx, func(tx verify.Tx) error {
		for i, d := range ids {
			step := uint64(200 + i)
			won, err := tx.AdvanceStep(ctx, verify.StepUpdate{ID: d, User: "alice", Above: step, Step: step, Now: stepT0})
			if err != nil || !won {
				return fmt.Errorf("%s: %v, %v", d, won, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := logRows(t, st); got != n {
		t.Fatalf("%d log rows, want %d", got, n)
	}
	crash(st)
	st = reopen(t, p)
	for i, d := range ids {
		if got := lastStep(t, st, d); got != uint64(200+i) {
			t.Fatalf("after a crash %s reads step %d, want %d", d, got, 200+i)
		}
	}
}
