package sqltx

import (
	"context"
	"fmt"
	"sync"

	"github.com/tokenlab/tokenlab/verify"
)

// BatchTx is a transaction the Batcher can commit.
type BatchTx interface {
	Conn
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
}

// Batcher is group commit: a single writer goroutine takes the pending
// operations from a channel, runs each inside its own savepoint of one
// transaction, commits once, and then answers every caller. Operations are
// applied one after another in the order they arrived, so two that race for
// the same device and step see each other's conditional update: exactly one
// wins. An operation whose function fails is rolled back to its savepoint
// alone; a failed commit fails every operation of the batch.
type Batcher struct {
	begin    func(context.Context) (BatchTx, error)
	dialect  *Dialect
	max      int
	ops      chan *op
	stop     chan struct{}
	done     sync.WaitGroup
	closeOne sync.Once
}

type op struct {
	ctx   context.Context
	fn    func(verify.Tx) error
	err   error
	reply chan error
}

// NewBatcher starts the writer goroutine. max bounds a batch (0: 256).
func NewBatcher(begin func(context.Context) (BatchTx, error), d *Dialect, max int) *Batcher {
	if max <= 0 {
		max = 256
	}
	b := &Batcher{begin: begin, dialect: d, max: max, ops: make(chan *op, max), stop: make(chan struct{})}
	b.done.Add(1)
	go b.loop()
	return b
}

// Do runs fn in the next batch and returns once that batch is committed
// (or failed). Once queued, Do waits for the outcome even if ctx ends, so a
// caller never mistakes a committed decision for a failed one.
func (b *Batcher) Do(ctx context.Context, fn func(verify.Tx) error) error {
	o := &op{ctx: ctx, fn: fn, reply: make(chan error, 1)}
	select {
	case b.ops <- o:
	case <-ctx.Done():
		return ctx.Err()
	case <-b.stop:
		return ErrClosed
	}
	return <-o.reply
}

// Close stops the writer after the batches already queued.
func (b *Batcher) Close() {
	b.closeOne.Do(func() { close(b.stop) })
	b.done.Wait()
}

func (b *Batcher) loop() {
	defer b.done.Done()
	batch := make([]*op, 0, b.max)
	for {
		batch = batch[:0]
		select {
		case o := <-b.ops:
			batch = append(batch, o)
		case <-b.stop:
			// Answer whatever is still queued.
			for {
				select {
				case o := <-b.ops:
					o.reply <- ErrClosed
				default:
					return
				}
			}
		}
	drain:
		for len(batch) < b.max {
			select {
			case o := <-b.ops:
				batch = append(batch, o)
			default:
				break drain
			}
		}
		b.run(batch)
	}
}

func (b *Batcher) run(batch []*op) {
	ctx := context.Background()
	fail := func(err error) {
		if len(batch) > 1 {
			// The batch as a whole failed (a commit error, a deadlock with
			// another process): nothing of it is committed, so give each
			// operation one try of its own.
			for _, o := range batch {
				b.run([]*op{o})
			}
			return
		}
		for _, o := range batch {
			o.reply <- err
		}
	}
	tx, err := b.begin(ctx)
	if err != nil {
		fail(err)
		return
	}
	x := &Tx{C: tx, D: b.dialect}
	for _, o := range batch {
		if err := o.ctx.Err(); err != nil {
			o.err = err
			continue
		}
		if len(batch) == 1 {
			o.err = o.fn(x)
			if o.err != nil {
				tx.Rollback(ctx)
				o.reply <- o.err
				return
			}
			continue
		}
		if _, err := tx.Exec(ctx, `SAVEPOINT op`); err != nil {
			tx.Rollback(ctx)
			fail(fmt.Errorf("savepoint: %w", err))
			return
		}
		if o.err = o.fn(x); o.err != nil {
			if _, err := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT op`); err != nil {
				tx.Rollback(ctx)
				fail(fmt.Errorf("rollback to savepoint: %w", err))
				return
			}
		}
		if _, err := tx.Exec(ctx, `RELEASE SAVEPOINT op`); err != nil {
			tx.Rollback(ctx)
			fail(fmt.Errorf("release savepoint: %w", err))
			return
		}
	}
	if err := tx.Commit(ctx); err != nil {
		fail(err)
		return
	}
	for _, o := range batch {
		o.reply <- o.err
	}
}
