package verify_test

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/verify"
)

// LookupAccessKey keeps keys for AccessKeyCacheTTL: a key deleted through
// the same Service is gone at once; one deleted by another verifier
// sharing the database is gone here after the TTL; an expired session key
// is refused even while cached.
func TestAccessKeyCache(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		e.user("alice")
		other := verify.New(e.store, e.sealer, verify.Config{Now: e.clock.Now, Logger: slog.New(slog.DiscardHandler)})
		k1, err := e.svc.CreateAccessKey(e.ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		k2, err := e.svc.CreateAccessKey(e.ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []verify.AccessKey{k1, k2} {
			got, err := e.svc.LookupAccessKey(e.ctx, k.ID)
			if err != nil || got.Secret != k.Secret {
				t.Fatalf("LookupAccessKey(%s) = %+v, %v", k.ID, got, err)
			}
		}
		// Deleted here: refused at once, though it was cached.
		if err := e.svc.DeleteAccessKey(e.ctx, "alice", k1.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.LookupAccessKey(e.ctx, k1.ID); verify.CodeOf(err) != verify.ENOTFOUND {
			t.Fatalf("after DeleteAccessKey here: %v, want ENOTFOUND", err)
		}
		// Deleted by another verifier: usable here until the TTL runs out.
		if err := other.DeleteAccessKey(e.ctx, "alice", k2.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := other.LookupAccessKey(e.ctx, k2.ID); verify.CodeOf(err) != verify.ENOTFOUND {
			t.Fatalf("the deleting verifier: %v, want ENOTFOUND", err)
		}
		if _, err := e.svc.LookupAccessKey(e.ctx, k2.ID); err != nil {
			t.Fatalf("within the TTL: %v, want the cached key", err)
		}
		e.clock.Advance(5 * time.Second)
		if _, err := e.svc.LookupAccessKey(e.ctx, k2.ID); verify.CodeOf(err) != verify.ENOTFOUND {
			t.Fatalf("after the TTL: %v, want ENOTFOUND", err)
		}

		// A session key cached a second before it expires is refused after.
		ids, seeds := e.hardware(1)
		e.enable("alice", ids[0], seeds[0])
		e.clock.Advance(30 * time.Second)
		s, err := e.svc.CreateSession(e.ctx, "alice", ids[0], e.code(seeds[0], 0), verify.MinSessionDuration)
		if err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(verify.MinSessionDuration - time.Second)
		if got, err := e.svc.LookupAccessKey(e.ctx, s.ID); err != nil || got.SessionToken != s.SessionToken {
			t.Fatalf("session key before expiry: %+v, %v", got, err)
		}
		e.clock.Advance(time.Second)
		if _, err := e.svc.LookupAccessKey(e.ctx, s.ID); !errors.Is(err, &verify.Error{Code: verify.EUNAUTHORIZED, Reason: verify.ReasonExpired}) {
			t.Fatalf("expired session key: %v, want EUNAUTHORIZED expired", err)
		}
	})
}
