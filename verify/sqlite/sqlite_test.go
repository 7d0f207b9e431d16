package sqlite_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/sqlite"
	"github.com/tokenlab/tokenlab/verify/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) verify.Store {
		st, err := sqlite.Open(filepath.Join(t.TempDir(), "sub", "tokenlab.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}

// The step log swept in every batch, so that folds and trims run all the
// time.
func TestConformanceSweeping(t *testing.T) {
	storetest.Run(t, func(t *testing.T) verify.Store {
		st, err := sqlite.Open(filepath.Join(t.TempDir(), "tokenlab.db"), sqlite.WithSweep(1, 1))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}

// A peer: a store opened while another owns the file's step log, which
// reads the log table instead of keeping it.
func TestConformancePeer(t *testing.T) {
	storetest.Run(t, func(t *testing.T) verify.Store {
		p := filepath.Join(t.TempDir(), "tokenlab.db")
		owner, err := sqlite.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { owner.Close() })
		st, err := sqlite.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if st.OwnsStepLog() || !owner.OwnsStepLog() {
			t.Fatal("the first store opened should own the step log, the second not")
		}
		return st
	})
}

func TestConformanceWithoutGroupCommit(t *testing.T) {
	storetest.Run(t, func(t *testing.T) verify.Store {
		st, err := sqlite.Open(filepath.Join(t.TempDir(), "tokenlab.db"), sqlite.WithoutGroupCommit())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}

func TestFileMode(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tokenlab.db")
	st, err := sqlite.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, f := range []string{p, p + "-wal"} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
}

// Two processes (here: two Stores) opening one file at once both migrate
// safely, and the second sees the first's data.
func TestOpenTwice(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tokenlab.db")
	errs := make(chan error, 4)
	stores := make(chan *sqlite.Store, 4)
	for i := 0; i < 4; i++ {
		go func() {
			st, err := sqlite.Open(p)
			errs <- err
			stores <- st
		}()
	}
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		st := <-stores
		if v, err := st.SchemaVersion(t.Context()); v != 6 || err != nil {
			t.Errorf("SchemaVersion = %d, %v", v, err)
		}
		st.Close()
	}
}

// A database of schema 2 (before users and devices became WITHOUT ROWID,
// and the audit log lost AUTOINCREMENT) keeps its rows through migrations
// 3 and 4, and its indexes answer as before.
func TestMigrateWithoutRowid(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tokenlab.db")
	db, err := sql.Open("sqlite", "file:"+p)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"migrations/0001_init.sql", "migrations/0002_fido.sql"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.Exec(string(b)); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	for _, q := range []string{
		`CREATE TABLE schema_version (version INTEGER NOT NULL)`,
		`INSERT INTO schema_version VALUES (2)`,
		`INSERT INTO users (name_key, name, id, path, arn, admin, require_mfa, password, created_at)
			VALUES ('alice', 'Alice', 'AIDAALICE', '/', 'arn:aws:iam::123456789012:user/Alice', 1, 0, '', 5)`,
		`INSERT INTO devices (id, kind, state, user_name, algorithm, digits, period, seed, key_id, enabled_at, created_at, drift, last_step, failures, locked_until, tags)
			VALUES ('GAHT00000017', 'hardware', 'assigned', 'Alice', 0, 6, 30, x'0102', 'kek-1', 7, 6, 2, 99, 1, 0, '{"a":"b"}')`,
		`INSERT INTO devices (id, kind, state, user_name, algorithm, digits, period, seed, key_id, created_at)
			VALUES ('GAHT00000018', 'hardware', 'available', '', 0, 6, 30, x'0304', 'kek-1', 6)`,
		`INSERT INTO access_keys (id, user_name, status, created_at, secret, key_id, session, expires, mfa, mfa_device)
			VALUES ('AKIAEXAMPLE0000001', 'Alice', 'Active', 8, x'0506', 'kek-1', 0, 0, 0, '')`,
		`INSERT INTO audit (id, time, actor, action, user_name, device, outcome, reason, source)
			VALUES (41, 9, 'admin', 'enable', 'Alice', 'GAHT00000017', 'ok', '', 'api')`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	st, err := sqlite.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := t.Context()
	if v, err := st.SchemaVersion(ctx); v != 6 || err != nil {
		t.Fatalf("SchemaVersion = %d, %v", v, err)
	}
	err = st.View(ctx, func(tx verify.Tx) error {
		name, d, err := tx.UserDevice(ctx, "ALICE", "GAHT00000017")
		if err != nil {
			return err
		}
		if name != "Alice" || d.User != "Alice" || d.Drift != 2 || d.LastStep != 99 || string(d.SealedSeed) != "\x01\x02" {
			t.Errorf("after migration: %q %+v", name, d)
		}
		if d, err = tx.Device(ctx, "GAHT00000017"); err != nil || d.Failures != 1 || d.Tags["a"] != "b" || d.EnabledAt.UnixNano() != 7 {
			t.Errorf("after migration: %+v, %v", d, err)
		}
		free, err := tx.Devices(ctx, verify.DeviceFilter{Kind: verify.KindHardware, State: verify.StateAvailable}, "", 10)
		if err != nil || len(free) != 1 || free[0].ID != "GAHT00000018" {
			t.Errorf("available devices = %v, %v", free, err)
		}
		n, err := tx.CountDevices(ctx, "Alice")
		if err != nil || n != 1 {
			t.Errorf("CountDevices = %d, %v", n, err)
		}
		keys, err := tx.AccessKeys(ctx, "Alice", false)
		if err != nil || len(keys) != 1 || keys[0].ID != "AKIAEXAMPLE0000001" || string(keys[0].Sealed) != "\x05\x06" {
			t.Errorf("AccessKeys = %+v, %v", keys, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The audit log kept its event, and the next one comes after it.
	if err := st.Update(ctx, func(tx verify.Tx) error {
		return tx.AppendAudit(ctx, &verify.AuditEvent{Time: time.Unix(0, 10), Actor: "admin", Action: "check", User: "Alice", Device: "GAHT00000017", Outcome: "ok", Source: "api"})
	}); err != nil {
		t.Fatal(err)
	}
	err = st.View(ctx, func(tx verify.Tx) error {
		evs, err := tx.Audit(ctx, verify.AuditFilter{Limit: 10})
		if err != nil {
			return err
		}
		ids := map[int64]string{}
		for _, e := range evs {
			ids[e.ID] = e.Action
		}
		if len(evs) != 2 || ids[41] != "enable" || ids[42] != "check" {
			t.Errorf("audit after migration = %+v", evs)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Users and devices have no rowid any more; access keys have one again.
	db, err = sql.Open("sqlite", "file:"+p+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, table := range []string{"users", "devices"} {
		var n int64
		if err := db.QueryRow(`SELECT rowid FROM ` + table + ` LIMIT 1`).Scan(&n); err == nil {
			t.Errorf("%s still has a rowid", table)
		}
	}
	var n int64
	if err := db.QueryRow(`SELECT rowid FROM access_keys LIMIT 1`).Scan(&n); err != nil {
		t.Errorf("access_keys has no rowid: %v", err)
	}
}
