package verify_test

import (
	"context"
	"testing"

	"github.com/tokenlab/tokenlab/verify"
)

type otherKey struct{}

// The actor rides on the context as a value would: through derived
// contexts (the audit of a cancelled request uses WithoutCancel), the
// latest WithActor winning, other values and cancellation untouched.
func TestActorContext(t *testing.T) {
	if a := verify.ActorFrom(context.Background()); a != (verify.Actor{}) {
		t.Errorf("ActorFrom(Background) = %+v, want none", a)
	}
	alice := verify.Actor{Name: "alice", Source: "api"}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), otherKey{}, "other"))
	ctx := verify.WithActor(verify.WithActor(parent, verify.Actor{Name: "bob", Source: "cli"}), alice)
	child, stop := context.WithCancel(ctx)
	defer stop()
	for name, c := range map[string]context.Context{"direct": ctx, "cancelable": child, "without cancel": context.WithoutCancel(ctx)} {
		if a := verify.ActorFrom(c); a != alice {
			t.Errorf("%s: ActorFrom = %+v, want %+v", name, a, alice)
		}
		if v := c.Value(otherKey{}); v != "other" {
			t.Errorf("%s: other value = %v, want it through", name, v)
		}
	}
	cancel()
	<-child.Done()
	if ctx.Err() != context.Canceled {
		t.Errorf("Err = %v after the parent's cancel, want context.Canceled", ctx.Err())
	}
}
