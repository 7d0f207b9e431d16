package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenlab/tokenlab/verify"
)

// fido enroll and fido login run the console's WebAuthn ceremonies with
// the simulated key over UDP against the verifier tokenlab serve assembles.
func TestFidoEnrollLogin(t *testing.T) {
	ts := startTestServer(t)
	ctx := verify.WithActor(context.Background(), verify.Actor{Name: "test", Source: "test"})
	const pw = "s3cret-passw0rd"
	if _, err := ts.svc.CreateUser(ctx, "alice", verify.UserOptions{Password: pw}); err != nil {
		t.Fatal(err)
	}
	addr := simUDP(t)
	common := []string{"--server", ts.url, "--user", "alice", "--udp", addr, "--udp-local", "127.0.0.1:0"}
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte(pw+"\n"), 0o600)

	code, out, errs := runFido(t, pw+"\n", append([]string{"enroll", "--name", "qa-key", "--json"}, common...)...)
	if code != 0 {
		t.Fatalf("enroll: exit %d\n%s%s", code, out, errs)
	}
	var o consoleOut
	if err := json.Unmarshal([]byte(out), &o); err != nil {
		t.Fatalf("enroll --json: %v: %s", err, out)
	}
	if !strings.Contains(o.Device, ":u2f/user/alice/qa-key-") || !strings.HasPrefix(o.Origin, "http://localhost:") {
		t.Fatalf("enroll: %+v", o)
	}

	code, out, errs = runFido(t, "", append([]string{"login", "--password-file", pwFile}, common...)...)
	if code != 0 || !strings.Contains(out, "signed in: alice "+o.Device) {
		t.Fatalf("login: exit %d\n%s%s", code, out, errs)
	}

	// The same key again: the second factor is the key, then the key
	// refuses a second credential for the same user.
	code, _, errs = runFido(t, pw+"\n", append([]string{"enroll", "--name", "again"}, common...)...)
	if code != 1 || !strings.Contains(errs, "already registered") {
		t.Fatalf("enroll twice: exit %d\n%s", code, errs)
	}

	code, _, errs = runFido(t, "wrong password\n", append([]string{"login"}, common...)...)
	if code != 1 || !strings.Contains(errs, "Incorrect user name or password") {
		t.Fatalf("wrong password: exit %d\n%s", code, errs)
	}

	code, _, errs = runFido(t, "", "login", "--server", ts.url, "--udp", addr)
	if code != 2 || !strings.Contains(errs, "--user is required") {
		t.Fatalf("no --user: exit %d\n%s", code, errs)
	}
}

// A key with a PIN: enroll and login send pinUvAuthParam from --pin (user
// verified); a wrong PIN fails with the PIN hint.
func TestFidoEnrollWithPIN(t *testing.T) {
	ts := startTestServer(t)
	ctx := verify.WithActor(context.Background(), verify.Actor{Name: "test", Source: "test"})
	const pw = "s3cret-passw0rd"
	if _, err := ts.svc.CreateUser(ctx, "bob", verify.UserOptions{Password: pw}); err != nil {
		t.Fatal(err)
	}
	addr := simUDP(t)
	dev := []string{"--udp", addr, "--udp-local", "127.0.0.1:0"}
	if code, out, errs := runFido(t, "", append([]string{"pin", "set", "--new-pin", "246810"}, dev...)...); code != 0 {
		t.Fatalf("pin set: %d %s%s", code, out, errs)
	}
	common := append([]string{"--server", ts.url, "--user", "bob"}, dev...)
	code, out, errs := runFido(t, pw+"\n", append([]string{"enroll", "--pin", "246810", "--name", "pin-key"}, common...)...)
	if code != 0 || !strings.Contains(out, ":u2f/user/bob/pin-key-") {
		t.Fatalf("enroll --pin: exit %d\n%s%s", code, out, errs)
	}
	code, out, errs = runFido(t, pw+"\n", append([]string{"login", "--pin", "246810"}, common...)...)
	if code != 0 || !strings.Contains(out, "signed in: bob") {
		t.Fatalf("login --pin: exit %d\n%s%s", code, out, errs)
	}
	code, _, errs = runFido(t, pw+"\n", append([]string{"login", "--pin", "999999"}, common...)...)
	if code != 1 || !strings.Contains(errs, "wrong PIN") {
		t.Fatalf("login with a wrong PIN: exit %d\n%s", code, errs)
	}
}
