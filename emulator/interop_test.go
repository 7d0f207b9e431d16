package emulator

import (
	"context"
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/firmware-sim/fidofw"
	"github.com/tokenlab/tokenlab/internal/testtool"
)

// TestPythonFido2Interop drives the key over UDP with Yubico's
// python-fido2: get_info, make_credential (packed attestation verified and
// chained to the manufacturer CA), get_assertion (signatures verified),
// CTAP1/U2F, Fido2Server registration and authentication, hmac-secret
// through Fido2Client, client PIN
// set/change/token with both protocols, credential management, reset.
func TestPythonFido2Interop(t *testing.T) {
	py := testtool.NeedPython(t, "fido2", "python3-fido2")
	k := newKey(t, SecurityKeyOptions{})
	srv := startUDP(t, k)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	root := hex.EncodeToString(k.Authenticator().RootCertificate().Raw)
	out, err := pyCommand(ctx, py, "testdata/fido2_interop.py", srv.Addr().String(), root).CombinedOutput()
	t.Logf("python-fido2:\n%s", out)
	if err != nil {
		t.Fatalf("python-fido2 interop: %v", err)
	}
	for _, step := range []string{"get_info", "make_credential", "get_assertion", "exclude_list", "u2f",
		"server_register", "server_authenticate", "hmac_secret", "client_pin", "credential_management", "reset"} {
		if !strings.Contains(string(out), "PASS "+step+"\n") {
			t.Errorf("step %s did not pass", step)
		}
	}
	if !strings.Contains(string(out), "ALL OK") {
		t.Error("script did not finish")
	}
}

// TestPythonFido2Keepalive: python-fido2 sees KEEPALIVE UPNEEDED while the
// user takes time to touch the key, and its cancel event (CTAPHID_CANCEL)
// ends a request with CTAP2_ERR_KEEPALIVE_CANCEL.
func TestPythonFido2Keepalive(t *testing.T) {
	py := testtool.NeedPython(t, "fido2", "python3-fido2")
	k := newKey(t, SecurityKeyOptions{})
	calls := 0
	k.SetPresence(fidofw.PresenceFunc(func(ctx context.Context, _ fidofw.PresenceRequest) error {
		calls++
		wait := 300 * time.Millisecond // slow touch: approved after keepalives
		if calls > 1 {
			wait = time.Minute // the second one is cancelled by the host
		}
		select {
		case <-time.After(wait):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}))
	srv := startUDP(t, k)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := pyCommand(ctx, py, "testdata/fido2_keepalive.py", srv.Addr().String()).CombinedOutput()
	t.Logf("python-fido2:\n%s", out)
	if err != nil {
		t.Fatalf("python-fido2 keepalive: %v", err)
	}
	for _, step := range []string{"keepalive_upneeded", "cancel"} {
		if !strings.Contains(string(out), "PASS "+step+"\n") {
			t.Errorf("step %s did not pass", step)
		}
	}
}

// pyCommand runs a test script without leaving __pycache__ in testdata.
func pyCommand(ctx context.Context, py string, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, py, args...)
	c.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	return c
}
