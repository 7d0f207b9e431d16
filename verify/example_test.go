package verify_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/seal"
	"github.com/tokenlab/tokenlab/verify/sqlite"
)

// A verifier on an embedded store: create a user and a virtual MFA device,
// enable it with two consecutive codes, then check a code — twice.
func Example() {
	dir, _ := os.MkdirTemp("", "tokenlab-example")
	defer os.RemoveAll(dir)
	store, err := sqlite.Open(filepath.Join(dir, "tokenlab.db"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()
	sealer, err := seal.LoadOrCreateKEK(filepath.Join(dir, "kek"))
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Date(2026, 11, 29, 12, 0, 10, 0, time.UTC)
	svc := verify.New(store, sealer, verify.Config{Now: func() time.Time { return now }})
	ctx := verify.WithActor(context.Background(), verify.Actor{Name: "admin", Source: "cli"})

	svc.CreateUser(ctx, "alice", verify.UserOptions{})
	dev, _ := svc.CreateVirtual(ctx, "alice-phone", "/", nil) // dev.Seed and dev.URI: this once only
	spec := token.DefaultSpec
	err = svc.Enable(ctx, "alice", dev.ID, spec.TOTP(dev.Seed, now.Add(-30*time.Second)), spec.TOTP(dev.Seed, now))
	fmt.Println(dev.ID, err)

	now = now.Add(30 * time.Second)
	code := spec.TOTP(dev.Seed, now)
	d, _ := svc.Check(ctx, "alice", dev.ID, code)
	fmt.Println(d.Accepted)
	d, _ = svc.Check(ctx, "alice", dev.ID, code)
	fmt.Println(d.Accepted, d.Reason)
	// Output:
	// arn:aws:iam::123456789012:mfa/alice-phone <nil>
	// true
	// false replayed
}
