package console_test

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/console"
	"github.com/tokenlab/tokenlab/verify/console/consoleclient"
)

// A key registered through the console's JSON ceremony is then the second
// factor of the next sign-in, and is a FIDO device of the verifier.
func TestEnrollThenLogin(t *testing.T) {
	e := newEnv(t)
	key := newKey(t, "")
	c, mfa := e.client("alice")
	if mfa {
		t.Fatal("alice has no device yet, but MFA was asked for")
	}
	if c.Origin() != e.url {
		t.Fatalf("origin %q, want %q (127.0.0.1 redirects to localhost)", c.Origin(), e.url)
	}
	arn, err := c.Enroll(e.ctx, key, "my-key")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(arn, "arn:aws:iam::") || !strings.Contains(arn, ":u2f/user/alice/my-key-") {
		t.Fatalf("device %q is not a u2f ARN", arn)
	}
	devs, _, err := e.svc.ListDevices(e.ctx, "alice", verify.Page{})
	if err != nil || len(devs) != 1 || devs[0].ID != arn || devs[0].Kind != verify.KindFIDO {
		t.Fatalf("devices %+v, %v: want the FIDO device", devs, err)
	}
	creds, err := e.svc.FIDOCredentials(e.ctx, "alice")
	if err != nil || len(creds) != 1 || len(creds[0].AAGUID) != 16 || creds[0].Format == "" || len(creds[0].PublicKey) == 0 {
		t.Fatalf("credential %+v, %v", creds, err)
	}
	c.SignOut(e.ctx)

	c2, mfa := e.client("alice")
	if !mfa {
		t.Fatal("alice has a key: MFA is due")
	}
	used, err := c2.Login(e.ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if used != arn {
		t.Fatalf("signed in with %q, want %q", used, arn)
	}
	if !e.audited("console-signin", "ok", "") || !e.audited("fido-login", "ok", "") {
		t.Fatal("sign-in with the key not audited")
	}
	// The API refuses to enable it with codes: console-only.
	err = e.svc.Enable(e.ctx, "alice", arn, "123456", "654321")
	if verify.CodeOf(err) != verify.EINVALID || !strings.Contains(err.Error(), "console") {
		t.Fatalf("Enable of a FIDO device: %v, want a console-only refusal", err)
	}
}

// Forged and replayed WebAuthn responses are refused with a clear message
// and audited with the reason.
func TestForgedResponses(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	img := filepath.Join(dir, "key.img")
	key := newKey(t, img)
	c, _ := e.client("alice")
	if _, err := c.Enroll(e.ctx, key, "k1"); err != nil {
		t.Fatal(err)
	}
	c.SignOut(e.ctx)

	flip := func(s string, i int) string {
		b, _ := base64.RawURLEncoding.DecodeString(s)
		b[i%len(b)] ^= 0x01
		return base64.RawURLEncoding.EncodeToString(b)
	}
	tests := []struct {
		name   string
		tamper func(t *testing.T, c *consoleclient.Client, r *consoleclient.AssertionResponse) *consoleclient.AssertionResponse
		reason string
	}{
		{"wrong challenge (replayed response)", func(t *testing.T, c *consoleclient.Client, r *consoleclient.AssertionResponse) *consoleclient.AssertionResponse {
			// An answer to an earlier challenge of the same session.
			ca, err := c.BeginLogin(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			_ = ca
			return r
		}, "wrong-challenge"},
		{"wrong origin", nil, "wrong-origin"},
		{"wrong RP ID hash", func(t *testing.T, c *consoleclient.Client, r *consoleclient.AssertionResponse) *consoleclient.AssertionResponse {
			r.Response.AuthenticatorData = flip(r.Response.AuthenticatorData, 0)
			return r
		}, "wrong-rp-id"},
		{"bad signature", func(t *testing.T, c *consoleclient.Client, r *consoleclient.AssertionResponse) *consoleclient.AssertionResponse {
			r.Response.Signature = flip(r.Response.Signature, 20)
			return r
		}, "bad-signature"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, mfa := e.client("alice")
			if !mfa {
				t.Fatal("no MFA step")
			}
			ca, err := c.BeginLogin(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			origin := c.Origin()
			if tc.reason == "wrong-origin" {
				origin = "http://evil.localhost:1"
			}
			r, err := c.GetAssertion(e.ctx, key, ca, origin)
			if err != nil {
				t.Fatal(err)
			}
			if tc.tamper != nil {
				r = tc.tamper(t, c, r)
			}
			_, err = c.FinishLogin(e.ctx, r)
			var ce *consoleclient.Error
			if !errors.As(err, &ce) || ce.Reason != tc.reason {
				t.Fatalf("got %v, want a refusal for %s", err, tc.reason)
			}
			t.Logf("refused: %s", ce.Message)
			if !e.audited("fido-login", "refused", tc.reason) {
				t.Fatalf("refusal %s not audited", tc.reason)
			}
			// The challenge is spent: the same response again is refused too.
			if _, err := c.FinishLogin(e.ctx, r); err == nil {
				t.Fatal("a response was accepted after its ceremony ended")
			}
		})
	}

	t.Run("counter rollback (cloned key)", func(t *testing.T) {
		// A copy of the key's flash is a clone with the same credential.
		b, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		cloneImg := filepath.Join(dir, "clone.img")
		if err := os.WriteFile(cloneImg, b, 0o600); err != nil {
			t.Fatal(err)
		}
		clone := newKey(t, cloneImg)
		// The clone starts at the counter the original reserved ahead in
		// flash, so it is the original that now goes backwards.
		c, _ := e.client("alice")
		if _, err := c.Login(e.ctx, clone); err != nil {
			t.Fatalf("clone's first use: %v", err)
		}
		c, _ = e.client("alice")
		_, err = c.Login(e.ctx, key)
		var ce *consoleclient.Error
		if !errors.As(err, &ce) || ce.Reason != string(console.ReasonCounter) {
			t.Fatalf("got %v, want a counter-rollback refusal", err)
		}
		t.Logf("refused: %s", ce.Message)
		if !e.audited("fido-login", "refused", string(console.ReasonCounter)) {
			t.Fatal("counter rollback not audited")
		}
	})

	t.Run("registration with a wrong challenge", func(t *testing.T) {
		e2 := newEnv(t)
		c, _ := e2.client("alice")
		old, err := c.BeginRegistration(e.ctx, "k")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.BeginRegistration(e.ctx, "k"); err != nil {
			t.Fatal(err)
		}
		r, err := c.MakeCredential(e.ctx, newKey(t, ""), old, c.Origin())
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.FinishRegistration(e.ctx, r)
		var ce *consoleclient.Error
		if !errors.As(err, &ce) || ce.Reason != "wrong-challenge" {
			t.Fatalf("got %v, want wrong-challenge", err)
		}
		if !e2.audited("fido-register", "refused", "wrong-challenge") {
			t.Fatal("not audited")
		}
	})
}

// A POST without the session's CSRF token is refused and audited.
func TestCSRF(t *testing.T) {
	e := newEnv(t)
	c, _ := e.client("alice")
	_ = c
	hc := rawClient()
	// A session of its own, then a form without the token.
	r, err := hc.Get(e.url + "/console/signin")
	if err != nil {
		t.Fatal(err)
	}
	body(t, r)
	r, err = hc.PostForm(e.url+"/console/signin", url.Values{"user": {"alice"}, "password": {password}})
	if err != nil {
		t.Fatal(err)
	}
	if r.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d, want 403", r.StatusCode)
	}
	mustContain(t, body(t, r), "CSRF token is missing")
	if !e.audited("console-csrf", "refused", "csrf-missing") {
		t.Fatal("not audited")
	}
	// A cross-site POST (another Origin) is refused even with a token.
	req, _ := http.NewRequest(http.MethodPost, e.url+"/console/signin", strings.NewReader("user=alice"))
	req.Header.Set("Origin", "http://evil.example")
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if r.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site POST: status %d, want 403", r.StatusCode)
	}
	body(t, r)
}

// Sessions expire after the idle timeout: pages send the person back to
// the sign-in, POSTs are refused, and the expiry is audited.
func TestSessionExpiry(t *testing.T) {
	e := newEnv(t)
	c, _ := e.client("alice")
	e.clock.Advance(16 * time.Minute)
	_, err := c.BeginRegistration(e.ctx, "late")
	var ce *consoleclient.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusUnauthorized || !strings.Contains(ce.Message, "expired") {
		t.Fatalf("got %v, want an expired-session refusal", err)
	}
	if !e.audited("console-session", "refused", "expired") {
		t.Fatal("expiry not audited")
	}
}

// Five wrong passwords block the next attempts, right password or not.
func TestSigninThrottle(t *testing.T) {
	e := newEnv(t)
	for i := 0; i < 5; i++ {
		c, _ := consoleclient.New(e.url)
		_, err := c.SignIn(e.ctx, "alice", "wrong password")
		var ce *consoleclient.Error
		if !errors.As(err, &ce) || ce.Status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	c, _ := consoleclient.New(e.url)
	_, err := c.SignIn(e.ctx, "alice", password)
	var ce *consoleclient.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusTooManyRequests {
		t.Fatalf("got %v, want throttled", err)
	}
	t.Log(ce.Message)
	if !e.audited("console-signin", "refused", "throttled") {
		t.Fatal("not audited")
	}
}

// The ninth device is refused, whatever its kind.
func TestNinthDevice(t *testing.T) {
	e := newEnv(t)
	fobs := e.hardware(7, "GAKT")
	for _, f := range fobs {
		c1, c2 := e.codes(f.Token)
		if err := e.svc.Enable(e.ctx, "alice", string(f.Serial()), c1, c2); err != nil {
			t.Fatal(err)
		}
	}
	c, mfa := e.client("alice")
	if !mfa {
		t.Fatal("no MFA step")
	}
	if err := c.Code(e.ctx, string(fobs[0].Serial()), e.codeAt(fobs[0].Token, 2)); err != nil {
		t.Fatal(err)
	}
	key := newKey(t, "")
	if _, err := c.Enroll(e.ctx, key, "eighth"); err != nil {
		t.Fatalf("8th device: %v", err)
	}
	_, err := c.Enroll(e.ctx, newKey(t, ""), "ninth")
	var ce *consoleclient.Error
	if !errors.As(err, &ce) || ce.Status != http.StatusConflict || !strings.Contains(ce.Message, "MFADevicesPerUser: 8") {
		t.Fatalf("9th device: %v, want the limit", err)
	}
	// A ninth through the verifier directly is refused as well.
	more := e.hardware(1, "GALT")
	m1, m2 := e.codes(more[0].Token)
	if err := e.svc.Enable(e.ctx, "alice", string(more[0].Serial()), m1, m2); verify.CodeOf(err) != verify.ELIMIT {
		t.Fatalf("Enable of a 9th: %v", err)
	}
}
