package iamapi_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/seal"
	"github.com/tokenlab/tokenlab/verify/sqlite"
)

// newVerifier returns the verifier the tests run against, on clock now:
// the real service over SQLite in a temporary directory.
func newVerifier(t testing.TB, now func() time.Time) verify.Verifier {
	t.Helper()
	return newVerifierConfig(t, verify.Config{Now: now})
}

// newVerifierConfig is newVerifier with more of the configuration.
func newVerifierConfig(t testing.TB, cfg verify.Config) verify.Verifier {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sl, err := seal.LoadOrCreateKEK(filepath.Join(dir, "kek"))
	if err != nil {
		t.Fatal(err)
	}
	return verify.New(st, sl, cfg)
}
