// Package sqlite is the embedded store of the verifier: verify.Store over
// one SQLite file (modernc.org/sqlite, no cgo), the default of tokenlab
// serve.
//
// Durability comes first: WAL with synchronous=FULL, so an accepted code is
// on disk before its answer leaves. Throughput comes from group commit: all
// writes go through one connection, and Batch (the hot path of Check and
// CreateSession) gathers concurrent decisions into one transaction and one
// fsync. Reads use a separate pool of read-only connections. Several
// processes may share the file (busy_timeout and BEGIN IMMEDIATE serialize
// them); the conditional updates keep replays out across them.
//
//	st, err := sqlite.Open("tokenlab-data/tokenlab.db")
//	svc := verify.New(st, sealer, verify.Config{})
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/internal/sqltx"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is verify.Store over a SQLite file.
type Store struct {
	path    string
	w       *sql.DB // one connection: every write
	r       *sql.DB // read-only pool
	batch   *sqltx.Batcher
	grouped bool
}

var _ verify.Store = (*Store)(nil)

var dialect = &sqltx.Dialect{
	ForUpdate: "", // BEGIN IMMEDIATE already holds the write lock
	IsUnique: func(err error) bool {
		var e *sqlite.Error
		return errors.As(err, &e) && (e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
	},
	IsNoRows: func(err error) bool { return errors.Is(err, sql.ErrNoRows) },
}

// Option changes how Open sets up the store.
type Option func(*Store)

// WithoutGroupCommit makes Batch an ordinary Update: one transaction (and
// one fsync) per decision. For benchmarks and comparisons.
func WithoutGroupCommit() Option { return func(s *Store) { s.grouped = false } }

// Open opens (creating it on first start) the database file at path and
// brings its schema up to date.
func Open(path string, opts ...Option) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("sqlite: %w", err)
		}
	}
	s := &Store{path: path, grouped: true}
	for _, o := range opts {
		o(s)
	}
	dsn := func(extra ...string) string {
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "foreign_keys(1)")
		for i := 0; i+1 < len(extra); i += 2 {
			q.Add(extra[i], extra[i+1])
		}
		return "file:" + path + "?" + q.Encode()
	}
	var err error
	s.w, err = sql.Open("sqlite", dsn("_pragma", "journal_mode(WAL)", "_pragma", "synchronous(FULL)", "_txlock", "immediate"))
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	s.w.SetMaxOpenConns(1)
	s.w.SetConnMaxIdleTime(0)
	s.w.SetConnMaxLifetime(0)
	if err := s.migrate(context.Background()); err != nil {
		s.w.Close()
		return nil, err
	}
	// Check what we asked for actually holds.
	var mode string
	var sync int
	if err := s.w.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || !strings.EqualFold(mode, "wal") {
		s.w.Close()
		return nil, fmt.Errorf("sqlite: journal_mode is %q (%v), want wal", mode, err)
	}
	if err := s.w.QueryRow(`PRAGMA synchronous`).Scan(&sync); err != nil || sync != 2 {
		s.w.Close()
		return nil, fmt.Errorf("sqlite: synchronous is %d (%v), want 2 (FULL)", sync, err)
	}
	s.r, err = sql.Open("sqlite", dsn("_pragma", "query_only(1)", "_txlock", "deferred"))
	if err != nil {
		s.w.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	s.r.SetMaxOpenConns(max(4, runtime.GOMAXPROCS(0)*2))
	s.r.SetMaxIdleConns(max(4, runtime.GOMAXPROCS(0)*2))
	s.batch = sqltx.NewBatcher(s.beginBatch, dialect, 0)
	return s, nil
}

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// Close stops the group-commit writer and closes the database.
func (s *Store) Close() error {
	s.batch.Close()
	err := s.r.Close()
	if werr := s.w.Close(); err == nil {
		err = werr
	}
	return err
}

func (s *Store) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: one process migrates at a time
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	var v int
	if err := tx.QueryRow(`SELECT coalesce(max(version), 0) FROM schema_version`).Scan(&v); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	if v > len(names) {
		return fmt.Errorf("sqlite: database schema version %d is newer than this program's %d", v, len(names))
	}
	for i := v; i < len(names); i++ {
		b, err := migrations.ReadFile(names[i])
		if err != nil {
			return err
		}
		if _, err := tx.Exec(string(b)); err != nil {
			return fmt.Errorf("sqlite: migrate %s: %w", names[i], err)
		}
		if _, err := tx.Exec(`DELETE FROM schema_version`); err != nil {
			return err
		}
		if _, err := tx.Exec(`INSERT INTO schema_version (version) VALUES ($1)`, i+1); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	return nil
}

// SchemaVersion returns the applied migration count.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.r.QueryRowContext(ctx, `SELECT coalesce(max(version), 0) FROM schema_version`).Scan(&v)
	return v, err
}

// Update runs fn in a write transaction (BEGIN IMMEDIATE).
func (s *Store) Update(ctx context.Context, fn func(verify.Tx) error) error {
	return s.run(ctx, s.w, false, fn)
}

// View runs fn in a read transaction on the read-only pool.
func (s *Store) View(ctx context.Context, fn func(verify.Tx) error) error {
	return s.run(ctx, s.r, true, fn)
}

// Batch runs fn in the next group commit.
func (s *Store) Batch(ctx context.Context, fn func(verify.Tx) error) error {
	if !s.grouped {
		return s.Update(ctx, fn)
	}
	return s.batch.Do(ctx, fn)
}

func (s *Store) run(ctx context.Context, db *sql.DB, ro bool, fn func(verify.Tx) error) error {
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: ro})
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(&sqltx.Tx{C: conn{tx}, D: dialect}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

func (s *Store) beginBatch(ctx context.Context) (sqltx.BatchTx, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlite: begin: %w", err)
	}
	return batchTx{conn{tx}}, nil
}

type conn struct{ tx *sql.Tx }

func (c conn) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	r, err := c.tx.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return r.RowsAffected()
}

func (c conn) Query(ctx context.Context, q string, args ...any) (sqltx.Rows, error) {
	r, err := c.tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return rows{r}, nil
}

func (c conn) QueryRow(ctx context.Context, q string, args ...any) sqltx.Row {
	return c.tx.QueryRowContext(ctx, q, args...)
}

type rows struct{ *sql.Rows }

func (r rows) Close() { r.Rows.Close() }

type batchTx struct{ conn }

func (b batchTx) Commit(context.Context) error   { return b.tx.Commit() }
func (b batchTx) Rollback(context.Context) error { return b.tx.Rollback() }
