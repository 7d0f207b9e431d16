package sqlite_test

import (
	"os"
	"path/filepath"
	"testing"

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
		if v, err := st.SchemaVersion(t.Context()); v != 2 || err != nil {
			t.Errorf("SchemaVersion = %d, %v", v, err)
		}
		st.Close()
	}
}
