package sqltx

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tokenlab/tokenlab/verify"
)

// BatchTx is a transaction the Batcher can commit.
type BatchTx interface {
	Conn
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
}

// Batcher is group commit: a single writer goroutine takes the pending
// operations from a channel (yielding the processor a few times while
// more keep arriving, see maxYields), runs them one after another in one
// transaction, commits once, and then answers every caller. Operations are
// applied in the order they arrived, so two that race for the same device
// and step see each other's conditional update: exactly one wins. An
// operation whose function fails leaves no trace: the batch is rolled back
// and the others run again without it (errors are rare on the hot path,
// so this is cheaper than a savepoint per operation). The audit events the
// operations append are written together, in one multi-row INSERT per
// batch, just before the commit.
//
// With a sync function (NewBatcher's durable), a commit is not yet
// durable by itself: the writer hands each committed batch to a second
// goroutine, which makes every batch committed so far durable with one
// call of durable and only then answers their callers. The writer
// meanwhile runs the next batch, so the fsync is no longer inside the
// write lock. When a batch reaches the second goroutine while the writer
// has more operations in hand, it waits for that next commit (up to
// syncWait) and makes both durable with one call: each fsync costs the
// processor about as much as a batch's statements, so under load this
// halves the fsyncs for little added wait. Once durable has failed,
// nothing is known about what reached the disk: that batch and every
// later one fail.
type Batcher struct {
	begin   func(context.Context) (BatchTx, error)
	dialect *Dialect
	max     int
	ops     chan *op
	stop    chan struct{}
	done    sync.WaitGroup

	durable  func() error
	synced   chan []*op // committed batches waiting for durable
	broken   atomic.Pointer[error]
	busy     atomic.Bool   // the writer has operations in hand or queued
	syncWait time.Duration // how long the syncer waits for a busy writer

	mu     sync.RWMutex // held for reading while enqueueing
	closed bool

	audit []*verify.AuditEvent // the writer's: events of the batch being run

	// Counts for Stats.
	commits, committed, syncs, syncNs atomic.Int64
}

// Stats returns the group commits made so far, the operations they held,
// and the calls of durable with the time spent in them.
func (b *Batcher) Stats() verify.StoreStats {
	return verify.StoreStats{
		Commits:    b.commits.Load(),
		Operations: b.committed.Load(),
		Syncs:      b.syncs.Load(),
		SyncTime:   time.Duration(b.syncNs.Load()),
	}
}

type op struct {
	ctx   context.Context
	fn    func(verify.Tx) error
	reply chan error
}

// NewBatcher starts the writer goroutine. max bounds a batch (0: 256).
// durable, if not nil, makes the transactions committed so far durable
// (an fsync); callers are answered only after it returns.
func NewBatcher(begin func(context.Context) (BatchTx, error), d *Dialect, max int, durable func() error) *Batcher {
	return newBatcher(begin, d, max, durable, syncWait)
}

func newBatcher(begin func(context.Context) (BatchTx, error), d *Dialect, max int, durable func() error, syncWait time.Duration) *Batcher {
	if max <= 0 {
		max = 256
	}
	b := &Batcher{begin: begin, dialect: d, max: max, ops: make(chan *op, max), stop: make(chan struct{}), durable: durable, syncWait: syncWait}
	if durable != nil {
		b.synced = make(chan []*op, syncQueue)
		b.done.Add(1)
		go b.syncLoop()
	}
	b.done.Add(1)
	go b.loop()
	return b
}

// syncQueue bounds the committed batches waiting for durable; a full queue
// holds the writer back.
const syncQueue = 64

// syncWait bounds how long a committed batch waits for the writer's next
// one before its fsync. A batch takes well under a millisecond; a
// checkpoint inside a commit can take longer, and then the first batch
// goes ahead alone.
const syncWait = time.Millisecond

// opPool recycles Do's operations with their reply channels. An operation
// goes back only after Do has taken its reply: the writer answers each
// queued operation exactly once (try, alone, syncLoop), so no late reply
// can reach a channel in use again. One never queued goes back at once.
var opPool = sync.Pool{New: func() any { return &op{reply: make(chan error, 1)} }}

// Do runs fn in the next batch and returns once that batch is committed
// (or failed). Once queued, Do waits for the outcome even if ctx ends, so a
// caller never mistakes a committed decision for a failed one.
func (b *Batcher) Do(ctx context.Context, fn func(verify.Tx) error) error {
	o := opPool.Get().(*op)
	o.ctx, o.fn = ctx, fn
	done := func() {
		o.ctx, o.fn = nil, nil
		opPool.Put(o)
	}
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		done()
		return ErrClosed
	}
	select {
	case b.ops <- o:
		b.mu.RUnlock()
	case <-ctx.Done():
		b.mu.RUnlock()
		done()
		return ctx.Err()
	}
	err := <-o.reply
	done()
	return err
}

// Close stops the writer once the operations already queued are done;
// later calls of Do return ErrClosed.
func (b *Batcher) Close() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		close(b.stop)
	}
	b.mu.Unlock()
	b.done.Wait()
}

// maxYields bounds how often the writer yields (runtime.Gosched) before
// running a batch, to let the goroutines that are about to queue an
// operation do so: it yields again only while the last yield brought
// more. Under load this makes batches larger, and so fewer commits and
// fsyncs for the same work; with nothing else runnable a yield returns at
// once, so a lone caller is not delayed.
const maxYields = 4

func (b *Batcher) loop() {
	defer b.done.Done()
	if b.synced != nil {
		defer close(b.synced)
	}
	batch := make([]*op, 0, b.max)
	for {
		batch = batch[:0]
		if len(b.ops) == 0 {
			b.busy.Store(false)
		}
		select {
		case o := <-b.ops:
			b.busy.Store(true)
			batch = append(batch, o)
		case <-b.stop:
			// Nothing can be queued any more: finish what is.
			for {
				select {
				case o := <-b.ops:
					batch = append(batch, o)
				default:
					if len(batch) > 0 {
						b.run(batch)
					}
					return
				}
			}
		}
		for yields, had := 0, -1; ; yields++ {
		drain:
			for len(batch) < b.max {
				select {
				case o := <-b.ops:
					batch = append(batch, o)
				default:
					break drain
				}
			}
			if len(batch) == had || yields == maxYields || len(batch) >= b.max {
				break
			}
			had = len(batch)
			runtime.Gosched()
		}
		b.run(batch)
	}
}

func (b *Batcher) run(batch []*op) {
	ctx := context.Background()
	for len(batch) > 0 {
		batch = b.try(ctx, batch)
	}
}

// try runs the live operations of batch in one transaction, without
// savepoints. If they all succeed it commits and answers them all. If one
// fails, the transaction is rolled back, that one is answered with its
// error, and the rest are returned to be tried again (so fn may run more
// than once; only its last run counts). If the transaction itself fails
// (begin, commit, a deadlock with another process), each operation gets
// one transaction of its own.
func (b *Batcher) try(ctx context.Context, batch []*op) (again []*op) {
	live := batch[:0:0]
	for _, o := range batch {
		if err := o.ctx.Err(); err != nil {
			o.reply <- err
			continue
		}
		live = append(live, o)
	}
	if len(live) == 0 {
		return nil
	}
	if errp := b.broken.Load(); errp != nil {
		for _, o := range live {
			o.reply <- *errp
		}
		return nil
	}
	tx, err := b.begin(ctx)
	if err != nil {
		return b.alone(live, err)
	}
	b.audit = b.audit[:0]
	x := &Tx{C: tx, D: b.dialect, audit: &b.audit}
	if st, ok := tx.(interface{ Steps() *StepTx }); ok {
		x.S = st.Steps()
	}
	for i, o := range live {
		if err := o.fn(x); err != nil {
			tx.Rollback(ctx)
			o.reply <- err
			return append(live[:i:i], live[i+1:]...)
		}
	}
	if x.S != nil {
		if err := x.S.Sweep(ctx, x.C, len(live)); err != nil {
			tx.Rollback(ctx)
			return b.alone(live, err)
		}
	}
	if err := x.flushAudit(ctx); err != nil {
		tx.Rollback(ctx)
		return b.alone(live, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return b.alone(live, err)
	}
	b.commits.Add(1)
	b.committed.Add(int64(len(live)))
	if b.synced != nil {
		// Tell the syncer whether another commit is on its way before
		// handing this one over.
		b.busy.Store(len(b.ops) > 0)
		b.synced <- live
		return nil
	}
	for _, o := range live {
		o.reply <- nil
	}
	return nil
}

// syncLoop makes committed batches durable, all those waiting with one
// call of durable, and answers their callers. It ends when the writer has
// ended and every batch it handed over is answered.
func (b *Batcher) syncLoop() {
	defer b.done.Done()
	var waiting []*op
	wait := time.NewTimer(b.syncWait)
	wait.Stop()
	for live := range b.synced {
		waiting = append(waiting[:0], live...)
	more:
		for {
			select {
			case live, ok := <-b.synced:
				if !ok {
					break more
				}
				waiting = append(waiting, live...)
			default:
				break more
			}
		}
		if b.busy.Load() {
			// The writer is running (or about to run) another batch:
			// one fsync for both.
			wait.Reset(b.syncWait)
			select {
			case live, ok := <-b.synced:
				if ok {
					waiting = append(waiting, live...)
				}
			case <-wait.C:
			}
			wait.Stop()
		}
		var err error
		if errp := b.broken.Load(); errp != nil {
			err = *errp
		} else {
			start := time.Now()
			err = b.durable()
			b.syncs.Add(1)
			b.syncNs.Add(int64(time.Since(start)))
			if err != nil {
				err = fmt.Errorf("sqltx: making committed transactions durable: %w (later writes fail too)", err)
				b.broken.CompareAndSwap(nil, &err)
			}
		}
		for _, o := range waiting {
			o.reply <- err
		}
		clear(waiting)
	}
}

// alone answers a single operation with err, or splits a failed batch into
// batches of one.
func (b *Batcher) alone(live []*op, err error) []*op {
	if len(live) == 1 {
		live[0].reply <- err
		return nil
	}
	for _, o := range live {
		b.run([]*op{o})
	}
	return nil
}
