package httpapi_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/provision"
	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/client"
	"github.com/tokenlab/tokenlab/verify/httpapi"
	"github.com/tokenlab/tokenlab/verify/seal"
	"github.com/tokenlab/tokenlab/verify/sqlite"
)

// newReal returns a client of the API over the real verifier on a
// temporary SQLite database, and the API server (for its metrics).
func newReal(t *testing.T) (*client.Client, *httpapi.Server, string) {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "tokenlab.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	sealer, err := seal.LoadOrCreateKEK(filepath.Join(dir, "kek"))
	if err != nil {
		t.Fatal(err)
	}
	svc := verify.New(st, sealer, verify.Config{})
	tok, err := svc.CreateAPIToken(context.Background(), "admin")
	if err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(svc, httpapi.Config{})
	hs := httptest.NewServer(api)
	t.Cleanup(hs.Close)
	c, err := client.New(hs.URL, tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, api, tok
}

// realHandler returns the API over the real verifier on a temporary SQLite
// database, for fuzzing.
func realHandler(tb testing.TB) (http.Handler, *httpapi.Server, string) {
	dir := tb.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "tokenlab.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	sealer, err := seal.LoadOrCreateKEK(filepath.Join(dir, "kek"))
	if err != nil {
		tb.Fatal(err)
	}
	svc := verify.New(st, sealer, verify.Config{})
	tok, err := svc.CreateAPIToken(context.Background(), "admin")
	if err != nil {
		tb.Fatal(err)
	}
	api := httpapi.New(svc, httpapi.Config{})
	return api, api, tok
}

// wantStatus checks that err is a server answer with status and code.
func wantStatus(t *testing.T, what string, err error, status int, code verify.ErrorCode) {
	t.Helper()
	var ce *client.Error
	if !errors.As(err, &ce) {
		t.Fatalf("%s: error %v, want status %d", what, err, status)
	}
	if ce.Status != status || ce.Err.Code != code || ce.Err.Message == "" {
		t.Fatalf("%s: %d %s %q, want %d %s", what, ce.Status, ce.Err.Code, ce.Err.Message, status, code)
	}
}

func TestRealVerifier(t *testing.T) {
	ctx := context.Background()
	c, api, tok := newReal(t)
	step := func() uint64 { return token.DefaultSpec.Step(time.Now()) }
	code := func(s token.Seed, n uint64) string { return token.DefaultSpec.HOTP(s, n) }

	if _, err := c.CreateUser(ctx, httpapi.CreateUserRequest{Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	_, err := c.CreateUser(ctx, httpapi.CreateUserRequest{Name: "alice"})
	wantStatus(t, "duplicate user", err, 409, verify.ECONFLICT)
	_, err = c.GetUser(ctx, "nobody")
	wantStatus(t, "unknown user", err, 404, verify.ENOTFOUND)

	// Eight devices, then the ninth is refused.
	T := step()
	var seeds []token.Seed
	var arns []string
	for i := range 9 {
		b, err := c.CreateVirtual(ctx, httpapi.CreateVirtualRequest{Name: fmt.Sprintf("alice-%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		s, err := token.ParseBase32Seed(b.SeedBase32)
		if err != nil {
			t.Fatal(err)
		}
		seeds, arns = append(seeds, s), append(arns, b.Device.ID)
		err = c.Enable(ctx, "alice", b.Device.ID, code(s, T-1), code(s, T))
		if i < 8 && err != nil {
			t.Fatalf("enable %d: %v", i, err)
		}
		if i == 8 {
			wantStatus(t, "ninth device", err, 409, verify.ELIMIT)
		}
	}
	_, err = c.CreateVirtual(ctx, httpapi.CreateVirtualRequest{Name: "alice-0"})
	wantStatus(t, "duplicate device", err, 409, verify.ECONFLICT)
	if _, err := c.CreateUser(ctx, httpapi.CreateUserRequest{Name: "bob"}); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, "enable wrong codes", c.Enable(ctx, "bob", arns[8], "000000", "000000"), 403, verify.ECODE)
	wantStatus(t, "delete assigned", c.DeleteVirtual(ctx, arns[0]), 409, verify.ECONFLICT)
	wantStatus(t, "delete user with devices", c.DeleteUser(ctx, "alice"), 409, verify.ECONFLICT)
	_, err = c.Check(ctx, "alice", "GAHT99999999", "123456")
	wantStatus(t, "unknown serial", err, 404, verify.ENOTFOUND)
	_, err = c.Check(ctx, "nobody", arns[0], "123456")
	wantStatus(t, "unknown user check", err, 404, verify.ENOTFOUND)

	// Accepted once, then replayed.
	d, err := c.Check(ctx, "alice", arns[0], code(seeds[0], T+1))
	if err != nil || !d.Accepted {
		t.Fatalf("check: %+v %v", d, err)
	}
	d, err = c.Check(ctx, "alice", arns[0], code(seeds[0], T+1))
	if err != nil || d.Accepted || d.Reason != verify.ReasonReplayed {
		t.Fatalf("replay: %+v %v", d, err)
	}
	// Wrong codes lock the device: checks say "locked", resync answers 429.
	wrong := "000000"
	for i := 0; i < 10; i++ {
		d, err = c.Check(ctx, "alice", arns[1], wrong)
		if err != nil {
			t.Fatalf("wrong check: %v", err)
		}
		if d.Reason == verify.ReasonLocked {
			break
		}
	}
	if d.Reason != verify.ReasonLocked {
		t.Fatalf("never locked: %+v", d)
	}
	wantStatus(t, "resync locked", c.Resync(ctx, "alice", arns[1], code(seeds[1], T+2), code(seeds[1], T+3)), 429, verify.ELOCKED)
	if err := c.Unlock(ctx, arns[1]); err != nil {
		t.Fatal(err)
	}
	if err := c.Resync(ctx, "alice", arns[1], code(seeds[1], T+2), code(seeds[1], T+3)); err != nil {
		t.Fatalf("resync after unlock: %v", err)
	}

	// Lost: detached from alice.
	lost, err := c.MarkLost(ctx, arns[2])
	if err != nil || len(lost.DetachedFrom) != 1 || lost.DetachedFrom[0] != "alice" {
		t.Fatalf("lost: %+v %v", lost, err)
	}
	l, err := c.ListUserDevices(ctx, "alice", verify.Page{})
	if err != nil || len(l.Devices) != 7 {
		t.Fatalf("devices after lost: %d %v", len(l.Devices), err)
	}
	if err := c.TagDevice(ctx, arns[3], map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	dev, err := c.GetDevice(ctx, arns[3])
	if err != nil || dev.Tags["k"] != "v" {
		t.Fatalf("tags: %+v %v", dev, err)
	}
	evs, err := c.Audit(ctx, verify.AuditFilter{Device: arns[0], Limit: 50})
	if err != nil || len(evs) < 3 {
		t.Fatalf("audit: %d %v", len(evs), err)
	}
	for _, e := range evs {
		if e.Actor != "admin" || e.Source != "api" {
			t.Errorf("audit actor %q source %q", e.Actor, e.Source)
		}
	}

	// Bad tokens.
	bad, _ := client.New(c.BaseURL(), "tlk_nope", nil)
	_, err = bad.ListUsers(ctx, "", verify.Page{})
	wantStatus(t, "wrong token", err, 401, verify.EUNAUTHORIZED)
	none, _ := client.New(c.BaseURL(), "", nil)
	_, err = none.ListUsers(ctx, "", verify.Page{})
	wantStatus(t, "no token", err, 401, verify.EUNAUTHORIZED)

	// Inventory import: a bad line imports nothing.
	good := verify.TokenRecord{Serial: "GAHT00000017", Spec: token.DefaultSpec, Seed: seeds[0]}
	res, err := c.ImportTokens(ctx, []verify.TokenRecord{good})
	if err != nil || res.Added != 1 {
		t.Fatalf("import: %+v %v", res, err)
	}
	inv, err := c.ListInventory(ctx, verify.StateAvailable, verify.Page{})
	if err != nil || len(inv.Devices) != 1 {
		t.Fatalf("inventory: %+v %v", inv, err)
	}
	// A seed file as the body: plain PSKC imports, encrypted PSKC is refused.
	for _, tc := range []struct {
		name   string
		opts   provision.WriteOptions
		serial token.Serial
		status int
	}{
		{"plain", provision.WriteOptions{}, "GAHT00000025", 200},
		{"encrypted", provision.WriteOptions{PreSharedKey: make([]byte, 16)}, "GAHT00000033", 400},
	} {
		var buf bytes.Buffer
		w, err := provision.NewWriter(&buf, provision.FormatPSKC, tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(provision.Record{Serial: tc.serial, Type: token.TOTP, Spec: token.DefaultSpec, Seed: seeds[1]})
		w.Close()
		req, _ := http.NewRequest("POST", c.BaseURL()+"/api/v1/inventory", &buf)
		req.Header.Set("Content-Type", "application/pskc+xml")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Fatalf("%s PSKC import: %d %s", tc.name, resp.StatusCode, body)
		}
	}
	inv, err = c.ListInventory(ctx, "", verify.Page{})
	if err != nil || len(inv.Devices) != 2 {
		t.Fatalf("inventory after PSKC imports: %+v %v", inv, err)
	}

	if api.Metrics().Panics() != 0 {
		t.Fatal("panics recovered")
	}
	resp, err := http.Get(c.BaseURL() + "/api/v1/users")
	if err != nil || resp.StatusCode != 401 {
		t.Fatalf("raw GET without token: %v %v", resp.Status, err)
	}
	resp.Body.Close()
}
