package verify_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/firmware-sim/hw"
	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/postgres"
	"github.com/tokenlab/tokenlab/verify/seal"
	"github.com/tokenlab/tokenlab/verify/sqlite"
	"github.com/tokenlab/tokenlab/verify/storetest"
)

// A store factory: every rule test runs against each.
type factory struct {
	name string
	open func(t *testing.T) (verify.Store, string) // store and where its data lives
}

var factories = []factory{
	{"sqlite", func(t *testing.T) (verify.Store, string) {
		p := filepath.Join(t.TempDir(), "tokenlab.db")
		st, err := sqlite.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st, p
	}},
	// The step log swept into the devices table in every batch: every
	// fold and trim path runs all the time.
	{"sqlite-sweep", func(t *testing.T) (verify.Store, string) {
		p := filepath.Join(t.TempDir(), "tokenlab.db")
		st, err := sqlite.Open(p, sqlite.WithSweep(1, 1))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st, p
	}},
	{"postgres", func(t *testing.T) (verify.Store, string) {
		dsn := storetest.PostgresDSN(t)
		st, err := postgres.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st, dsn
	}},
}

// forEachStore runs f as a subtest per store.
func forEachStore(t *testing.T, f func(t *testing.T, e *env)) {
	for _, fac := range factories {
		t.Run(fac.name, func(t *testing.T) {
			f(t, newEnv(t, fac))
		})
	}
}

// t0 is ten seconds into a step, so ±few-second jitter stays in it.
var t0 = time.Date(2026, 11, 29, 12, 0, 10, 0, time.UTC)

type env struct {
	t       *testing.T
	ctx     context.Context
	store   verify.Store
	where   string // SQLite path or PostgreSQL DSN
	sealer  *seal.Sealer
	kekPath string
	svc     *verify.Service
	clock   *hw.ManualTime
	logs    *syncBuffer
	seeds   []token.Seed // every seed handed out, for the leak checks
	codes   []string     // every code computed, for the leak checks
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) Bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.b.Bytes()...)
}

func newEnv(t *testing.T, fac factory) *env {
	t.Helper()
	st, where := fac.open(t)
	kek := filepath.Join(t.TempDir(), "kek")
	sl, err := seal.LoadOrCreateKEK(kek)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: verify.WithActor(context.Background(), verify.Actor{Name: "tester", Source: "test"}),
		store: st, where: where, sealer: sl, kekPath: kek, clock: hw.NewManualTime(t0), logs: &syncBuffer{}}
	e.svc = verify.New(st, sl, verify.Config{
		Now:    e.clock.Now,
		Logger: slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	return e
}

func (e *env) user(name string) {
	e.t.Helper()
	if _, err := e.svc.CreateUser(e.ctx, name, verify.UserOptions{}); err != nil {
		e.t.Fatal(err)
	}
}

// hardware imports n fresh hardware tokens and returns their serials and seeds.
func (e *env) hardware(n int) ([]string, []token.Seed) {
	e.t.Helper()
	var recs []verify.TokenRecord
	for i := 0; i < n; i++ {
		s, err := token.NewSerial("GAHT", uint64(len(e.seeds)+1))
		if err != nil {
			e.t.Fatal(err)
		}
		seed, _ := token.GenerateSeed(rand.Reader, token.SHA1)
		e.seeds = append(e.seeds, seed)
		recs = append(recs, verify.TokenRecord{Serial: s, Spec: token.DefaultSpec, Seed: seed})
	}
	e.importRecords(recs)
	ids := make([]string, n)
	seeds := make([]token.Seed, n)
	for i, r := range recs {
		ids[i], seeds[i] = string(r.Serial), r.Seed
	}
	return ids, seeds
}

func (e *env) importRecords(recs []verify.TokenRecord) verify.ImportResult {
	e.t.Helper()
	res, err := e.svc.ImportTokens(e.ctx, verify.TokenList(recs...))
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

func (e *env) virtual(name string) verify.VirtualDevice {
	e.t.Helper()
	v, err := e.svc.CreateVirtual(e.ctx, name, "", nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.seeds = append(e.seeds, v.Seed)
	return v
}

// code returns seed's code at offset steps from now.
func (e *env) code(seed token.Seed, steps int) string {
	c := token.DefaultSpec.TOTP(seed, e.clock.Now().Add(time.Duration(steps)*30*time.Second))
	e.codes = append(e.codes, c)
	return c
}

// enable enables device for user with the previous and the current code.
func (e *env) enable(user, device string, seed token.Seed) {
	e.t.Helper()
	if err := e.svc.Enable(e.ctx, user, device, e.code(seed, -1), e.code(seed, 0)); err != nil {
		e.t.Fatalf("Enable(%s, %s): %v", user, device, err)
	}
}

func (e *env) check(user, device, code string) verify.Decision {
	e.t.Helper()
	d, err := e.svc.Check(e.ctx, user, device, code)
	if err != nil {
		e.t.Fatalf("Check: %v", err)
	}
	return d
}

func wantErr(t *testing.T, err error, code verify.ErrorCode, reason verify.Reason) {
	t.Helper()
	if err == nil || verify.CodeOf(err) != code || verify.ReasonOf(err) != reason {
		t.Fatalf("err = %v (code %q reason %q), want code %q reason %q", err, verify.CodeOf(err), verify.ReasonOf(err), code, reason)
	}
}

func wantDecision(t *testing.T, d verify.Decision, accepted bool, reason verify.Reason) {
	t.Helper()
	if d.Accepted != accepted || d.Reason != reason {
		t.Fatalf("decision = %+v, want accepted=%v reason=%q", d, accepted, reason)
	}
}

func describe(d verify.Device) string {
	return fmt.Sprintf("%s %s user=%q drift=%d last=%d failures=%d", d.ID, d.State, d.User, d.Drift, d.LastStep, d.Failures)
}
