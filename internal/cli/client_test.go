package cli

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/tokenlab/tokenlab/provision"
	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/httpapi"
)

// testServer runs the real verifier on a temporary SQLite data directory
// behind httptest, as tokenlab serve assembles it.
type testServer struct {
	url, token, dataDir string
	svc                 *verify.Service
}

func startTestServer(t *testing.T) *testServer {
	t.Helper()
	ts, stop, err := newTestServer(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	if fi, _ := os.Stat(filepath.Join(ts.dataDir, adminTokenFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("admin.token mode %v", fi.Mode().Perm())
	}
	// A second start keeps the token.
	if _, created, err := ensureAdminToken(context.Background(), ts.svc, ts.dataDir); err != nil || created {
		t.Fatalf("second start: created %v, %v", created, err)
	}
	return ts
}

// newTestServer starts the verifier on a data directory in dir.
func newTestServer(dir string) (*testServer, func(), error) {
	log := slog.New(slog.DiscardHandler)
	svc, closeStore, err := openService(context.Background(), storeConfig{dataDir: dir}, log)
	if err != nil {
		return nil, nil, err
	}
	path, created, err := ensureAdminToken(context.Background(), svc, dir)
	if err == nil && !created {
		err = errors.New("admin token not created on first start")
	}
	if err != nil {
		closeStore()
		return nil, nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		closeStore()
		return nil, nil, err
	}
	hs := httptest.NewServer(newMux(svc, log, nil))
	stop := func() { hs.Close(); closeStore() }
	return &testServer{url: hs.URL, token: strings.TrimSpace(string(b)), dataDir: dir, svc: svc}, stop, nil
}

type result struct {
	code           int
	stdout, stderr string
}

// run runs one tokenlab command line in-process against ts.
func (ts *testServer) run(t *testing.T, args ...string) result {
	t.Helper()
	env := Env{Getenv: func(k string) string {
		switch k {
		case "TOKENLAB_SERVER":
			return ts.url
		case "TOKENLAB_TOKEN":
			return ts.token
		}
		return ""
	}}
	code, stdout, stderr := runCLI(t, env, args...)
	return result{code, stdout, stderr}
}

func (ts *testServer) must(t *testing.T, want int, args ...string) result {
	t.Helper()
	r := ts.run(t, args...)
	if r.code != want {
		t.Fatalf("tokenlab %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, want, r.stdout, r.stderr)
	}
	return r
}

func codeAt(seed token.Seed, step uint64) string { return token.DefaultSpec.HOTP(seed, step) }

func TestClientCommands(t *testing.T) {
	ts := startTestServer(t)
	now := func() uint64 { return token.DefaultSpec.Step(time.Now()) }

	ts.must(t, 0, "user", "add", "alice", "--require-mfa")
	ts.must(t, 0, "user", "add", "bob", "--path", "/qa/")
	r := ts.must(t, 0, "user", "list", "--json")
	var users []verify.User
	if err := json.Unmarshal([]byte(r.stdout), &users); err != nil || len(users) != 2 {
		t.Fatalf("user list --json: %v %s", err, r.stdout)
	}
	ts.must(t, 1, "user", "add", "alice")   // exists: 409
	ts.must(t, 2, "user", "add", "a b")     // bad name: 400
	ts.must(t, 1, "user", "show", "nobody") // 404
	ts.must(t, 2, "user", "show")           // usage
	ts.must(t, 0, "user", "require-mfa", "alice", "--off")
	r = ts.must(t, 0, "user", "show", "alice", "--json")
	if !strings.Contains(r.stdout, `"require_mfa": false`) {
		t.Errorf("require-mfa --off did not stick: %s", r.stdout)
	}
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("correct horse\n"), 0o600)
	ts.must(t, 0, "user", "passwd", "alice", "--password-file", pw)

	// A virtual device: bootstrap, enable, check.
	qr := filepath.Join(t.TempDir(), "qr.png")
	r = ts.must(t, 0, "mfa", "create-virtual", "--name", "alice-phone", "--qr", qr, "--json", "--tag", "team=qa")
	var boot httpapi.VirtualBootstrap
	if err := json.Unmarshal([]byte(r.stdout), &boot); err != nil {
		t.Fatal(err)
	}
	if png, err := os.ReadFile(qr); err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("QR file: %v", err)
	}
	seed, err := token.ParseBase32Seed(boot.SeedBase32)
	if err != nil {
		t.Fatal(err)
	}
	arn := boot.Device.ID
	T := now()
	ts.must(t, 2, "mfa", "enable", "--user", "alice", "--serial", arn, "--code1", "12345", "--code2", "123456")
	ts.must(t, 1, "mfa", "enable", "--user", "alice", "--serial", arn, "--code1", codeAt(seed, T+7), "--code2", codeAt(seed, T+8))
	ts.must(t, 0, "mfa", "enable", "--user", "alice", "--serial", arn, "--code1", codeAt(seed, T-1), "--code2", codeAt(seed, T))
	r = ts.must(t, 1, "mfa", "check", "--user", "alice", "--serial", arn, "--code", codeAt(seed, T))
	if !strings.Contains(r.stderr, "replayed") {
		t.Errorf("replayed code: stderr %q", r.stderr)
	}
	r = ts.must(t, 0, "mfa", "check", "--user", "alice", "--serial", arn, "--code", codeAt(seed, T+1))
	if strings.TrimSpace(r.stdout) != "accepted" {
		t.Errorf("accepted check printed %q", r.stdout)
	}
	r = ts.must(t, 1, "mfa", "check", "--user", "alice", "--serial", arn, "--code", codeAt(seed, T+1), "--json")
	if !strings.Contains(r.stdout, `"reason": "replayed"`) {
		t.Errorf("check --json: %s", r.stdout)
	}
	wrong := "000000"
	if wrong == codeAt(seed, T) || wrong == codeAt(seed, T+1) || wrong == codeAt(seed, T+2) {
		wrong = "999999"
	}
	r = ts.must(t, 1, "mfa", "check", "--user", "alice", "--serial", arn, "--code", wrong)
	if !strings.Contains(r.stderr, "wrong") {
		t.Errorf("wrong code: stderr %q", r.stderr)
	}
	r = ts.must(t, 1, "mfa", "check", "--user", "bob", "--serial", arn, "--code", codeAt(seed, T+2))
	if !strings.Contains(r.stderr, "not-enabled") {
		t.Errorf("other user: stderr %q", r.stderr)
	}
	ts.must(t, 2, "mfa", "check", "--user", "alice", "--serial", arn, "--code", "1234567")
	ts.must(t, 2, "mfa", "check", "--user", "alice", "--serial", "arn:aws:iam::1:mfa/x", "--code", "123456")
	ts.must(t, 1, "mfa", "check", "--user", "alice", "--serial", "GAHT99999999", "--code", "123456")
	r = ts.must(t, 0, "mfa", "list", "--user", "alice", "--json")
	var devs []verify.Device
	if err := json.Unmarshal([]byte(r.stdout), &devs); err != nil || len(devs) != 1 || devs[0].ID != arn {
		t.Fatalf("mfa list: %v %s", err, r.stdout)
	}
	r = ts.must(t, 0, "mfa", "show", "--serial", arn, "--json")
	if !strings.Contains(r.stdout, `"team": "qa"`) || strings.Contains(r.stdout, boot.SeedBase32) {
		t.Errorf("mfa show: %s", r.stdout)
	}
	ts.must(t, 0, "mfa", "tag", "--serial", arn, "--untag", "team")
	ts.must(t, 1, "user", "rm", "alice") // still holds a device
	ts.must(t, 0, "mfa", "resync", "--user", "alice", "--serial", arn, "--code1", codeAt(seed, T+3), "--code2", codeAt(seed, T+4))
	ts.must(t, 0, "mfa", "unlock", "--serial", arn)
	ts.must(t, 0, "mfa", "deactivate", "--user", "alice", "--serial", arn)
	ts.must(t, 0, "mfa", "delete-virtual", "--serial", arn)

	// Hardware tokens: import a seed file, enable, lose.
	dir := t.TempDir()
	file := filepath.Join(dir, "batch.csv")
	hwSeed := token.Seed(bytes.Repeat([]byte{7}, 20))
	writeSeedFile(t, file, []provision.Record{
		{Serial: "GAHT00000017", Type: token.TOTP, Spec: token.DefaultSpec, Seed: hwSeed},
		{Serial: "GAHT00000025", Type: token.TOTP, Spec: token.DefaultSpec, Seed: hwSeed},
	})
	r = ts.must(t, 0, "provision", "import", file, "--json")
	if !strings.Contains(r.stdout, `"added": 2`) {
		t.Errorf("import: %s", r.stdout)
	}
	r = ts.must(t, 0, "provision", "import", file)
	if !strings.Contains(r.stdout, "2 already") {
		t.Errorf("second import: %s", r.stdout)
	}
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("serial,secret\nGAHT00000033,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\nGAHT00000041,notbase32!\n"), 0o600)
	r = ts.must(t, 2, "provision", "import", bad)
	if strings.Contains(r.stderr, "GEZDGNBV") {
		t.Errorf("a seed leaked into an error: %s", r.stderr)
	}
	r = ts.must(t, 0, "mfa", "list", "--inventory", "--json")
	if strings.Contains(r.stdout, "GAHT00000033") || !strings.Contains(r.stdout, "GAHT00000025") {
		t.Errorf("a bad file imported part of itself, or the good one is missing: %s", r.stdout)
	}
	ts.must(t, 2, "provision", "import", file, "--server", "http://192.0.2.1:8080")

	// An encrypted PSKC file: the right key imports, a wrong one nothing.
	psk := bytes.Repeat([]byte{0x42}, 16)
	pskcFile := filepath.Join(dir, "batch.pskc")
	writeSeedFileOpts(t, pskcFile, provision.FormatPSKC, provision.WriteOptions{PreSharedKey: psk}, []provision.Record{
		{Serial: "GAHT00000058", Type: token.TOTP, Spec: token.DefaultSpec, Seed: hwSeed},
	})
	keyFile, wrongKey := filepath.Join(dir, "psk.hex"), filepath.Join(dir, "wrong.hex")
	os.WriteFile(keyFile, []byte(hex.EncodeToString(psk)+"\n"), 0o600)
	os.WriteFile(wrongKey, []byte(strings.Repeat("ab", 16)+"\n"), 0o600)
	ts.must(t, 2, "provision", "import", pskcFile)
	ts.must(t, 2, "provision", "import", pskcFile, "--psk-file", wrongKey)
	if r := ts.must(t, 0, "mfa", "list", "--inventory", "--json"); strings.Contains(r.stdout, "GAHT00000058") {
		t.Fatal("a PSKC file read with the wrong key imported something")
	}
	r = ts.must(t, 0, "provision", "import", pskcFile, "--psk-file", keyFile)
	if !strings.Contains(r.stdout, "imported 1 ") {
		t.Errorf("PSKC import: %s", r.stdout)
	}
	ts.must(t, 0, "mfa", "enable", "--user", "bob", "--serial", "GAHT00000017", "--code1", codeAt(hwSeed, T-1), "--code2", codeAt(hwSeed, T))
	r = ts.must(t, 0, "mfa", "lost", "--serial", "GAHT00000017", "--json")
	if !strings.Contains(r.stdout, `"bob"`) {
		t.Errorf("lost: %s", r.stdout)
	}
	r = ts.must(t, 1, "mfa", "check", "--user", "bob", "--serial", "GAHT00000017", "--code", codeAt(hwSeed, T+1))
	if !strings.Contains(r.stderr, "lost") && !strings.Contains(r.stderr, "not-enabled") {
		t.Errorf("lost device check: %s", r.stderr)
	}

	// Audit.
	r = ts.must(t, 0, "audit", "--user", "alice", "--json")
	var evs []verify.AuditEvent
	if err := json.Unmarshal([]byte(r.stdout), &evs); err != nil || len(evs) == 0 {
		t.Fatalf("audit: %v %s", err, r.stdout)
	}
	for _, e := range evs {
		if e.User != "alice" {
			t.Errorf("audit --user alice returned %+v", e)
		}
	}
	r = ts.must(t, 0, "audit", "--device", arn, "--since", "1h")
	if !strings.Contains(r.stdout, "check") || strings.Contains(r.stdout, codeAt(seed, T+1)) {
		t.Errorf("audit table: %s", r.stdout)
	}

	// Authentication.
	ts.token = "tlk_wrong"
	r = ts.must(t, 1, "user", "list")
	if !strings.Contains(r.stderr, "hint:") {
		t.Errorf("bad token: %s", r.stderr)
	}
}

func writeSeedFile(t *testing.T, path string, recs []provision.Record) {
	t.Helper()
	writeSeedFileOpts(t, path, provision.FormatCSV, provision.WriteOptions{}, recs)
}

func writeSeedFileOpts(t *testing.T, path string, f0 provision.Format, opts provision.WriteOptions, recs []provision.Record) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := provision.NewWriter(f, f0, opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestRotateKEK(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	svc, closeStore, err := openService(ctx, storeConfig{dataDir: dir}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	svc.CreateUser(ctx, "alice", verify.UserOptions{})
	vd, err := svc.CreateVirtual(ctx, "alice-phone", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	T := token.DefaultSpec.Step(time.Now())
	if err := svc.Enable(ctx, "alice", vd.ID, codeAt(vd.Seed, T-1), codeAt(vd.Seed, T)); err != nil {
		t.Fatal(err)
	}
	closeStore()
	old, _ := os.ReadFile(filepath.Join(dir, kekFile))

	// Refused while a server holds the data directory.
	release, err := lockDataDir(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if code, _, errs := runCLI(t, Env{}, "admin", "rotate-kek", "--data-dir", dir); code != 1 || !strings.Contains(errs, "running") {
		t.Fatalf("rotate under a server: %d %s", code, errs)
	}
	release()
	code, out, errs := runCLI(t, Env{}, "admin", "rotate-kek", "--data-dir", dir, "--json")
	if code != 0 {
		t.Fatalf("rotate-kek: %d %s", code, errs)
	}
	var res rotateResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || res.Resealed < 1 || len(res.Keys) != 1 {
		t.Fatalf("rotate-kek result %s: %v", out, err)
	}
	now, _ := os.ReadFile(filepath.Join(dir, kekFile))
	if bytes.Equal(old, now) {
		t.Fatal("KEK file unchanged")
	}
	// The seed still opens under the new key: a fresh code is accepted.
	svc, closeStore, err = openService(ctx, storeConfig{dataDir: dir}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer closeStore()
	d, err := svc.Check(ctx, "alice", vd.ID, codeAt(vd.Seed, T+1))
	if err != nil || !d.Accepted {
		t.Fatalf("check after rotation: %+v %v", d, err)
	}
}

// TestServeScripts runs testdata/serve_*.txtar: each script gets its own
// verifier on a fresh SQLite data directory, reached through
// TOKENLAB_SERVER and TOKENLAB_TOKEN, and a "code FILE OFFSET VAR" command
// that sets VAR to the TOTP code, OFFSET steps from now, of the seed a
// "mfa create-virtual" printed into FILE.
func TestServeScripts(t *testing.T) {
	setup := func(e *testscript.Env) error {
		ts, stop, err := newTestServer(filepath.Join(e.WorkDir, "tokenlab-data"))
		if err != nil {
			return err
		}
		e.Defer(stop)
		e.Setenv("TOKENLAB_SERVER", ts.url)
		e.Setenv("TOKENLAB_TOKEN", ts.token)
		return nil
	}
	runScripts(t, "testdata/serve_*.txtar", setup, map[string]scriptCmd{
		"code": func(ts *testscript.TestScript, neg bool, args []string) {
			if len(args) != 3 || neg {
				ts.Fatalf("usage: code FILE OFFSET VAR")
			}
			var seed token.Seed
			for _, line := range strings.Split(ts.ReadFile(args[0]), "\n") {
				if b32, ok := strings.CutPrefix(line, "seed:"); ok {
					s, err := token.ParseBase32Seed(strings.TrimSpace(b32))
					ts.Check(err)
					seed = s
				}
			}
			if seed == nil {
				ts.Fatalf("no seed line in %s", args[0])
			}
			off, err := strconv.Atoi(args[1])
			ts.Check(err)
			step := int64(token.DefaultSpec.Step(time.Now())) + int64(off)
			ts.Setenv(args[2], token.DefaultSpec.HOTP(seed, uint64(step)))
		},
	})
}
