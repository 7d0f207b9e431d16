package verify_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/verify"
)

// The check path reads user and device in one statement; what it reports
// when one is missing is what User then Device would: the user first, as
// IAM does, whatever the device and code. A user's name is found in any
// case, and the decision is audited under its canonical spelling.
func TestCheckNotFound(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		e.user("Alice")
		ids, seeds := e.hardware(2)
		e.enable("Alice", ids[0], seeds[0])
		for _, tc := range []struct {
			name, user, device, want string
		}{
			{"unknown user, unknown device", "nobody", "GAHT99999990", "user with name nobody"},
			{"unknown user, known device", "nobody", ids[0], "user with name nobody"},
			{"known user, unknown device", "alice", "GAHT99999990", "GAHT99999990 does not exist"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := e.svc.Check(e.ctx, tc.user, tc.device, "123456")
				wantErr(t, err, verify.ENOTFOUND, "")
				if !strings.Contains(err.Error(), tc.want) {
					t.Errorf("err = %v, want it to name %q", err, tc.want)
				}
			})
		}
		// Another user's device, or one not enabled: refused, not an error.
		wantDecision(t, e.check("alice", ids[1], e.code(seeds[1], 1)), false, verify.ReasonNotEnabled)
		e.clock.Advance(30 * time.Second)
		wantDecision(t, e.check("ALICE", ids[0], e.code(seeds[0], 0)), true, "")
		evs, err := e.svc.Audit(e.ctx, verify.AuditFilter{Device: ids[0], Action: "check"})
		if err != nil || len(evs) == 0 || evs[0].User != "Alice" || evs[0].Outcome != "ok" {
			t.Fatalf("audit = %+v, %v; want the accepted check under Alice", evs, err)
		}
	})
}
