package postgres_test

import (
	"context"
	"testing"

	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/postgres"
	"github.com/tokenlab/tokenlab/verify/storetest"
)

func open(t *testing.T, opts ...postgres.Option) verify.Store {
	st, err := postgres.Open(context.Background(), storetest.PostgresDSN(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) verify.Store { return open(t) })
}

func TestConformanceWithoutGroupCommit(t *testing.T) {
	storetest.Run(t, func(t *testing.T) verify.Store { return open(t, postgres.WithoutGroupCommit()) })
}

// Several processes starting at once migrate one schema exactly once.
func TestOpenConcurrently(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() {
			st, err := postgres.Open(context.Background(), dsn)
			if err == nil {
				st.Close()
			}
			errs <- err
		}()
	}
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
