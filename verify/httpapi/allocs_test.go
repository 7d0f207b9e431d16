// Allocation counts differ under the race detector.

//go:build !race

package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/firmware-sim/hw"
	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/httpapi"
	"github.com/tokenlab/tokenlab/verify/seal"
	"github.com/tokenlab/tokenlab/verify/sqlite"
)

// checkRig is the whole check path in process: the API over the real
// verifier on SQLite, with one enabled hardware token.
type checkRig struct {
	api    http.Handler
	tok    string
	clock  *hw.ManualTime
	user   string
	device string
	h      *token.HOTPer
	next   uint64 // the next step to send a code for
}

// readsFirst is a SQLite store that does not read in the batch: the
// verifier reads user and device before it, as on PostgreSQL.
type readsFirst struct{ *sqlite.Store }

func (readsFirst) ReadsInBatch() bool { return false }

// newCheckRig sets up the rig; readFirst takes the store through
// readsFirst.
func newCheckRig(t *testing.T, readFirst bool) *checkRig {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	sst, err := sqlite.Open(filepath.Join(dir, "tokenlab.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sst.Close() })
	var st verify.Store = sst
	if readFirst {
		st = readsFirst{sst}
	}
	sealer, err := seal.LoadOrCreateKEK(filepath.Join(dir, "kek"))
	if err != nil {
		t.Fatal(err)
	}
	// Ten seconds into a step.
	clk := hw.NewManualTime(time.Date(2026, 11, 29, 12, 0, 10, 0, time.UTC))
	// Never locked, so that every wrong code is a failure recorded.
	svc := verify.New(st, sealer, verify.Config{Now: clk.Now, LockAfter: 1 << 30})
	tok, err := svc.CreateAPIToken(ctx, "admin")
	if err != nil {
		t.Fatal(err)
	}
	serial, err := token.NewSerial("GAHT", 1)
	if err != nil {
		t.Fatal(err)
	}
	seed, err := token.GenerateSeed(rand.Reader, token.SHA1)
	if err != nil {
		t.Fatal(err)
	}
	spec := token.DefaultSpec
	if _, err := svc.ImportTokens(ctx, verify.TokenList(verify.TokenRecord{Serial: serial, Spec: spec, Seed: seed})); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateUser(ctx, "alice", verify.UserOptions{}); err != nil {
		t.Fatal(err)
	}
	cur := spec.Step(clk.Now())
	if err := svc.Enable(ctx, "alice", string(serial), spec.HOTP(seed, cur-1), spec.HOTP(seed, cur)); err != nil {
		t.Fatal(err)
	}
	return &checkRig{
		// The API's token cache keeps real time: a step per check would
		// expire it every time.
		api: httpapi.New(svc, httpapi.Config{}), tok: tok, clock: clk,
		user: "alice", device: string(serial),
		h: token.NewHOTPer(spec.Algorithm, spec.Digits, seed), next: cur + 1,
	}
}

// checks prepares n check requests and their recorders, outside the
// measurement. Each request carries the code of the step after the one
// before, so with the clock moved one step per check every one is accepted
// (a real compare-and-set); wrong sends a wrong code instead.
func (r *checkRig) checks(n int, wrong bool) ([]*http.Request, []*httptest.ResponseRecorder) {
	reqs := make([]*http.Request, n)
	recs := make([]*httptest.ResponseRecorder, n)
	for i := range reqs {
		code := string(r.h.Append(nil, r.next))
		r.next++
		if wrong {
			code = string(r.h.Append(nil, r.next+100))
		}
		body := `{"user":"` + r.user + `","device":"` + r.device + `","code":"` + code + `"}`
		req := httptest.NewRequest("POST", "/api/v1/mfa/check", bytes.NewReader([]byte(body)))
		req.Header.Set("Authorization", "Bearer "+r.tok)
		reqs[i], recs[i] = req, httptest.NewRecorder()
	}
	return reqs, recs
}

// allocsPerCheck measures the heap allocations of one check through
// Server.ServeHTTP down to the store and back, averaged over runs.
func allocsPerCheck(t *testing.T, readFirst, wrong bool) float64 {
	t.Helper()
	const runs = 200
	r := newCheckRig(t, readFirst)
	reqs, recs := r.checks(runs+1, wrong) // AllocsPerRun runs f once more to warm up
	want := `{"accepted":true,"step":`
	if wrong {
		want = `{"accepted":false,"reason":"wrong"`
	}
	i := 0
	n := testing.AllocsPerRun(runs, func() {
		if !wrong {
			r.clock.Advance(30 * time.Second)
		}
		r.api.ServeHTTP(recs[i], reqs[i])
		i++
	})
	for j, rec := range recs[:i] {
		if rec.Code != http.StatusOK || !bytes.HasPrefix(rec.Body.Bytes(), []byte(want)) {
			t.Fatalf("check %d: %d %s, want 200 %s…", j, rec.Code, rec.Body, want)
		}
	}
	return n
}

// TestCheckAllocs counts the allocations of a check end to end (JSON API,
// verifier, SQLite store), accepted and wrong, with user and device read
// in the group commit (SQLite) or before it (as on PostgreSQL). The
// figures include the SQLite driver's and net/http's own; -v prints them.
func TestCheckAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("allocation counts: not in -short")
	}
	for _, tc := range []struct {
		name             string
		readFirst, wrong bool
	}{
		{"accepted", false, false},
		{"wrong", false, true},
		{"accepted, read first", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Logf("%.0f allocs/check", allocsPerCheck(t, tc.readFirst, tc.wrong))
		})
	}
}

// TestCheckAllocsAPI counts what the API adds to a check (routing, the
// token cache, the actor, strict decoding, validation, metrics, the
// answer) over a verifier that accepts at once, in-process. The ceiling is
// the count measured when it was written, 25 (27 before the body lost its
// second reader and WithActor made one allocation), plus one. The figure
// includes httptest.ResponseRecorder's own.
func TestCheckAllocsAPI(t *testing.T) {
	const ceiling = 26
	const runs = 200
	api := httpapi.New(accepting{newFake()}, httpapi.Config{})
	body := []byte(`{"user":"alice","device":"arn:aws:iam::123456789012:mfa/alice-phone","code":"123456"}`)
	reqs := make([]*http.Request, runs+1)
	recs := make([]*httptest.ResponseRecorder, runs+1)
	for i := range reqs {
		reqs[i] = httptest.NewRequest("POST", "/api/v1/mfa/check", bytes.NewReader(body))
		reqs[i].Header.Set("Authorization", "Bearer "+fakeToken)
		recs[i] = httptest.NewRecorder()
	}
	i := 0
	n := testing.AllocsPerRun(runs, func() {
		api.ServeHTTP(recs[i], reqs[i])
		i++
	})
	for j, rec := range recs {
		if rec.Code != http.StatusOK {
			t.Fatalf("check %d: %d %s", j, rec.Code, rec.Body)
		}
	}
	t.Logf("%.0f allocs/check", n)
	if n > ceiling {
		t.Errorf("%.0f allocations per check in the API, over the ceiling of %d", n, ceiling)
	}
}
