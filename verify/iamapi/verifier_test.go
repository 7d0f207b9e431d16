package iamapi_test

import (
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/verify"
)

// newVerifier returns the verifier the tests run against, on clock now.
func newVerifier(t testing.TB, now func() time.Time) verify.Verifier {
	return newFake(now)
}
