package console

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/seal"
	"github.com/tokenlab/tokenlab/verify/sqlite"
)

// FuzzCeremonyFinish posts arbitrary bodies to the finish endpoints of
// ceremonies in progress: never a 5xx, never a panic, never a success.
func FuzzCeremonyFinish(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `null`, `[]`, `{"id":"AA","rawId":"AA","type":"public-key"}`,
		`{"id":"AAEC","rawId":"AAEC","type":"public-key","response":{"clientDataJSON":"eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIn0","attestationObject":"oWNmbXRkbm9uZQ"}}`,
		`{"id":"AAEC","rawId":"AAEC","type":"public-key","response":{"clientDataJSON":"eyJ0eXBlIjoid2ViYXV0aG4uZ2V0In0","authenticatorData":"AAAA","signature":"MEQ"}}`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	dir := f.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "tokenlab.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	sl, err := seal.LoadOrCreateKEK(filepath.Join(dir, "kek"))
	if err != nil {
		f.Fatal(err)
	}
	svc := verify.New(st, sl, verify.Config{})
	ctx := context.Background()
	if _, err := svc.CreateUser(ctx, "alice", verify.UserOptions{}); err != nil {
		f.Fatal(err)
	}
	mem := NewMemoryFIDO(svc, "123456789012")
	if _, err := mem.AddFIDO(ctx, "alice", "k", Credential{ID: []byte{0, 1, 2}, PublicKey: []byte{0xa1, 1, 2}}); err != nil {
		f.Fatal(err)
	}
	c, err := New(svc, Config{Origin: "http://localhost:8080", FIDO: mem})
	if err != nil {
		f.Fatal(err)
	}
	post := func(t *testing.T, ss *session, path string, body []byte) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "http://localhost:8080"+path, bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-CSRF-Token", ss.csrf)
		r.AddCookie(&http.Cookie{Name: CookieName, Value: ss.id})
		w := httptest.NewRecorder()
		c.ServeHTTP(w, r)
		return w
	}
	f.Fuzz(func(t *testing.T, body []byte, login bool) {
		ss := c.sessions.create(c.cfg.Now())
		ss.user, ss.passedAt = "alice", c.cfg.Now()
		kind := "register"
		ss.stage = stageSignedIn
		if login {
			kind, ss.stage = "login", stageMFA
		}
		begin := []byte(`{"name":"fuzz"}`)
		if login {
			begin = []byte(`{}`)
		}
		if w := post(t, ss, "/console/webauthn/"+kind+"/begin", begin); w.Code != http.StatusOK {
			t.Fatalf("begin: %d %s", w.Code, w.Body)
		}
		w := post(t, ss, "/console/webauthn/"+kind+"/finish", body)
		if w.Code >= 500 || w.Code == http.StatusOK {
			t.Fatalf("finish %s with %q: %d %s", kind, body, w.Code, w.Body)
		}
		if !strings.Contains(w.Body.String(), `"error"`) {
			t.Fatalf("finish %s: no error message: %s", kind, w.Body)
		}
		c.sessions.drop(ss.id)
	})
}
