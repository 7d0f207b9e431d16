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

// A batch committed while the writer has another in hand waits for that
// one, and a single call of durable answers both; a batch with nothing
// behind it does not wait.
func TestBatcherSyncCoalesces(t *testing.T) {
	var mu sync.Mutex
	commits, syncs := 0, 0
	// syncWait is a minute: the test must not depend on timing.
	b := newBatcher(func(context.Context) (BatchTx, error) {
		return fakeTx{commits: &commits, mu: &mu}, nil
	}, &Dialect{}, 0, func() error {
		mu.Lock()
		syncs++
		mu.Unlock()
		return nil
	}, time.Minute)
	defer b.Close()
	count := func() (int, int) {
		mu.Lock()
		defer mu.Unlock()
		return commits, syncs
	}

	running, release := make(chan struct{}), make(chan struct{})
	res := make(chan error, 2)
	go func() {
		res <- b.Do(context.Background(), func(verify.Tx) error {
			// Hold the first batch open until the second operation is
			// queued behind it.
			close(running)
			<-release
			return nil
		})
	}()
	<-running
	go func() { res <- b.Do(context.Background(), func(verify.Tx) error { return nil }) }()
	for len(b.ops) == 0 {
		time.Sleep(time.Millisecond)
	}
	close(release)
	for range 2 {
		if err := <-res; err != nil {
			t.Fatal(err)
		}
	}
	if c, s := count(); c != 2 || s != 1 {
		t.Fatalf("two batches, one behind the other: %d commits, %d calls of durable; want 2 and 1", c, s)
	}

	// Alone, a batch is made durable at once, though syncWait is a
	// minute: the writer has nothing queued when it hands the batch over.
	for i := range 20 {
		done := make(chan error, 1)
		go func() { done <- b.Do(context.Background(), func(verify.Tx) error { return nil }) }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("round %d: a lone batch waited for a writer with nothing to do", i)
		}
	}
	if c, s := count(); c != 22 || s != 21 {
		t.Fatalf("then 20 alone: %d commits, %d calls of durable; want 22 and 21", c, s)
	}
}

// Stats counts the commits the transactions made, the operations that
// succeeded in them (not a failed one, nor a rerun), and the calls of
// durable with their time.
func TestBatcherStats(t *testing.T) {
	var mu sync.Mutex
	commits := 0
	b := NewBatcher(func(context.Context) (BatchTx, error) {
		return fakeTx{commits: &commits, mu: &mu}, nil
	}, &Dialect{}, 0, func() error { time.Sleep(time.Millisecond); return nil })
	defer b.Close()
	boom := errors.New("boom")
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.Do(context.Background(), func(verify.Tx) error {
				if i%4 == 0 {
					return boom
				}
				return nil
			})
		}()
	}
	wg.Wait()
	st := b.Stats()
	mu.Lock()
	made := commits
	mu.Unlock()
	if st.Operations != 30 || st.Commits != int64(made) || st.Commits < 1 {
		t.Errorf("stats: %d operations in %d commits, want 30 in the %d the transactions made", st.Operations, st.Commits, made)
	}
	if st.Syncs < 1 || st.Syncs > st.Commits || st.SyncTime < time.Duration(st.Syncs)*time.Millisecond {
		t.Errorf("stats: %d syncs taking %v for %d commits, want 1 to %d, each at least 1ms", st.Syncs, st.SyncTime, st.Commits, st.Commits)
	}
}
