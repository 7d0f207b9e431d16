package cli

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// tokenlab serve leads "/" to the console, and the console sends a
// loopback IP address to localhost (a valid WebAuthn RP ID).
func TestServeConsoleRoutes(t *testing.T) {
	h := newMux(startTestServer(t).svc, slog.New(slog.DiscardHandler), nil)
	for _, tc := range []struct{ method, host, path, want string }{
		{"GET", "127.0.0.1:8080", "/", "/console/"},
		{"GET", "127.0.0.1:8080", "/console/", "http://localhost:8080/console/"},
		{"GET", "localhost:8080", "/console/", "/console/signin"},
		{"GET", "localhost:8080", "/console", "/console/"},
	} {
		r := httptest.NewRequest(tc.method, "http://"+tc.host+tc.path, nil)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code/100 != 3 || w.Header().Get("Location") != tc.want {
			t.Errorf("%s %s%s: %d %q, want a redirect to %q", tc.method, tc.host, tc.path, w.Code, w.Header().Get("Location"), tc.want)
		}
	}
	r := httptest.NewRequest("GET", "http://localhost:8080/console/signin", nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	ck := w.Header().Get("Set-Cookie")
	if w.Code != http.StatusOK || !strings.Contains(ck, "HttpOnly") || !strings.Contains(ck, "Secure") || !strings.Contains(ck, "SameSite=Strict") {
		t.Fatalf("sign-in page: %d, cookie %q", w.Code, ck)
	}
	// The IAM endpoint still takes its form posts at "/".
	r = httptest.NewRequest("POST", "http://localhost:8080/", strings.NewReader("Action=GetUser&Version=2010-05-08"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if !strings.Contains(w.Body.String(), "<ErrorResponse") {
		t.Fatalf("POST /: %d %s", w.Code, w.Body.String())
	}
}
