package verify_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/seal"
	"github.com/tokenlab/tokenlab/verify/sqlite"
)

func TestSmoke(t *testing.T) {
	dir := t.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "db.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sl, err := seal.LoadOrCreateKEK(filepath.Join(dir, "kek"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 29, 12, 0, 10, 0, time.UTC)
	svc := verify.New(st, sl, verify.Config{Now: func() time.Time { return now }})
	ctx := context.Background()
	if _, err := svc.CreateUser(ctx, "alice", verify.UserOptions{}); err != nil {
		t.Fatal(err)
	}
	v, err := svc.CreateVirtual(ctx, "alice-phone", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	sp := v.Spec
	c1 := sp.TOTP(v.Seed, now.Add(-30*time.Second))
	c2 := sp.TOTP(v.Seed, now)
	if err := svc.Enable(ctx, "alice", v.ID, c1, c2); err != nil {
		t.Fatal(err)
	}
	now = now.Add(30 * time.Second)
	c3 := sp.TOTP(v.Seed, now)
	d, err := svc.Check(ctx, "alice", v.ID, c3)
	if err != nil || !d.Accepted {
		t.Fatal(d, err)
	}
	d, err = svc.Check(ctx, "alice", v.ID, c3)
	if err != nil || d.Reason != verify.ReasonReplayed {
		t.Fatal(d, err)
	}
	ev, err := svc.Audit(ctx, verify.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ev {
		t.Log(e)
	}
}
