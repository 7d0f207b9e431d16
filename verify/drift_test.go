package verify_test

import (
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/emulator"
	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify"
)

// Within one real step, codes from the future cannot walk the window: each
// acceptance used to move the drift to the accepted code, so T+1, T+2, …
// T+20 were all accepted one after the other.
func TestDriftCannotBeWalked(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		e.user("alice")
		ids, seeds := e.hardware(2)
		id, seed := ids[0], seeds[0]
		e.enable("alice", id, seed) // codes of T-1 and T, at T
		wantDecision(t, e.check("alice", id, e.code(seed, 1)), true, "")
		wantDecision(t, e.check("alice", id, e.code(seed, 2)), false, verify.ReasonWrong)
		accepted := 0
		for k := 3; k <= 20; k++ {
			if e.check("alice", id, e.code(seed, k)).Accepted {
				accepted++
			}
		}
		if accepted != 0 {
			t.Errorf("%d codes of T+3…T+20 accepted within step T", accepted)
		}
		d, _ := e.svc.GetDevice(e.ctx, id)
		if d.Drift != 0 {
			t.Fatalf("after walking: %s, want drift 0", describe(d))
		}
		if err := e.svc.Unlock(e.ctx, id); err != nil {
			t.Fatal(err)
		}
		// One real step on, T+2 is at the window's edge, and still no walk:
		// the previous code (T+1) was accepted in step T, one step early, so
		// the drift stays where it was.
		e.clock.Advance(30 * time.Second)
		wantDecision(t, e.check("alice", id, e.code(seed, 1)), true, "")
		wantDecision(t, e.check("alice", id, e.code(seed, 2)), false, verify.ReasonWrong)
		if d, _ := e.svc.GetDevice(e.ctx, id); d.Drift != 0 {
			t.Fatalf("one step later: %s, want drift 0", describe(d))
		}

		// STS GetSessionToken goes through the same rule.
		id, seed = ids[1], seeds[1]
		e.enable("alice", id, seed)
		if _, err := e.svc.CreateSession(e.ctx, "alice", id, e.code(seed, 1), 0); err != nil {
			t.Fatalf("CreateSession(T+1): %v", err)
		}
		_, err := e.svc.CreateSession(e.ctx, "alice", id, e.code(seed, 2), 0)
		wantErr(t, err, verify.ECODE, verify.ReasonWrong)
	})
}

// An attacker holding every future code, trying them all at every real step,
// moves the drift by at most one step per real step: in each step, one
// code at the window's edge nudges it, and the code at the new edge is the
// last one accepted until real time moves on.
func TestDriftMovesAtMostOneStepPerStep(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		e.user("alice")
		ids, seeds := e.hardware(1)
		id, seed := ids[0], seeds[0]
		e.enable("alice", id, seed)
		const steps = 20
		for i := 0; i < steps; i++ {
			e.clock.Advance(30 * time.Second)
			d, _ := e.svc.GetDevice(e.ctx, id)
			// Try every code from the edge of the window to 5 steps beyond.
			for k := 1; k <= 6; k++ {
				dec := e.check("alice", id, e.code(seed, int(d.Drift)+k))
				if dec.Accepted && k > 2 {
					t.Fatalf("step %d: code %d steps beyond the expected one accepted (%s)", i, k, describe(d))
				}
			}
			if err := e.svc.Unlock(e.ctx, id); err != nil {
				t.Fatal(err)
			}
			after, _ := e.svc.GetDevice(e.ctx, id)
			if after.Drift > d.Drift+1 {
				t.Fatalf("step %d: drift %d → %d", i, d.Drift, after.Drift)
			}
		}
		if d, _ := e.svc.GetDevice(e.ctx, id); d.Drift > steps {
			t.Fatalf("after %d steps: %s", steps, describe(d))
		}
	})
}

// A real fob whose crystal runs fast or slow, used once every few hours
// over weeks, stays accepted: each check nudges the drift after it.
func TestDriftFollowsSlowCrystal(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ppm   float64
		every time.Duration
		days  int
	}{
		{"fast 300 ppm every 3 h", 300, 3 * time.Hour, 28},
		{"slow 200 ppm every 5 h", -200, 5 * time.Hour, 28},
		{"fast 1000 ppm every 2 h", 1000, 2 * time.Hour, 14},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachStore(t, func(t *testing.T, e *env) {
				e.user("alice")
				mc := emulator.NewManualClock(t0)
				seed, _ := token.GenerateSeed(nil_reader{}, token.SHA1)
				fob, err := emulator.NewKeyFob(emulator.Options{Serial: "GAKT00000021", Seed: seed, Time: mc,
					DriftPPM: tc.ppm, BatteryPresses: 1 << 20, StandbyPerDay: 1e-9})
				if err != nil {
					t.Fatal(err)
				}
				e.seeds = append(e.seeds, seed)
				e.importRecords([]verify.TokenRecord{{Serial: "GAKT00000021", Spec: token.DefaultSpec, Seed: seed}})
				tick := func(d time.Duration) { e.clock.Advance(d); mc.Advance(d) }
				press := func() string {
					t.Helper()
					r, err := fob.Press()
					if err != nil {
						t.Fatal(err)
					}
					return r.Code
				}
				c1 := press()
				tick(30 * time.Second)
				if err := e.svc.Enable(e.ctx, "alice", "GAKT00000021", c1, press()); err != nil {
					t.Fatal(err)
				}
				uses := 0
				for elapsed := time.Duration(0); elapsed < time.Duration(tc.days)*24*time.Hour; {
					// Vary where in a step each use falls.
					d := tc.every + time.Duration(uses*7%30)*time.Second
					tick(d)
					elapsed += d
					uses++
					if dec := e.check("alice", "GAKT00000021", press()); !dec.Accepted {
						dev, _ := e.svc.GetDevice(e.ctx, "GAKT00000021")
						t.Fatalf("use %d after %v: refused (%s): %s", uses, elapsed.Round(time.Hour), dec.Reason, describe(dev))
					}
				}
				want := int64(float64(tc.days*24*3600) * tc.ppm / 1e6 / 30)
				dev, _ := e.svc.GetDevice(e.ctx, "GAKT00000021")
				if dev.Drift < want-2 || dev.Drift > want+2 {
					t.Errorf("after %d uses over %d days: %s, want drift about %d", uses, tc.days, describe(dev), want)
				}
			})
		})
	}
}
