package verify_test

import (
	"context"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/seal"
	"github.com/tokenlab/tokenlab/verify/sqlite"
)

var errEOF = io.EOF

// Whatever a client sends as user, device, code or marker, the answer is
// a decision or an error of a client kind: never EINTERNAL.
func FuzzNeverInternal(f *testing.F) {
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
	svc := verify.New(st, sl, verify.Config{Now: func() time.Time { return t0 }})
	ctx := context.Background()
	svc.CreateUser(ctx, "alice", verify.UserOptions{})
	v, _ := svc.CreateVirtual(ctx, "phone", "/", nil)
	for _, s := range [][4]string{
		{"alice", v.ID, "123456", ""},
		{"alice", "GAHT12345678", "1234567", "dGwxOmFsaWNl"},
		{"", "", "", "!!"},
		{"al ice", "arn:aws:iam::123456789012:mfa/", "12345a", "tl1:"},
		{"alice", "arn:aws:iam::123456789012:u2f/user/alice/k", "00000000", "Zm9v"},
		{"alice\x00", "GAHT\xff12345678", "١٢٣٤٥٦", "\xff"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	f.Fuzz(func(t *testing.T, user, device, code, marker string) {
		calls := map[string]error{}
		_, calls["check"] = svc.Check(ctx, user, device, code)
		calls["enable"] = svc.Enable(ctx, user, device, code, code)
		calls["resync"] = svc.Resync(ctx, user, device, code, code)
		_, calls["session"] = svc.CreateSession(ctx, user, device, code, 0)
		_, calls["get-device"] = svc.GetDevice(ctx, device)
		_, _, calls["list-devices"] = svc.ListDevices(ctx, user, verify.Page{Marker: marker})
		_, _, calls["list-users"] = svc.ListUsers(ctx, "/", verify.Page{Marker: marker})
		_, calls["lookup-key"] = svc.LookupAccessKey(ctx, device)
		_, calls["api-token"] = svc.CheckAPIToken(ctx, code)
		for name, err := range calls {
			if err != nil && verify.CodeOf(err) == verify.EINTERNAL {
				t.Errorf("%s(%q, %q, %q, %q) = %v", name, user, device, code, marker, err)
			}
		}
	})
}
