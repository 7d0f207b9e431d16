package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/verify"
)

// The log is copied into the database file by the background checkpointer
// long before the writer's own threshold: with a few hundred frames in the
// log (far below walAutoCheckpoint) the database file grows, which only a
// checkpoint does. Without the checkpointer it would stay as it was.
func TestBackgroundCheckpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.db")
	st, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	size := func(p string) int64 {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	ctx := context.Background()
	// Settle what Open wrote, then measure from there.
	if _, err := st.ckpt.conn.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	before := size(path)
	long := strings.Repeat("x", 200)
	for range 20 {
		if err := st.Batch(ctx, func(tx verify.Tx) error {
			for range 100 {
				if err := tx.AppendAudit(ctx, &verify.AuditEvent{Time: time.Now(), Actor: "admin", Action: "check", User: long, Device: "GAHT00000017", Outcome: "ok", Source: "api"}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	if frames := size(path+"-wal") / (24 + 4096); frames >= walAutoCheckpoint { // a frame: 24-byte header, 4 KiB page
		t.Fatalf("the test wrote %d frames, the writer's own threshold is %d", frames, walAutoCheckpoint)
	}
	deadline := time.Now().Add(10 * time.Second)
	for size(path) == before {
		if time.Now().After(deadline) {
			t.Fatalf("database file still %d bytes 10 s after the writes: no checkpoint ran", before)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The store's counts say so too (a pass counts once it has returned).
	for st.Stats().Checkpoints == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the database file grew, but no checkpoint pass was counted")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if s := st.Stats(); s.Commits != 20 || s.Operations != 20 || s.Syncs < 1 || s.Syncs > 20 || s.SyncTime <= 0 ||
		s.WALFrames <= 0 || s.WALCheckpointed <= 0 || s.WALCheckpointed > s.WALFrames {
		t.Errorf("stats after 20 batches and a checkpoint: %+v", s)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := st.ckpt.close(); err != nil {
		t.Fatalf("second close of the checkpointer: %v", err)
	}
}
