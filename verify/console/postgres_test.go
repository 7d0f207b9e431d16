package console_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/tokenlab/tokenlab/verify/console"
	"github.com/tokenlab/tokenlab/verify/console/consoleclient"
	"github.com/tokenlab/tokenlab/verify/postgres"
	"github.com/tokenlab/tokenlab/verify/storetest"
)

// On PostgreSQL: a key registered, used, and refused when a clone of it
// has moved the counter past it.
func TestPostgres(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	st, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := newEnvOn(t, st)
	img := filepath.Join(t.TempDir(), "key.img")
	key := newKey(t, img)
	c, _ := e.client("alice")
	arn, err := c.Enroll(e.ctx, key, "pg-key")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	cloneImg := filepath.Join(t.TempDir(), "clone.img")
	os.WriteFile(cloneImg, b, 0o600)
	clone := newKey(t, cloneImg)

	c, _ = e.client("alice")
	if used, err := c.Login(e.ctx, key); err != nil || used != arn {
		t.Fatalf("login: %q, %v", used, err)
	}
	c, _ = e.client("alice")
	if _, err := c.Login(e.ctx, clone); err != nil {
		t.Fatal(err)
	}
	c, _ = e.client("alice")
	_, err = c.Login(e.ctx, key)
	var ce *consoleclient.Error
	if !errors.As(err, &ce) || ce.Reason != string(console.ReasonCounter) {
		t.Fatalf("got %v, want a counter rollback", err)
	}
	if !e.audited("fido-login", "refused", string(console.ReasonCounter)) {
		t.Fatal("not audited")
	}
}
