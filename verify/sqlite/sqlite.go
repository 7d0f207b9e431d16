// Package sqlite is the embedded store of the verifier: verify.Store over
// one SQLite file (modernc.org/sqlite, no cgo), the default of tokenlab
// serve.
//
// Durability comes first: an accepted code is on disk before its answer
// leaves. The WAL is fsynced after every commit of the writer and before
// anyone hears of it (see walSync: synchronous=NORMAL plus an fsync of our
// own, as durable as FULL, with the fsync outside the write lock).
// Throughput comes from group commit: all writes go through one
// connection, and Batch (the hot path of Check and CreateSession) gathers
// concurrent decisions into one transaction, and the batches committed
// while one fsync runs into the next fsync. A check reads its user and
// device inside the batch (verify.BatchReader), where the writer's page
// cache stays warm; the writer's connection is opened below modernc's
// database/sql driver (see direct). Other reads use a separate pool of
// read-only connections through the driver, on tables clustered on their
// keys (WITHOUT ROWID, since migration 3). An accepted code appends its
// step to a log table rather than updating its device's row, and a sweep
// writes the log in key order into step_fold, a narrow table that reads
// join to the devices rows (sqltx.StepLog, since migrations 5 and 6): with
// devices checked in a random order, that turns a page written per check
// into rows that share pages. The owner's writer
// also keeps every device's check columns in memory (sqltx.DeviceCache:
// the seed still sealed), so a check reads no page at all. Several
// processes may share the file (busy_timeout and BEGIN IMMEDIATE serialize them): the
// first keeps the step log, the others read it, and the conditional
// updates keep replays out across them.
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
	"time"

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
	db      *sql.DB // the writer's connection
	rdb     *sql.DB // the readers' connections (query_only)
	w       chan *pconn
	r       chan *pconn
	all     []*pconn
	batch   *sqltx.Batcher
	grouped bool
	wal     *walSync
	ckpt    *checkpointer // on the driver's writer connection, idle otherwise

	steps    *sqltx.StepLog // accepted steps, appended (see sqltx.StepLog)
	locks    *stepLocks     // which store on the file owns the step log
	inPlace  bool           // WithoutStepLog
	cacheMax int            // WithDeviceCache
	sweepMin int            // WithSweep
	sweepPer int
}

var _ verify.Store = (*Store)(nil)

var dialect = &sqltx.Dialect{
	ForUpdate: "",            // BEGIN IMMEDIATE already holds the write lock
	Devices:   "device_view", // the rows with the steps swept into step_fold
	IsUnique: func(err error) bool {
		var e interface{ Code() int } // *sqlite.Error or *dError
		return errors.As(err, &e) && (e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
	},
	IsNoRows: func(err error) bool { return errors.Is(err, sql.ErrNoRows) },
}

// Option changes how Open sets up the store.
type Option func(*Store)

// WithoutGroupCommit makes Batch an ordinary Update: one transaction (and
// one fsync) per decision. For benchmarks and comparisons.
func WithoutGroupCommit() Option { return func(s *Store) { s.grouped = false } }

// WithoutStepLog makes an accepted code update its device's row in place,
// as before migration 5, instead of appending to the step log. For
// benchmarks and comparisons.
func WithoutStepLog() Option { return func(s *Store) { s.inPlace = true } }

// WithDeviceCache sets how many devices the writer keeps in memory (their
// check columns, see sqltx.DeviceCache; default 1<<20, about 100 bytes
// each); 0 turns the cache off. Only the store owning the file's step log
// keeps one.
func WithDeviceCache(max int) Option { return func(s *Store) { s.cacheMax = max } }

// defaultDeviceCache is WithDeviceCache's default.
const defaultDeviceCache = 1 << 20

// WithSweep sets how many unfolded entries of the step log start a sweep
// into step_fold, and how many a batch folds at least (see
// sqltx.StepLog; defaults 65536 and 16). For tests, which sweep often.
func WithSweep(start, per int) Option {
	return func(s *Store) { s.sweepMin, s.sweepPer = start, per }
}

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
	// Create the file 0600 ourselves: SQLite gives the -wal and -shm files
	// the database file's mode.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	} else {
		f.Close()
	}
	s := &Store{path: path, grouped: true, wal: newWALSync(path), cacheMax: defaultDeviceCache}
	for _, o := range opts {
		o(s)
	}
	dsn := func(pragmas ...string) string {
		q := url.Values{}
		q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
		for _, p := range pragmas {
			q.Add("_pragma", p)
		}
		return "file:" + path + "?" + q.Encode()
	}
	ctx := context.Background()
	var err error
	if s.db, err = sql.Open("sqlite", dsn("journal_mode(WAL)", "synchronous(NORMAL)")); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if s.rdb, err = sql.Open("sqlite", dsn("query_only(1)")); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	nr := max(4, runtime.GOMAXPROCS(0)*2)
	s.db.SetMaxOpenConns(1)
	s.rdb.SetMaxOpenConns(nr)
	s.w, s.r = make(chan *pconn, 1), make(chan *pconn, nr)
	fail := func(err error) (*Store, error) {
		s.closeConns()
		s.wal.close()
		if s.locks != nil {
			s.locks.close()
		}
		return nil, err
	}
	wc, err := connect(ctx, s.db)
	if err != nil {
		return fail(fmt.Errorf("sqlite: %w", err))
	}
	w := &pconn{c: wc, begin: "BEGIN IMMEDIATE", stmts: map[string]*sql.Stmt{}}
	s.all = append(s.all, w)
	if err := s.migrate(ctx, w); err != nil {
		return fail(err)
	}
	// Check that what we asked for holds.
	var mode string
	var syncMode int
	if err := wc.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || !strings.EqualFold(mode, "wal") {
		return fail(fmt.Errorf("sqlite: journal_mode is %q (%v), want wal", mode, err))
	}
	if err := wc.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&syncMode); err != nil || syncMode != 1 {
		return fail(fmt.Errorf("sqlite: synchronous is %d (%v), want 1 (NORMAL, with walSync)", syncMode, err))
	}
	// From here on the writer's statements go through a connection of
	// its own below the driver (see direct); the driver's stays open,
	// idle.
	if w.d, err = openDirect(path); err != nil {
		return fail(err)
	}
	if err := w.QueryRow(ctx, `PRAGMA synchronous`).Scan(&syncMode); err != nil || syncMode != 1 {
		return fail(fmt.Errorf("sqlite: synchronous is %d (%v) on the writer, want 1 (NORMAL, with walSync)", syncMode, err))
	}
	var frames int64
	if err := w.QueryRow(ctx, fmt.Sprintf(`PRAGMA wal_autocheckpoint = %d`, walAutoCheckpoint)).Scan(&frames); err != nil || frames != walAutoCheckpoint {
		return fail(fmt.Errorf("sqlite: wal_autocheckpoint is %d (%v), want %d", frames, err, walAutoCheckpoint))
	}
	if s.locks, err = takeStepLocks(path); err != nil {
		return fail(err)
	}
	s.steps = sqltx.NewStepLog(dialect, s.locks.owner, s.locks.peersPresent)
	if s.sweepMin > 0 {
		s.steps.SweepMin = s.sweepMin
	}
	if s.sweepPer > 0 {
		s.steps.SweepPer = s.sweepPer
	}
	if s.inPlace {
		s.steps.StopAppending()
	}
	if s.steps.Owner() {
		if s.cacheMax > 0 {
			s.steps.Cache = sqltx.NewDeviceCache(s.cacheMax)
		}
		// What an earlier owner left (after a crash: the steps accepted
		// since its last sweep) goes into step_fold first; then
		// the device cache takes every row.
		if err := w.tx(ctx, func(c sqltx.Conn) error {
			if _, err := s.steps.Replay(ctx, c); err != nil {
				return err
			}
			if err := s.seeVersion(ctx, c); err != nil {
				return err
			}
			return s.steps.Load(ctx, c)
		}); err != nil {
			return fail(fmt.Errorf("sqlite: replaying the step log: %w", err))
		}
	}
	if err := s.wal.sync(); err != nil {
		return fail(err)
	}
	s.w <- w
	for i := 0; i < nr; i++ {
		rc, err := connect(ctx, s.rdb)
		if err != nil {
			return fail(fmt.Errorf("sqlite: %w", err))
		}
		r := &pconn{c: rc, begin: "BEGIN", stmts: map[string]*sql.Stmt{}}
		s.all = append(s.all, r)
		s.r <- r
	}
	s.ckpt = startCheckpointer(wc, checkpointEvery)
	s.batch = sqltx.NewBatcher(s.beginBatch, dialect, 0, s.durable)
	return s, nil
}

// busyTimeout is how long SQLite waits for a lock (the busy_timeout pragma
// of every connection), and how long connect retries.
const busyTimeout = 10 * time.Second

// connect opens a connection of db, retrying while SQLite reports the
// database busy. Opening runs the DSN's pragmas, and switching a new
// database to WAL needs a lock that SQLite does not wait for once the
// statement already reads (it would risk a deadlock), so processes opening
// one new file at the same moment can meet SQLITE_BUSY there.
func connect(ctx context.Context, db *sql.DB) (*sql.Conn, error) {
	deadline := time.Now().Add(busyTimeout)
	for delay := time.Millisecond; ; delay = min(2*delay, 50*time.Millisecond) {
		c, err := db.Conn(ctx)
		var e *sqlite.Error
		if err == nil || !errors.As(err, &e) || e.Code()&0xff != sqlite3.SQLITE_BUSY || time.Now().After(deadline) {
			return c, err
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// OwnsStepLog reports whether this store keeps the file's step log (the
// first store opened on it) rather than reading it as a peer.
func (s *Store) OwnsStepLog() bool { return s.steps.Owner() }

// Path returns the database file's path.
func (s *Store) Path() string { return s.path }

// Close stops the group-commit writer and closes the database.
func (s *Store) Close() (err error) {
	if s.batch != nil {
		s.batch.Close()
	}
	defer func() { err = errors.Join(err, s.wal.close()) }()
	var drainErr error
	if l := s.locks; l != nil {
		s.locks = nil
		defer l.close()
		if l.owner {
			// Leave every step in step_fold, for whoever opens
			// the file next (a crash leaves them in the log, replayed on
			// open).
			drainErr = s.drain()
		}
	}
	var ckptErr error
	if s.ckpt != nil {
		if ckptErr = s.ckpt.close(); ckptErr != nil {
			ckptErr = fmt.Errorf("sqlite: background checkpoint: %w", ckptErr)
		}
	}
	return errors.Join(drainErr, s.closeConns(), ckptErr)
}

func (s *Store) drain() error {
	ctx := context.Background()
	c, err := s.take(ctx, s.w)
	if err != nil {
		return err
	}
	defer func() { s.w <- c }()
	if err := c.tx(ctx, func(conn sqltx.Conn) error {
		// Replay is what the next owner would do on open; the log's
		// memory goes with the store.
		_, err := s.steps.Replay(ctx, conn)
		return err
	}); err != nil {
		return fmt.Errorf("sqlite: writing the step log into step_fold: %w", err)
	}
	return s.wal.sync()
}

func (s *Store) closeConns() error {
	for _, c := range s.all {
		for _, st := range c.stmts {
			st.Close()
		}
		c.closeRaw()
		if c.d != nil {
			c.d.close()
			c.d = nil
		}
		c.c.Close()
	}
	s.all = nil
	err := s.rdb.Close()
	if werr := s.db.Close(); err == nil {
		err = werr
	}
	return err
}

func (s *Store) migrate(ctx context.Context, w *pconn) error {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	// BEGIN IMMEDIATE: one process migrates at a time.
	return w.tx(ctx, func(c sqltx.Conn) error {
		if _, err := c.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)`); err != nil {
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
		var v int64
		if err := c.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_version`).Scan(&v); err != nil {
			return fmt.Errorf("sqlite: migrate: %w", err)
		}
		if int(v) > len(names) {
			return fmt.Errorf("sqlite: database schema version %d is newer than this program's %d", v, len(names))
		}
		for i := int(v); i < len(names); i++ {
			b, err := migrations.ReadFile(names[i])
			if err != nil {
				return err
			}
			if _, err := w.c.ExecContext(ctx, string(b)); err != nil {
				return fmt.Errorf("sqlite: migrate %s: %w", names[i], err)
			}
			if _, err := c.Exec(ctx, `DELETE FROM schema_version`); err != nil {
				return err
			}
			if _, err := c.Exec(ctx, `INSERT INTO schema_version (version) VALUES ($1)`, int64(i+1)); err != nil {
				return err
			}
		}
		return nil
	})
}

// SchemaVersion returns the applied migration count.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int64
	r, err := s.take(ctx, s.r)
	if err != nil {
		return 0, err
	}
	defer func() { s.r <- r }()
	err = r.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM schema_version`).Scan(&v)
	return int(v), err
}

func (s *Store) take(ctx context.Context, p chan *pconn) (*pconn, error) {
	select {
	case c := <-p:
		return c, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Update runs fn in a write transaction (BEGIN IMMEDIATE) and returns once
// the transaction is durable.
func (s *Store) Update(ctx context.Context, fn func(verify.Tx) error) error {
	if err := s.run(ctx, s.w, fn); err != nil {
		return err
	}
	return s.durable()
}

// durable makes the commits so far durable (walSync) and tells the
// checkpointer the log has grown.
func (s *Store) durable() error {
	if err := s.wal.sync(); err != nil {
		return err
	}
	s.ckpt.committed()
	return nil
}

// View runs fn in a read transaction on one of the read-only connections.
func (s *Store) View(ctx context.Context, fn func(verify.Tx) error) error {
	return s.run(ctx, s.r, fn)
}

// Peek runs fn on one of the read-only connections without BEGIN and
// COMMIT: each statement is a read transaction of its own (see
// verify.Peeker). The statements ignore ctx's cancellation once started,
// which spares the driver a goroutine per statement; they are short reads.
func (s *Store) Peek(ctx context.Context, fn func(verify.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c, err := s.take(ctx, s.r)
	if err != nil {
		return err
	}
	defer func() { s.r <- c }()
	return fn(&sqltx.Tx{C: uncancelled{c}, D: dialect, S: s.steps.Begin(false)})
}

// ReadsInBatch is true: the group-commit writer's page cache stays warm
// across its own commits, while a reader's starts over after each one (see
// verify.BatchReader).
func (s *Store) ReadsInBatch() bool { return true }

// Stats returns the counts of the group commits, their fsyncs and the
// background checkpoints (verify.StatsReporter).
func (s *Store) Stats() verify.StoreStats {
	st := s.batch.Stats()
	if s.ckpt != nil {
		st.Checkpoints, st.WALFrames, st.WALCheckpointed = s.ckpt.passes.Load(), s.ckpt.frames.Load(), s.ckpt.copied.Load()
	}
	if s.steps != nil {
		st.StepLog = int64(s.steps.Len())
		st.DeviceCache = int64(s.steps.CacheLen())
	}
	return st
}

// Batch runs fn in the next group commit.
func (s *Store) Batch(ctx context.Context, fn func(verify.Tx) error) error {
	if !s.grouped {
		return s.Update(ctx, fn)
	}
	return s.batch.Do(ctx, fn)
}

func (s *Store) run(ctx context.Context, p chan *pconn, fn func(verify.Tx) error) error {
	c, err := s.take(ctx, p)
	if err != nil {
		return err
	}
	defer func() { p <- c }()
	write := p == s.w
	st := s.steps.Begin(write)
	err = c.tx(ctx, func(conn sqltx.Conn) error {
		if write {
			if err := s.seeVersion(ctx, conn); err != nil {
				return err
			}
		}
		if err := fn(&sqltx.Tx{C: conn, D: dialect, S: st}); err != nil {
			return err
		}
		if write {
			return st.Sweep(ctx, conn, 1)
		}
		return nil
	})
	if err == nil {
		st.Commit()
	}
	return err
}

// seeVersion tells the device cache the database's data_version, on the
// writer inside a transaction: it changes when another connection (another
// process) has committed since.
func (s *Store) seeVersion(ctx context.Context, c sqltx.Conn) error {
	if s.steps.Cache == nil {
		return nil
	}
	var v int64
	if err := c.QueryRow(ctx, `PRAGMA data_version`).Scan(&v); err != nil {
		return fmt.Errorf("sqlite: data_version: %w", err)
	}
	s.steps.SeeVersion(v)
	return nil
}

// beginBatch hands the writer connection to the group-commit writer for
// one transaction; Commit or Rollback gives it back.
func (s *Store) beginBatch(ctx context.Context) (sqltx.BatchTx, error) {
	c, err := s.take(ctx, s.w)
	if err != nil {
		return nil, err
	}
	if _, err := c.Exec(context.WithoutCancel(ctx), c.begin); err != nil {
		s.w <- c
		return nil, fmt.Errorf("sqlite: begin: %w", err)
	}
	if err := s.seeVersion(ctx, c); err != nil {
		c.rollback()
		s.w <- c
		return nil, err
	}
	return &batchTx{uncancelled: uncancelled{c}, home: s.w, steps: s.steps.Begin(true)}, nil
}

// uncancelled runs a pconn's statements without ctx's cancellation: in a
// group commit, one caller giving up must not interrupt a statement that
// the whole batch depends on (Batcher answers it after the commit anyway),
// and on a read of one row it spares the driver and database/sql a
// goroutine each that would wait for ctx.
type uncancelled struct{ c *pconn }

func (u uncancelled) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	if u.c.d != nil {
		return u.c.d.Exec(context.Background(), q, args...)
	}
	return u.c.Exec(context.WithoutCancel(ctx), q, args...)
}

func (u uncancelled) Query(ctx context.Context, q string, args ...any) (sqltx.Rows, error) {
	if u.c.d != nil {
		return u.c.d.Query(context.Background(), q, args...)
	}
	return u.c.Query(context.WithoutCancel(ctx), q, args...)
}

func (u uncancelled) QueryRow(ctx context.Context, q string, args ...any) sqltx.Row {
	if u.c.d != nil {
		return u.c.d.QueryRow(context.Background(), q, args...)
	}
	return u.c.QueryRow(context.WithoutCancel(ctx), q, args...)
}

// pconn is one connection held for the store's life, with its prepared
// statements: SQLite parses each statement once per connection, not once
// per call. Transactions are plain BEGIN/COMMIT on it.
type pconn struct {
	c     *sql.Conn
	begin string
	stmts map[string]*sql.Stmt // only used by the goroutine holding the pconn
	raw   map[string]*rawStmt
	d     *direct // the writer's statements, once opened (see direct)
}

func (c *pconn) tx(ctx context.Context, fn func(sqltx.Conn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := c.Exec(context.WithoutCancel(ctx), c.begin); err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	if err := fn(c); err != nil {
		c.rollback()
		return err
	}
	return c.commit()
}

// commit and rollback end the transaction on c with prepared statements.
func (c *pconn) commit() error {
	if _, err := c.Exec(context.Background(), "COMMIT"); err != nil {
		c.rollback()
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}

func (c *pconn) rollback() error {
	_, err := c.Exec(context.Background(), "ROLLBACK")
	return err
}

func (c *pconn) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := c.stmts[q]; ok {
		return st, nil
	}
	st, err := c.c.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	c.stmts[q] = st
	return st, nil
}

// On the writer, once opened, everything runs on its direct connection.
// Elsewhere Exec and QueryRow run on the driver's connection and
// statements (rawExec, rawRow), below database/sql: its per-call locking,
// argument conversion, Rows and reflective Scan cost more than one-row
// statements themselves. Query, with many rows, stays on database/sql.
func (c *pconn) Exec(ctx context.Context, q string, args ...any) (int64, error) {
	if c.d != nil {
		return c.d.Exec(ctx, q, args...)
	}
	return c.rawExec(ctx, q, args)
}

func (c *pconn) Query(ctx context.Context, q string, args ...any) (sqltx.Rows, error) {
	if c.d != nil {
		return c.d.Query(ctx, q, args...)
	}
	st, err := c.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	r, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, err
	}
	return rows{r}, nil
}

func (c *pconn) QueryRow(ctx context.Context, q string, args ...any) sqltx.Row {
	if c.d != nil {
		return c.d.QueryRow(ctx, q, args...)
	}
	return rawRow{c: c, ctx: ctx, q: q, args: args}
}

func (c *pconn) sqlQueryRow(ctx context.Context, q string, args ...any) sqltx.Row {
	st, err := c.stmt(ctx, q)
	if err != nil {
		return errRow{err}
	}
	return st.QueryRowContext(ctx, args...)
}

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

type rows struct{ *sql.Rows }

func (r rows) Close() { r.Rows.Close() }

type batchTx struct {
	uncancelled
	home  chan *pconn
	done  bool
	steps *sqltx.StepTx
}

// Steps is the transaction's view of the step log, for sqltx.Batcher.
func (b *batchTx) Steps() *sqltx.StepTx { return b.steps }

func (b *batchTx) Commit(ctx context.Context) error {
	if b.done {
		return errors.New("sqlite: transaction already finished")
	}
	b.done = true
	defer func() { b.home <- b.c }()
	if err := b.c.commit(); err != nil {
		return err
	}
	b.steps.Commit()
	return nil
}

func (b *batchTx) Rollback(ctx context.Context) error {
	if b.done {
		return nil
	}
	b.done = true
	defer func() { b.home <- b.c }()
	return b.c.rollback()
}
