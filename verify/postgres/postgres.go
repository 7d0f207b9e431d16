// Package postgres is the scale-out store of the verifier: verify.Store
// over PostgreSQL (pgx/v5 pgxpool), for several verifier processes sharing
// one database. Commits wait for the WAL flush (synchronous_commit=on).
// The replay guard is a conditional UPDATE … WHERE last_step < $step, so it
// holds across processes; enables lock the user row (SELECT … FOR UPDATE)
// so the 8-device limit does too. Batch group-commits the hot path within a
// process, falling back to one transaction per decision if a batch fails
// (for example on a deadlock with another process).
//
// Migrations are embedded and applied by Open under an advisory lock, so
// several processes may start at once.
//
//	st, err := postgres.Open(ctx, "postgres://tokenlab@db/tokenlab")
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/internal/sqltx"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrateLock is the advisory lock key Open holds while migrating.
const migrateLock = 0x746f6b656e6c6162 // "tokenlab"

// Store is verify.Store over a PostgreSQL pool.
type Store struct {
	pool    *pgxpool.Pool
	batch   *sqltx.Batcher
	grouped bool
}

var _ verify.Store = (*Store)(nil)

var dialect = &sqltx.Dialect{
	Devices:   "devices",
	ForUpdate: " FOR UPDATE",
	IsUnique: func(err error) bool {
		var e *pgconn.PgError
		return errors.As(err, &e) && e.Code == "23505"
	},
	IsNoRows: func(err error) bool { return errors.Is(err, pgx.ErrNoRows) },
}

// Option changes how Open sets up the store.
type Option func(*Store)

// WithoutGroupCommit makes Batch an ordinary Update.
func WithoutGroupCommit() Option { return func(s *Store) { s.grouped = false } }

// Open connects to dsn (a postgres:// URL or key=value string; a
// search_path parameter selects a schema), sets synchronous_commit=on and
// brings the schema up to date.
func Open(ctx context.Context, dsn string, opts ...Option) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	cfg.ConnConfig.RuntimeParams["synchronous_commit"] = "on"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool, grouped: true}
	for _, o := range opts {
		o(s)
	}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	var sc string
	if err := pool.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&sc); err != nil || sc != "on" {
		pool.Close()
		return nil, fmt.Errorf("postgres: synchronous_commit is %q (%v), want on", sc, err)
	}
	s.batch = sqltx.NewBatcher(s.beginBatch, dialect, 0, nil)
	return s, nil
}

// Pool returns the underlying pool (for tests and tools).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close stops the group-commit writer and closes the pool.
func (s *Store) Close() error {
	s.batch.Close()
	s.pool.Close()
	return nil
}

func (s *Store) migrate(ctx context.Context) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrateLock)); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	var v int64
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_version`).Scan(&v); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	if int(v) > len(names) {
		return fmt.Errorf("postgres: database schema version %d is newer than this program's %d", v, len(names))
	}
	for i := int(v); i < len(names); i++ {
		b, err := migrations.ReadFile(names[i])
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, string(b)); err != nil {
			return fmt.Errorf("postgres: migrate %s: %w", names[i], err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM schema_version`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_version (version) VALUES ($1)`, int64(i+1)); err != nil {
			return err
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}

// Update runs fn in a read-write transaction, retrying it (up to three
// times) when PostgreSQL aborts it for a deadlock or serialization failure.
func (s *Store) Update(ctx context.Context, fn func(verify.Tx) error) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		err = s.run(ctx, pgx.TxOptions{}, fn)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) || (pe.Code != "40001" && pe.Code != "40P01") {
			return err
		}
		time.Sleep(time.Duration(attempt+1) * 5 * time.Millisecond)
	}
	return err
}

// View runs fn in a read-only transaction.
func (s *Store) View(ctx context.Context, fn func(verify.Tx) error) error {
	return s.run(ctx, pgx.TxOptions{AccessMode: pgx.ReadOnly}, fn)
}

// Stats returns the counts of the group commits (verify.StatsReporter);
// the server makes them durable, so there are no fsyncs of ours.
func (s *Store) Stats() verify.StoreStats { return s.batch.Stats() }

// Batch runs fn in the next group commit.
func (s *Store) Batch(ctx context.Context, fn func(verify.Tx) error) error {
	if !s.grouped {
		return s.Update(ctx, fn)
	}
	return s.batch.Do(ctx, fn)
}

func (s *Store) run(ctx context.Context, o pgx.TxOptions, fn func(verify.Tx) error) error {
	tx, err := s.pool.BeginTx(ctx, o)
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	defer tx.Rollback(ctx)
	if err := fn(&sqltx.Tx{C: conn{tx}, D: dialect}); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: commit: %w", err)
	}
	return nil
}

// Peek runs fn with statements straight on the pool, outside an explicit
// transaction: each is a transaction of its own (see verify.Peeker), one
// round trip instead of three.
func (s *Store) Peek(ctx context.Context, fn func(verify.Tx) error) error {
	return fn(&sqltx.Tx{C: conn{s.pool}, D: dialect})
}

func (s *Store) beginBatch(ctx context.Context) (sqltx.BatchTx, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("postgres: begin: %w", err)
	}
	return batchTx{conn{tx}, tx}, nil
}

// querier is what pgx.Tx and *pgxpool.Pool have in common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

type conn struct{ tx querier }

func (c conn) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	t, err := c.tx.Exec(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return t.RowsAffected(), nil
}

func (c conn) Query(ctx context.Context, q string, args ...any) (sqltx.Rows, error) {
	r, err := c.tx.Query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	return r, nil
}

func (c conn) QueryRow(ctx context.Context, q string, args ...any) sqltx.Row {
	return c.tx.QueryRow(ctx, q, args...)
}

type batchTx struct {
	conn
	ptx pgx.Tx
}

func (b batchTx) Commit(ctx context.Context) error   { return b.ptx.Commit(ctx) }
func (b batchTx) Rollback(ctx context.Context) error { return b.ptx.Rollback(ctx) }
