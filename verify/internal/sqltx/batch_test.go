package sqltx

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/verify"
)

// fakeTx records commits; it runs no SQL.
type fakeTx struct {
	Conn
	commits *int
	mu      *sync.Mutex
}

func (f fakeTx) Commit(context.Context) error {
	f.mu.Lock()
	*f.commits++
	f.mu.Unlock()
	return nil
}
func (f fakeTx) Rollback(context.Context) error { return nil }

// Close answers every operation queued before it, and Do after Close
// returns ErrClosed rather than waiting forever.
func TestBatcherClose(t *testing.T) {
	var mu sync.Mutex
	commits := 0
	b := NewBatcher(func(context.Context) (BatchTx, error) {
		return fakeTx{commits: &commits, mu: &mu}, nil
	}, &Dialect{}, 4, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- b.Do(context.Background(), func(verify.Tx) error { return nil })
		}()
	}
	b.Close()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil && !errors.Is(err, ErrClosed) {
			t.Fatal(err)
		}
	}
	if err := b.Do(context.Background(), func(verify.Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Do after Close = %v", err)
	}
}

// A failing operation leaves the others in the batch committed, each once.
func TestBatcherFailureReruns(t *testing.T) {
	var mu sync.Mutex
	commits := 0
	b := NewBatcher(func(context.Context) (BatchTx, error) {
		return fakeTx{commits: &commits, mu: &mu}, nil
	}, &Dialect{}, 0, nil)
	defer b.Close()
	boom := errors.New("boom")
	var wg sync.WaitGroup
	var runs [20]int
	var rmu sync.Mutex
	res := make([]error, 20)
	for i := range res {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res[i] = b.Do(context.Background(), func(verify.Tx) error {
				rmu.Lock()
				runs[i]++
				rmu.Unlock()
				if i%5 == 0 {
					return boom
				}
				return nil
			})
		}()
	}
	wg.Wait()
	for i, err := range res {
		if (i%5 == 0) != errors.Is(err, boom) || (i%5 != 0 && err != nil) {
			t.Errorf("op %d: %v", i, err)
		}
		if runs[i] < 1 {
			t.Errorf("op %d never ran", i)
		}
	}
}

// With a durable function, callers hear of their commit only once a call
// of it has returned; a failed call fails its batches and every later one.
func TestBatcherDurable(t *testing.T) {
	var mu sync.Mutex
	commits := 0
	gate := make(chan error)
	b := NewBatcher(func(context.Context) (BatchTx, error) {
		return fakeTx{commits: &commits, mu: &mu}, nil
	}, &Dialect{}, 0, func() error { return <-gate })
	defer b.Close()
	res := make(chan error, 10)
	for range 10 {
		go func() { res <- b.Do(context.Background(), func(verify.Tx) error { return nil }) }()
	}
	select {
	case err := <-res:
		t.Fatalf("Do returned (%v) before durable", err)
	case <-time.After(50 * time.Millisecond):
	}
	for answered := 0; answered < 10; {
		select {
		case gate <- nil:
		case err := <-res:
			if err != nil {
				t.Fatal(err)
			}
			answered++
		}
	}
	boom := errors.New("disk gone")
	go func() { res <- b.Do(context.Background(), func(verify.Tx) error { return nil }) }()
	gate <- boom
	if err := <-res; !errors.Is(err, boom) {
		t.Fatalf("Do after a failed durable = %v", err)
	}
	if err := b.Do(context.Background(), func(verify.Tx) error { return nil }); !errors.Is(err, boom) {
		t.Fatalf("Do after that = %v", err)
	}
}
