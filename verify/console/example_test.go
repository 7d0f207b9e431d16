package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/console"
	"github.com/tokenlab/tokenlab/verify/seal"
	"github.com/tokenlab/tokenlab/verify/sqlite"
)

// Mount the console beside the other front ends of a verifier; GET
// /console/ leads to the sign-in page, with the session cookie.
func ExampleNew() {
	dir, _ := os.MkdirTemp("", "console-example")
	defer os.RemoveAll(dir)
	st, _ := sqlite.Open(filepath.Join(dir, "tokenlab.db"))
	defer st.Close()
	sl, _ := seal.LoadOrCreateKEK(filepath.Join(dir, "kek"))
	svc := verify.New(st, sl, verify.Config{})
	ctx := verify.WithActor(context.Background(), verify.Actor{Name: "example", Source: "cli"})
	svc.CreateUser(ctx, "alice", verify.UserOptions{Password: "correct horse battery"})

	c, err := console.New(svc, console.Config{Origin: "http://localhost:8080"})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/console/", c)

	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", "http://localhost:8080/console/", nil))
	fmt.Println(w.Code, w.Header().Get("Location"))
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", "http://localhost:8080/console/signin", nil))
	ck := w.Result().Cookies()[0]
	fmt.Println(w.Code, ck.Name, ck.HttpOnly, ck.Secure, ck.SameSite == http.SameSiteStrictMode)
	// Output:
	// 303 /console/signin
	// 200 tokenlab_console true true true
}
