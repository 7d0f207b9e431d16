package console_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/ctap"
	"github.com/tokenlab/tokenlab/ctap/ctaphid"
	"github.com/tokenlab/tokenlab/emulator"
	"github.com/tokenlab/tokenlab/provision"
	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/console"
	"github.com/tokenlab/tokenlab/verify/console/consoleclient"
	"github.com/tokenlab/tokenlab/verify/seal"
	"github.com/tokenlab/tokenlab/verify/sqlite"
)

// clock is a manual clock that follows real time unless frozen, so the
// sessions can be aged while TOTP codes stay current.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

type env struct {
	t     *testing.T
	ctx   context.Context
	svc   *verify.Service
	con   *console.Console
	srv   *httptest.Server
	url   string // http://localhost:PORT
	clock *clock // the console's clock (sessions)
	// totpNow is the verifier's clock: real time pinned to the middle of
	// the step current when the env was made. A test that runs longer than
	// one 30-s step (the browser test does) then never sees a step boundary
	// fall between computing a code and submitting it.
	totpNow time.Time
}

const password = "correct horse battery"

// newEnv starts a verifier on SQLite with the console on a free port of
// 127.0.0.1, reached as http://localhost:PORT, and users alice and root
// (an administrator).
func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "tokenlab.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return newEnvOn(t, st)
}

// newEnvOn is newEnv on the store st.
func newEnvOn(t *testing.T, st verify.Store) *env {
	t.Helper()
	dir := t.TempDir()
	sl, err := seal.LoadOrCreateKEK(filepath.Join(dir, "kek"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: verify.WithActor(context.Background(), verify.Actor{Name: "tester", Source: "test"}), clock: &clock{}}
	e.totpNow = time.Now().Truncate(30 * time.Second).Add(15 * time.Second)
	e.svc = verify.New(st, sl, verify.Config{Now: e.totp})
	e.con, err = console.New(e.svc, console.Config{Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/console/", e.con)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	u, _ := url.Parse(e.srv.URL)
	e.url = "http://localhost:" + u.Port()
	for _, n := range []string{"alice", "root"} {
		if _, err := e.svc.CreateUser(e.ctx, n, verify.UserOptions{Password: password, Admin: n == "root"}); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// key returns a simulated security key as a CTAP2 client; image, when
// not "", is its flash file.
func newKey(t *testing.T, image string) *ctap.Client {
	t.Helper()
	k, err := emulator.NewSecurityKey(emulator.SecurityKeyOptions{Image: image})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	d := ctaphid.NewDevice(k)
	t.Cleanup(func() { d.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ch, err := d.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return ctap.NewClient(ch)
}

// client signs user in with the password; it returns the client and
// whether MFA is due.
func (e *env) client(user string) (*consoleclient.Client, bool) {
	e.t.Helper()
	c, err := consoleclient.New(e.url)
	if err != nil {
		e.t.Fatal(err)
	}
	st, err := c.SignIn(e.ctx, user, password)
	if err != nil {
		e.t.Fatalf("sign in %s: %v", user, err)
	}
	return c, st.NeedMFA
}

// hardware imports n tokens and returns emulated fobs for them.
func (e *env) hardware(n int, prefix string) []*emulator.KeyFob {
	e.t.Helper()
	var fobs []*emulator.KeyFob
	var recs []verify.TokenRecord
	for i := 0; i < n; i++ {
		s, err := token.NewSerial(prefix, uint64(i+1))
		if err != nil {
			e.t.Fatal(err)
		}
		f, err := emulator.NewKeyFob(emulator.Options{Serial: s})
		if err != nil {
			e.t.Fatal(err)
		}
		seed, err := f.Seed()
		if err != nil {
			e.t.Fatal(err)
		}
		recs = append(recs, verify.TokenRecord{Serial: s, Spec: f.Spec(), Seed: seed})
		fobs = append(fobs, f)
	}
	if _, err := e.svc.ImportTokens(e.ctx, verify.TokenList(recs...)); err != nil {
		e.t.Fatal(err)
	}
	return fobs
}

// batch manufactures n key fobs as the production line does (a batch,
// its PSKC seed file encrypted with a pre-shared key), imports the file
// into the verifier's inventory and returns the fobs.
func (e *env) batch(n int, prefix string) []*emulator.KeyFob {
	e.t.Helper()
	b, err := provision.NewBatch(provision.BatchConfig{Model: token.KeyFob, Prefix: prefix, Start: 1, Count: n})
	if err != nil {
		e.t.Fatal(err)
	}
	psk := bytes.Repeat([]byte{0x5a}, 16)
	path := filepath.Join(e.t.TempDir(), "batch.pskc")
	f, err := os.Create(path)
	if err != nil {
		e.t.Fatal(err)
	}
	w, err := provision.NewWriter(f, provision.FormatPSKC, provision.WriteOptions{PreSharedKey: psk})
	if err != nil {
		e.t.Fatal(err)
	}
	var fobs []*emulator.KeyFob
	for i := 0; i < n; i++ {
		r, err := b.Next()
		if err != nil {
			e.t.Fatal(err)
		}
		if err := w.Write(r); err != nil {
			e.t.Fatal(err)
		}
		fob, err := emulator.NewKeyFob(emulator.Options{Serial: r.Serial, Seed: r.Seed, Spec: r.Spec})
		if err != nil {
			e.t.Fatal(err)
		}
		fobs = append(fobs, fob)
	}
	if err := w.Close(); err != nil {
		e.t.Fatal(err)
	}
	f.Close()
	rd, err := provision.Open(path, provision.ReadOptions{PreSharedKey: psk})
	if err != nil {
		e.t.Fatal(err)
	}
	defer rd.Close()
	res, err := e.svc.ImportTokens(e.ctx, func() (verify.TokenRecord, error) {
		r, err := rd.Next()
		return verify.TokenRecord{Serial: r.Serial, Spec: r.Spec, Seed: r.Seed}, err
	})
	if err != nil || res.Added != n {
		e.t.Fatalf("import: %+v, %v", res, err)
	}
	return fobs
}

// totp is the verifier's clock (see env.totpNow); emulated apps use it too.
func (e *env) totp() time.Time { return e.totpNow }

// codes returns two consecutive codes of a token, for the verifier's now
// and the next step.
func (e *env) codes(tok *emulator.Token) (string, string) {
	e.t.Helper()
	return e.codeAt(tok, 0), e.codeAt(tok, 1)
}

// codeAt returns a token's code k steps from the verifier's now.
func (e *env) codeAt(tok *emulator.Token, k int) string {
	e.t.Helper()
	key, err := tok.Key()
	if err != nil {
		e.t.Fatal(err)
	}
	defer key.Seed.Wipe()
	h := token.NewHOTPer(key.Spec.Algorithm, key.Spec.Digits, key.Seed)
	return string(h.Append(nil, uint64(int64(key.Spec.Step(e.totp()))+int64(k))))
}

// audited reports whether the audit log has an event matching action,
// outcome and reason.
func (e *env) audited(action, outcome, reason string) bool {
	e.t.Helper()
	evs, err := e.svc.Audit(e.ctx, verify.AuditFilter{Action: action, Limit: 1000})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Outcome == outcome && (reason == "" || ev.Reason == reason) {
			return true
		}
	}
	return false
}

// rawClient is a browser-less HTTP client with a cookie jar.
func rawClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second}
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	defer r.Body.Close()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustContain(t *testing.T, s, sub string) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Fatalf("want %q in:\n%s", sub, s)
	}
}
