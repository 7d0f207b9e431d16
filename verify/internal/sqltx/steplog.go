package sqltx

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenlab/tokenlab/verify"
)

// StepLog keeps the steps of accepted codes in an append-only table,
// step_log, instead of updating each device's row on every check. It is
// SQLite's (the postgres store has none): there the check path is one
// writer, and updating a device's row dirties a page of its own for every
// check when devices are checked in a random order, as sign-ins spread
// over users do. A page written per check costs the write-ahead log a
// frame, the fsync its bytes and the checkpoint a copy; appended log rows
// share pages.
//
// A sweep later takes the steps out of the log, in key order, into
// step_fold: a narrow table of (device, step, drift), about six times as
// many rows to a page as the devices table, so that a sweep writes few
// pages, each with many of its steps. Reads select from a view (the
// dialect's Devices) that joins step_fold to the devices rows.
//
// The rows of the devices table stay the truth for everything but the
// last accepted step, drift, failures and lock of a device with a step in
// the log or in step_fold: a step above the row's last_step overrides
// those four columns as [Tx.AdvanceStep] would have written them (the
// step and drift it records, no failures, no lock). last_step never goes
// back, so a step at or below it is one already written into the row.
// Every other write to a device's row first folds its steps into the row
// (fold), so a step is always the newest change to those columns.
//
// One store at a time, the owner (the one holding the log's lock file),
// appends; it keeps the newest entry of every device in memory, so that
// reading a device costs a map lookup more than before. Other stores on
// the same file (other processes) are peers: they never append, read the
// log table when they read a device, and fold before they write one. A
// peer is correct without the owner's help but slow while the log is
// long, so the owner, once it sees a peer (the peers' lock file taken),
// stops appending and sweeps until the log is empty.
type StepLog struct {
	d      *Dialect
	owner  bool
	direct atomic.Bool // the owner has stopped appending (a peer appeared)
	peers  func() bool // whether a peer holds its lock; nil: never

	// SweepMin is how many unfolded entries start a sweep (the more, the
	// more steps each devices page takes at once); SweepPer how many a
	// batch folds, at least, and per operation of the batch.
	SweepMin, SweepPer int

	// Cache, when set (an owner's), holds the devices' check columns
	// for the writer (see DeviceCache).
	Cache *DeviceCache

	mu       sync.RWMutex
	entries  map[string]stepEntry // newest entry per device, folded or not
	unfolded int

	// The writer's, between transactions.
	seq       int64    // the last row appended
	sweeping  bool     // a sweep is in progress
	sweep     []string // the devices of the sweep in progress, by id
	pos       int      // how far the sweep has gone
	sweepSeq  int64    // the sweep folds every entry up to this row
	trimTo    int64    // rows up to here are folded and may go
	trimmed   int64    // rows up to here are gone
	lastProbe time.Time
}

type stepEntry struct {
	step   uint64
	drift  int64
	seq    int64 // its row in step_log
	folded bool  // written into step_fold or the device's row
	gone   bool  // the device was deleted (only in a transaction's pending)
}

// Sweep defaults: a sweep starts at 65536 unfolded entries, and folds at
// least 16, and 2 per operation, in each batch, more than the one entry an
// accepted code adds. A sweep then runs about a third of the time,
// whatever its start; a later start puts more entries on each page it
// writes. Measured with 30 s of bench verify over 400k devices in random
// order, sweeping into the devices rows: ratio 0.41 starting at 32768,
// 0.43 at 65536 (a few MB of entries in memory). Sweeping into step_fold,
// 32768, 65536 and 131072 all read 0.49-0.52, within the noise.
const (
	defaultSweepMin = 65536
	defaultSweepPer = 16
	// trimChunk bounds the log rows one transaction deletes.
	trimChunk = 4096
	// probeEvery is how often the owner looks for peers.
	probeEvery = 10 * time.Millisecond
)

// NewStepLog returns the log of a store. owner says whether this store
// appends (it holds the log's lock); peers, for an owner, reports whether
// another store has opened the file since. Before use an owner must
// Replay what an earlier owner left.
func NewStepLog(d *Dialect, owner bool, peers func() bool) *StepLog {
	return &StepLog{d: d, owner: owner, peers: peers, SweepMin: defaultSweepMin, SweepPer: defaultSweepPer, entries: map[string]stepEntry{}}
}

// StopAppending makes the owner update devices rows in place from now on,
// sweeping what the log holds into them.
func (l *StepLog) StopAppending() { l.direct.Store(true) }

// Owner reports whether this store appends to the log.
func (l *StepLog) Owner() bool { return l.owner }

// Appending reports whether checks are appended to the log (the owner,
// before any peer appeared) rather than written into the devices rows.
func (l *StepLog) Appending() bool { return l.owner && !l.direct.Load() }

// Len returns how many entries are not yet swept into step_fold (an
// owner's count; 0 for a peer).
func (l *StepLog) Len() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.unfolded
}

// Holds reports whether the log holds an entry for device id, folded or
// not (an owner's).
func (l *StepLog) Holds(id string) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	_, ok := l.entries[id]
	return ok
}

// CacheLen returns how many devices the device cache holds (0 without
// one). Safe from any goroutine.
func (l *StepLog) CacheLen() int {
	if l.Cache == nil {
		return 0
	}
	return int(l.Cache.n.Load())
}

// Replay writes every step left in the log into step_fold and empties
// the log, in c (a write transaction). An owner calls it once
// before use: after a crash the log holds the steps accepted since the
// last sweep.
func (l *StepLog) Replay(ctx context.Context, c Conn) (int, error) {
	rows, err := c.Query(ctx, `SELECT device, step, drift FROM step_log ORDER BY seq`)
	if err != nil {
		return 0, fmt.Errorf("step log: %w", err)
	}
	latest := map[string]stepEntry{}
	for rows.Next() {
		var id string
		var step, drift int64
		if err := rows.Scan(&id, &step, &drift); err != nil {
			rows.Close()
			return 0, fmt.Errorf("step log: %w", err)
		}
		latest[id] = stepEntry{step: uint64(step), drift: drift}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("step log: %w", err)
	}
	ids := make([]string, 0, len(latest))
	for id := range latest {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		if err := foldStep(ctx, c, id, latest[id]); err != nil {
			return 0, err
		}
	}
	if _, err := c.Exec(ctx, `DELETE FROM step_log`); err != nil {
		return 0, fmt.Errorf("step log: %w", err)
	}
	return len(ids), nil
}

// foldRow writes e into device id's row, unless the row is already at or
// past its step.
func foldRow(ctx context.Context, c Conn, id string, e stepEntry) error {
	v := struct {
		id          string
		step, drift int64
	}{id, int64(e.step), e.drift}
	if _, err := c.Exec(ctx, `UPDATE devices SET last_step = $2, drift = $3, failures = 0, locked_until = 0
		WHERE id = $1 AND last_step < $2`, &v.id, &v.step, &v.drift); err != nil {
		return fmt.Errorf("step log: fold %s: %w", id, err)
	}
	return nil
}

// foldStep writes e into step_fold for device id, unless step_fold
// already holds a step at or past it: where a sweep puts what it takes
// out of the log.
func foldStep(ctx context.Context, c Conn, id string, e stepEntry) error {
	v := struct {
		id          string
		step, drift int64
	}{id, int64(e.step), e.drift}
	if _, err := c.Exec(ctx, `INSERT INTO step_fold (id, step, drift) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET step = excluded.step, drift = excluded.drift WHERE excluded.step > step_fold.step`,
		&v.id, &v.step, &v.drift); err != nil {
		return fmt.Errorf("step log: fold %s: %w", id, err)
	}
	return nil
}

// foldSwept writes device id's step in step_fold into its row, unless the
// row is already at or past it. The step_fold row stays: at or below the
// row's last_step from now on, it changes nothing a read sees.
func foldSwept(ctx context.Context, c Conn, id string) error {
	// Subqueries rather than UPDATE … FROM, which SQLite plans as a join
	// that costs three times as much here.
	if _, err := c.Exec(ctx, `UPDATE devices SET (last_step, drift, failures, locked_until) =
		(SELECT step, drift, 0, 0 FROM step_fold WHERE id = $1)
		WHERE id = $1 AND last_step < (SELECT step FROM step_fold WHERE id = $1)`, id); err != nil {
		return fmt.Errorf("step log: fold %s: %w", id, err)
	}
	return nil
}

// Begin returns the log's view for a transaction: write for one on the
// writer connection, whose changes count once Commit is called after the
// transaction committed.
func (l *StepLog) Begin(write bool) *StepTx {
	t := &StepTx{l: l, write: write}
	if write {
		t.seq, t.pos, t.trimmed = l.seq, l.pos, l.trimmed
	}
	return t
}

// StepTx is a transaction's view of a StepLog: the published entries,
// and those this transaction added, folded or removed.
type StepTx struct {
	l       *StepLog
	write   bool
	pending map[string]stepEntry
	// The device cache's, on the writer: rows read to cache at commit,
	// rows written (read again before the commit), whether the cache was
	// cleared.
	fills   map[string]verify.DeviceRecord
	dirty   map[string]struct{}
	cleared bool
	seq     int64
	pos     int
	trimmed int64
	swept   bool     // the sweep reached its end in this transaction
	rows    []logRow // appended, not yet inserted (flush)
}

// latest returns the newest entry for id: this transaction's, else the
// published one.
func (t *StepTx) latest(id string) (stepEntry, bool) {
	if e, ok := t.pending[id]; ok {
		return e, !e.gone
	}
	t.l.mu.RLock()
	e, ok := t.l.entries[id]
	t.l.mu.RUnlock()
	return e, ok
}

func (t *StepTx) set(id string, e stepEntry) {
	if t.pending == nil {
		t.pending = make(map[string]stepEntry, 32)
	}
	t.pending[id] = e
}

// logged returns the newest logged step of device id not yet in its row:
// for an owner from memory, for a peer from the table.
func (t *StepTx) logged(ctx context.Context, c Conn, id string) (stepEntry, bool, error) {
	if t.l.owner {
		// Folded or not: an entry at or below the row's step changes
		// nothing, and a folded one may be newer than a cached row.
		e, ok := t.latest(id)
		return e, ok, nil
	}
	var e stepEntry
	var step int64
	err := c.QueryRow(ctx, `SELECT step, drift FROM step_log WHERE device = $1 ORDER BY seq DESC LIMIT 1`, id).Scan(&step, &e.drift)
	if err != nil {
		if t.l.d.IsNoRows(err) {
			return e, false, nil
		}
		return e, false, fmt.Errorf("step log: %w", err)
	}
	e.step = uint64(step)
	return e, true, nil
}

// Patch gives d, as read from its row, the step its log entry holds, if
// that is newer.
func (t *StepTx) Patch(ctx context.Context, c Conn, d *verify.DeviceRecord) error {
	e, ok, err := t.logged(ctx, c, d.ID)
	if err != nil || !ok || e.step <= d.LastStep {
		return err
	}
	d.LastStep, d.Drift, d.Failures, d.LockedUntil = e.step, e.drift, 0, time.Time{}
	return nil
}

// Fold writes device id's newest step, in step_fold or in the log, into
// its row: before any other write to the row.
func (t *StepTx) Fold(ctx context.Context, c Conn, id string) error {
	t.Invalidate(id)
	if err := foldSwept(ctx, c, id); err != nil {
		return err
	}
	e, ok, err := t.logged(ctx, c, id)
	if err != nil || !ok || e.folded {
		return err
	}
	if err := foldRow(ctx, c, id, e); err != nil {
		return err
	}
	if t.l.owner {
		e.folded = true
		t.set(id, e)
	}
	return nil
}

// Forget removes device id's steps from step_fold and the log: before
// the device is deleted, so that a device created later with the same id
// gets none of them. An owner knows whether the log holds any (the entry
// stays in memory until its rows are trimmed); a peer looks.
func (t *StepTx) Forget(ctx context.Context, c Conn, id string) error {
	t.Invalidate(id)
	if _, err := c.Exec(ctx, `DELETE FROM step_fold WHERE id = $1`, id); err != nil {
		return fmt.Errorf("step log: %w", err)
	}
	if t.l.owner {
		t.rows = slices.DeleteFunc(t.rows, func(r logRow) bool { return r.id == id })
		_, ok := t.latest(id)
		if !ok && t.trimmed >= t.l.trimTo {
			return nil
		}
		t.set(id, stepEntry{gone: true})
	}
	if _, err := c.Exec(ctx, `DELETE FROM step_log WHERE device = $1`, id); err != nil {
		return fmt.Errorf("step log: %w", err)
	}
	return nil
}

// Advance is AdvanceStep through the log: the conditions checked against
// the row and its logged step, then a row appended, whose fold clears the
// failures and lock as AdvanceStep does. It reports handled false when the
// caller must update the row itself (after Advance folded it): on a peer,
// and once the owner has stopped appending.
func (t *StepTx) Advance(ctx context.Context, c Conn, a verify.StepUpdate) (won, handled bool, err error) {
	if !t.write {
		return false, true, fmt.Errorf("step log: advance in a read-only transaction")
	}
	if !t.l.Appending() {
		return false, false, t.Fold(ctx, c, a.ID)
	}
	var assigned, ok bool
	var last uint64
	var locked int64
	if t.cacheOn() {
		if _, dirty := t.dirty[a.ID]; !dirty {
			assigned, last, locked, ok = t.l.Cache.owner(a.ID, a.User)
		}
	}
	if !ok {
		v := new(struct {
			user, state  string
			last, locked int64
		})
		err = c.QueryRow(ctx, `SELECT user_name, state, last_step, locked_until FROM `+t.l.d.Devices+` WHERE id = $1`, a.ID).
			Scan(&v.user, &v.state, &v.last, &v.locked)
		if err != nil {
			if t.l.d.IsNoRows(err) {
				return false, true, nil
			}
			return false, true, err
		}
		assigned = v.user == a.User && v.state == string(verify.StateAssigned)
		last, locked = uint64(v.last), v.locked
	}
	if e, ok := t.latest(a.ID); ok && e.step > last {
		last, locked = e.step, 0
	}
	if !assigned || last >= a.Above || locked > t2i(a.Now) {
		return false, true, nil
	}
	t.seq++
	t.rows = append(t.rows, logRow{t.seq, a.ID, int64(a.Step), a.Drift})
	t.set(a.ID, stepEntry{step: a.Step, drift: a.Drift, seq: t.seq})
	return true, true, nil
}

// logRow is a step_log row Advance appended, inserted by flush.
type logRow struct {
	seq         int64
	id          string
	step, drift int64
}

// logRowsMax bounds the rows one INSERT of flush carries.
const logRowsMax = 64

var stepInsert = rowsInsert{head: `INSERT INTO step_log (seq, device, step, drift) VALUES `, cols: 4, max: logRowsMax}

// flush inserts the rows Advance appended in this transaction, logRowsMax
// to a statement: one statement for a group commit's checks rather than
// one each. Sweep calls it, which every write transaction of an owner
// runs before its commit.
func (t *StepTx) flush(ctx context.Context, c Conn) error {
	rows := t.rows
	t.rows = t.rows[:0]
	err := stepInsert.exec(ctx, c, len(rows), func(args []any, i int) []any {
		r := &rows[i]
		return append(args, &r.seq, &r.id, &r.step, &r.drift)
	})
	if err != nil {
		return fmt.Errorf("step log: %w", err)
	}
	return nil
}

// Sweep folds the next entries of the sweep in progress, starting one
// when enough are unfolded (or any, once appending has stopped), and
// deletes the next chunk of log rows the last sweep left folded. ops is
// how many operations the transaction holds.
func (t *StepTx) Sweep(ctx context.Context, c Conn, ops int) error {
	l := t.l
	if !l.owner || !t.write {
		return nil
	}
	if err := t.flush(ctx, c); err != nil {
		return err
	}
	if err := t.refresh(ctx, c); err != nil {
		return err
	}
	if l.peers != nil && !l.direct.Load() && time.Since(l.lastProbe) >= probeEvery {
		l.lastProbe = time.Now()
		if l.peers() {
			l.direct.Store(true)
		}
	}
	if !l.sweeping {
		l.mu.RLock()
		n := l.unfolded
		l.mu.RUnlock()
		// Appending, a sweep waits for enough entries to share pages;
		// once appending has stopped, it runs until the log is empty.
		if l.Appending() && n < l.SweepMin || n == 0 && l.trimTo >= l.seq {
			return t.trim(ctx, c)
		}
		l.startSweep()
		t.pos = 0
	}
	end := min(len(l.sweep), t.pos+l.SweepPer+2*ops)
	for ; t.pos < end; t.pos++ {
		id := l.sweep[t.pos]
		e, ok := t.latest(id)
		if !ok || e.folded {
			continue
		}
		if err := foldStep(ctx, c, id, e); err != nil {
			return err
		}
		e.folded = true
		t.set(id, e)
	}
	t.swept = t.pos >= len(l.sweep)
	return t.trim(ctx, c)
}

// startSweep takes the unfolded entries, in key order, as the next sweep.
func (l *StepLog) startSweep() {
	l.sweep = l.sweep[:0]
	l.mu.RLock()
	for id, e := range l.entries {
		if !e.folded {
			l.sweep = append(l.sweep, id)
		}
	}
	l.mu.RUnlock()
	slices.Sort(l.sweep)
	l.pos, l.sweepSeq, l.sweeping = 0, l.seq, true
}

func (t *StepTx) trim(ctx context.Context, c Conn) error {
	if t.trimmed >= t.l.trimTo {
		return nil
	}
	to := min(t.l.trimTo, t.trimmed+trimChunk)
	if _, err := c.Exec(ctx, `DELETE FROM step_log WHERE seq <= $1`, to); err != nil {
		return fmt.Errorf("step log: %w", err)
	}
	t.trimmed = to
	return nil
}

// Commit publishes what the transaction did to the log: call it once the
// transaction has committed. A transaction rolled back is simply dropped.
func (t *StepTx) Commit() {
	if !t.write {
		return
	}
	l := t.l
	l.seq, l.pos, l.trimmed = t.seq, t.pos, t.trimmed
	if t.cacheOn() {
		for _, d := range t.fills {
			l.Cache.put(&d)
		}
		for id, e := range t.pending {
			if e.folded {
				l.Cache.fold(id, e)
			}
		}
	}
	l.mu.Lock()
	for id, e := range t.pending {
		old, had := l.entries[id]
		if had && !old.folded {
			l.unfolded--
		}
		if e.gone {
			delete(l.entries, id)
			continue
		}
		l.entries[id] = e
		if !e.folded {
			l.unfolded++
		}
	}
	if t.swept && l.sweeping {
		// Every entry up to sweepSeq is now in its row, or superseded by a
		// newer one: their rows may go, and the folded entries with them.
		for id, e := range l.entries {
			if e.folded && e.seq <= l.sweepSeq {
				delete(l.entries, id)
			}
		}
		l.trimTo = max(l.trimTo, l.sweepSeq)
		l.sweep, l.sweeping = l.sweep[:0], false
	}
	l.mu.Unlock()
}
