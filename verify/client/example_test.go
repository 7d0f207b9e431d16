package client_test

import (
	"context"
	"fmt"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/client"
	"github.com/tokenlab/tokenlab/verify/httpapi"
	"github.com/tokenlab/tokenlab/verify/seal"
	"github.com/tokenlab/tokenlab/verify/sqlite"
)

// A verifier on a temporary SQLite database behind the JSON API, and the
// client enrolling a virtual device and checking codes.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "client-example")
	defer os.RemoveAll(dir)
	st, err := sqlite.Open(filepath.Join(dir, "tokenlab.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	sealer, _ := seal.LoadOrCreateKEK(filepath.Join(dir, "kek"))
	svc := verify.New(st, sealer, verify.Config{})
	tok, _ := svc.CreateAPIToken(ctx, "admin")
	srv := httptest.NewServer(httpapi.New(svc, httpapi.Config{}))
	defer srv.Close()

	c, _ := client.New(srv.URL, tok, nil)
	c.CreateUser(ctx, httpapi.CreateUserRequest{Name: "alice"})
	boot, _ := c.CreateVirtual(ctx, httpapi.CreateVirtualRequest{Name: "alice-phone"})
	seed, _ := token.ParseBase32Seed(boot.SeedBase32)
	spec := token.DefaultSpec
	now := spec.Step(time.Now())
	if err := c.Enable(ctx, "alice", boot.Device.ID, spec.HOTP(seed, now-1), spec.HOTP(seed, now)); err != nil {
		log.Fatal(err)
	}
	d, _ := c.Check(ctx, "alice", boot.Device.ID, spec.HOTP(seed, now+1))
	fmt.Println("accepted:", d.Accepted)
	d, _ = c.Check(ctx, "alice", boot.Device.ID, spec.HOTP(seed, now+1))
	fmt.Println("again:", d.Accepted, d.Reason)
	_, err = c.GetUser(ctx, "bob")
	fmt.Println(verify.CodeOf(err))
	// Output:
	// accepted: true
	// again: false replayed
	// not_found
}
