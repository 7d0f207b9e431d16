package verify_test

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/emulator"
	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/postgres"
	"github.com/tokenlab/tokenlab/verify/sqlite"
)

func TestEnableNeedsConsecutiveCodes(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		e.user("alice")
		ids, seeds := e.hardware(6)
		v := e.virtual("alice-phone")
		for _, tc := range []struct {
			name         string
			off1, off2   int // steps from now
			code, reason string
		}{
			{"same step twice", 0, 0, "invalid_code", "wrong"},
			{"gap of one step", -1, 1, "invalid_code", "wrong"},
			{"reversed", 0, -1, "invalid_code", "wrong"},
			{"an hour old", -120, -119, "invalid_code", "wrong"},
			{"three steps ahead", 3, 4, "invalid_code", "wrong"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := e.svc.Enable(e.ctx, "alice", ids[0], e.code(seeds[0], tc.off1), e.code(seeds[0], tc.off2))
				wantErr(t, err, verify.ErrorCode(tc.code), verify.Reason(tc.reason))
			})
		}
		// Consecutive pairs around now: previous+current (what IAM's docs and
		// pyotp do), current+next, and a bit late.
		for i, off := range []int{-1, 0, -2, 1} {
			if err := e.svc.Enable(e.ctx, "alice", ids[i+1], e.code(seeds[i+1], off), e.code(seeds[i+1], off+1)); err != nil {
				t.Fatalf("consecutive codes at %+d, %+d: %v", off, off+1, err)
			}
			d, _ := e.svc.GetDevice(e.ctx, ids[i+1])
			if d.State != verify.StateAssigned || d.User != "alice" || d.Drift != int64(off+1) || d.EnabledAt.IsZero() {
				t.Errorf("after enable at %+d: %s", off, describe(d))
			}
		}
		e.enable("alice", v.ID, v.Seed)
		devs, next, err := e.svc.ListDevices(e.ctx, "alice", verify.Page{})
		if err != nil || len(devs) != 5 || next != "" {
			t.Fatalf("ListDevices = %d devices, %q, %v", len(devs), next, err)
		}
		if d, _ := e.svc.GetDevice(e.ctx, ids[0]); d.State != verify.StateAvailable || d.Failures != 0 {
			t.Errorf("refused enables changed the device: %s", describe(d))
		}
	})
}

func TestEnableConflicts(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		e.user("alice")
		e.user("bob")
		ids, seeds := e.hardware(1)
		e.enable("alice", ids[0], seeds[0])
		e.clock.Advance(time.Minute)
		err := e.svc.Enable(e.ctx, "bob", ids[0], e.code(seeds[0], -1), e.code(seeds[0], 0))
		wantErr(t, err, verify.ECONFLICT, "")
		if !strings.Contains(err.Error(), "MFA Device is already in use.") {
			t.Errorf("message = %q", err)
		}
		// Alice enabling it again is a conflict too, not a code error.
		err = e.svc.Enable(e.ctx, "alice", ids[0], "000000", "000000")
		wantErr(t, err, verify.ECONFLICT, "")
		// Unknown user first, whatever the codes (IAM checks the user first).
		err = e.svc.Enable(e.ctx, "nobody", ids[0], "000000", "000000")
		wantErr(t, err, verify.ENOTFOUND, "")
	})
}

func TestReplay(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		e.user("alice")
		ids, seeds := e.hardware(1)
		id, seed := ids[0], seeds[0]
		c1, c2 := e.code(seed, -1), e.code(seed, 0)
		e.enable("alice", id, seed)
		// The enable's second code is used.
		wantDecision(t, e.check("alice", id, c2), false, verify.ReasonReplayed)
		e.clock.Advance(30 * time.Second)
		c := e.code(seed, 0)
		wantDecision(t, e.check("alice", id, c), true, "")
		wantDecision(t, e.check("alice", id, c), false, verify.ReasonReplayed)
		// The previous step is in the window but older than the last used.
		wantDecision(t, e.check("alice", id, c2), false, verify.ReasonReplayed)
		if d, _ := e.svc.GetDevice(e.ctx, id); d.Failures != 0 {
			t.Errorf("replays counted as failures: %s", describe(d))
		}
		// Deactivate and re-enable with old codes: the replay state survived.
		if err := e.svc.Deactivate(e.ctx, "alice", id); err != nil {
			t.Fatal(err)
		}
		if d, _ := e.svc.GetDevice(e.ctx, id); d.State != verify.StateAvailable || d.User != "" || d.LastStep == 0 {
			t.Fatalf("after deactivate: %s", describe(d))
		}
		err := e.svc.Enable(e.ctx, "alice", id, c1, c2)
		wantErr(t, err, verify.ECODE, verify.ReasonReplayed)
		// One step on, the pair (last used, now) still holds a used code.
		e.clock.Advance(30 * time.Second)
		err = e.svc.Enable(e.ctx, "alice", id, e.code(seed, -1), e.code(seed, 0))
		wantErr(t, err, verify.ECODE, verify.ReasonReplayed)
		e.clock.Advance(30 * time.Second)
		e.enable("alice", id, seed)
		// Check refuses codes once deactivated.
		if err := e.svc.Deactivate(e.ctx, "alice", id); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(30 * time.Second)
		wantDecision(t, e.check("alice", id, e.code(seed, 0)), false, verify.ReasonNotEnabled)
	})
}

func TestDriftAndResync(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		e.user("alice")
		mc := emulator.NewManualClock(t0)
		seed, _ := token.GenerateSeed(nil_reader{}, token.SHA1)
		fob, err := emulator.NewKeyFob(emulator.Options{Serial: "GAKT00000017", Seed: seed, Time: mc})
		if err != nil {
			t.Fatal(err)
		}
		e.seeds = append(e.seeds, seed)
		e.importRecords([]verify.TokenRecord{{Serial: "GAKT00000017", Spec: token.DefaultSpec, Seed: seed}})
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
		c2 := press()
		if err := e.svc.Enable(e.ctx, "alice", "GAKT00000017", c1, c2); err != nil {
			t.Fatal(err)
		}
		// The fob's crystal gains 90 s: three steps ahead.
		fob.Advance(90 * time.Second)
		tick(30 * time.Second)
		wantDecision(t, e.check("alice", "GAKT00000017", press()), false, verify.ReasonWrong)
		tick(30 * time.Second)
		a := press()
		tick(30 * time.Second)
		b := press()
		if err := e.svc.Resync(e.ctx, "alice", "GAKT00000017", a, b); err != nil {
			t.Fatalf("Resync: %v", err)
		}
		d, _ := e.svc.GetDevice(e.ctx, "GAKT00000017")
		if d.Drift != 3 || d.Failures != 0 {
			t.Fatalf("after resync: %s, want drift 3", describe(d))
		}
		tick(30 * time.Second)
		wantDecision(t, e.check("alice", "GAKT00000017", press()), true, "")
		// A resync with used codes is refused.
		err = e.svc.Resync(e.ctx, "alice", "GAKT00000017", a, b)
		wantErr(t, err, verify.ECODE, verify.ReasonReplayed)
		// Checks nudge the drift: the fob gains one more step.
		fob.Advance(30 * time.Second)
		tick(30 * time.Second)
		wantDecision(t, e.check("alice", "GAKT00000017", press()), true, "")
		if d, _ := e.svc.GetDevice(e.ctx, "GAKT00000017"); d.Drift != 4 {
			t.Fatalf("after a check one step ahead: %s, want drift 4", describe(d))
		}
		// Resync codes that are not consecutive are refused.
		tick(30 * time.Second)
		x := press()
		tick(60 * time.Second)
		err = e.svc.Resync(e.ctx, "alice", "GAKT00000017", x, press())
		wantErr(t, err, verify.ECODE, verify.ReasonWrong)
	})
}

// nil_reader gives a fixed non-zero seed, so the drift test is repeatable.
type nil_reader struct{}

func (nil_reader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i*7 + 1)
	}
	return len(p), nil
}

func TestNinthDeviceRefused(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		e.user("alice")
		ids, seeds := e.hardware(5)
		for i := 0; i < 4; i++ {
			e.enable("alice", ids[i], seeds[i])
		}
		for i := 0; i < 4; i++ {
			v := e.virtual("phone-" + string(rune('a'+i)))
			e.enable("alice", v.ID, v.Seed)
		}
		err := e.svc.Enable(e.ctx, "alice", ids[4], e.code(seeds[4], -1), e.code(seeds[4], 0))
		wantErr(t, err, verify.ELIMIT, "")
		if !strings.Contains(err.Error(), "MFADevicesPerUser: 8") {
			t.Errorf("message = %q", err)
		}
		devs, next, err := e.svc.ListDevices(e.ctx, "alice", verify.Page{Max: 5})
		if err != nil || len(devs) != 5 || next == "" {
			t.Fatalf("page 1: %d, %q, %v", len(devs), next, err)
		}
		devs2, next, err := e.svc.ListDevices(e.ctx, "alice", verify.Page{Max: 5, Marker: next})
		if err != nil || len(devs2) != 3 || next != "" {
			t.Fatalf("page 2: %d, %q, %v", len(devs2), next, err)
		}
		// Freeing one makes room.
		if err := e.svc.Deactivate(e.ctx, "alice", ids[0]); err != nil {
			t.Fatal(err)
		}
		e.enable("alice", ids[4], seeds[4])
	})
}

func TestLockoutBackoffUnlock(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		e.user("alice")
		ids, seeds := e.hardware(1)
		id, seed := ids[0], seeds[0]
		e.enable("alice", id, seed)
		wrong := func() string {
			c := e.code(seed, 0)
			if c[0] == '9' {
				return "0" + c[1:]
			}
			return string(c[0]+1) + c[1:]
		}
		for i := 1; i <= 4; i++ {
			d := e.check("alice", id, wrong())
			wantDecision(t, d, false, verify.ReasonWrong)
			if !d.LockedUntil.IsZero() {
				t.Fatalf("locked after %d failures", i)
			}
		}
		d := e.check("alice", id, wrong())
		wantDecision(t, d, false, verify.ReasonWrong)
		if want := t0.Add(30 * time.Second); !d.LockedUntil.Equal(want) {
			t.Fatalf("5th failure: locked until %v, want %v", d.LockedUntil, want)
		}
		// While locked, even the right code is refused without being used.
		e.clock.Advance(20 * time.Second)
		good := e.code(seed, 0)
		wantDecision(t, e.check("alice", id, good), false, verify.ReasonLocked)
		_, err := e.svc.CreateSession(e.ctx, "alice", id, good, 0)
		wantErr(t, err, verify.ELOCKED, verify.ReasonLocked)
		err = e.svc.Resync(e.ctx, "alice", id, e.code(seed, -1), good)
		wantErr(t, err, verify.ELOCKED, verify.ReasonLocked)
		// After the back-off one more failure locks for twice as long.
		e.clock.Advance(15 * time.Second)
		d = e.check("alice", id, wrong())
		if want := e.clock.Now().Add(60 * time.Second); d.Reason != verify.ReasonWrong || !d.LockedUntil.Equal(want) {
			t.Fatalf("6th failure: %+v, want locked until %v", d, want)
		}
		d = e.check("alice", id, wrong())
		if want := e.clock.Now().Add(60 * time.Second); d.Reason != verify.ReasonLocked || !d.LockedUntil.Equal(want) {
			t.Fatalf("while locked: %+v", d)
		}
		// The code from the locked step was never used: after unlock it passes.
		if err := e.svc.Unlock(e.ctx, id); err != nil {
			t.Fatal(err)
		}
		wantDecision(t, e.check("alice", id, e.code(seed, 0)), true, "")
		if dev, _ := e.svc.GetDevice(e.ctx, id); dev.Failures != 0 || !dev.LockedUntil.IsZero() {
			t.Fatalf("after success: %s", describe(dev))
		}
		evs, err := e.svc.Audit(e.ctx, verify.AuditFilter{Device: id, Action: "unlock"})
		if err != nil || len(evs) != 1 || evs[0].Actor != "tester" {
			t.Fatalf("unlock audit: %v, %v", evs, err)
		}
	})
}

func TestLostDetachesEverywhere(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		e.user("alice")
		e.user("bob")
		ids, seeds := e.hardware(2)
		e.enable("alice", ids[0], seeds[0])
		e.enable("bob", ids[1], seeds[1])
		from, err := e.svc.MarkLost(e.ctx, ids[0])
		if err != nil || len(from) != 1 || from[0] != "alice" {
			t.Fatalf("MarkLost = %v, %v", from, err)
		}
		devs, _, _ := e.svc.ListDevices(e.ctx, "alice", verify.Page{})
		if len(devs) != 0 {
			t.Fatalf("alice still holds %v", devs)
		}
		e.clock.Advance(30 * time.Second)
		wantDecision(t, e.check("alice", ids[0], e.code(seeds[0], 0)), false, verify.ReasonLost)
		_, err = e.svc.CreateSession(e.ctx, "alice", ids[0], e.code(seeds[0], 0), 0)
		wantErr(t, err, verify.ECODE, verify.ReasonLost)
		for _, u := range []string{"alice", "bob"} {
			err = e.svc.Enable(e.ctx, u, ids[0], e.code(seeds[0], -1), e.code(seeds[0], 0))
			wantErr(t, err, verify.EFORBIDDEN, verify.ReasonLost)
		}
		inv, _, _ := e.svc.ListInventory(e.ctx, verify.StateLost, verify.Page{})
		if len(inv) != 1 || inv[0].ID != ids[0] {
			t.Fatalf("lost inventory = %v", inv)
		}
		// An unassigned token can be reported lost too; nobody to detach.
		if from, err := e.svc.MarkLost(e.ctx, ids[0]); err != nil || len(from) != 0 {
			t.Fatalf("MarkLost again = %v, %v", from, err)
		}
		_, err = e.svc.MarkLost(e.ctx, "GAHT99999997")
		wantErr(t, err, verify.ENOTFOUND, "")
		// Bob's device is untouched.
		wantDecision(t, e.check("bob", ids[1], e.code(seeds[1], 0)), true, "")
	})
}

func TestSameCodeConcurrently(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		e.user("alice")
		ids, seeds := e.hardware(2)
		e.enable("alice", ids[0], seeds[0])
		e.enable("alice", ids[1], seeds[1])
		e.clock.Advance(30 * time.Second)
		for _, tc := range []struct {
			name string
			id   string
			try  func(code string) (bool, error)
		}{
			{"Check", ids[0], func(code string) (bool, error) {
				d, err := e.svc.Check(e.ctx, "alice", ids[0], code)
				return d.Accepted, err
			}},
			{"CreateSession", ids[1], func(code string) (bool, error) {
				_, err := e.svc.CreateSession(e.ctx, "alice", ids[1], code, time.Hour)
				if verify.CodeOf(err) == verify.ECODE && verify.ReasonOf(err) == verify.ReasonReplayed {
					return false, nil
				}
				return err == nil, err
			}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				code := e.code(seeds[0], 0)
				if tc.id == ids[1] {
					code = e.code(seeds[1], 0)
				}
				var ok, refused atomic.Int32
				var wg sync.WaitGroup
				start := make(chan struct{})
				for i := 0; i < 32; i++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						acc, err := tc.try(code)
						switch {
						case err != nil:
							t.Error(err)
						case acc:
							ok.Add(1)
						default:
							refused.Add(1)
						}
					}()
				}
				close(start)
				wg.Wait()
				if ok.Load() != 1 || refused.Load() != 31 {
					t.Fatalf("accepted %d, refused %d; want 1 and 31", ok.Load(), refused.Load())
				}
				evs, _ := e.svc.Audit(e.ctx, verify.AuditFilter{Device: tc.id, Since: e.clock.Now(), Limit: 100})
				if len(evs) != 32 {
					t.Fatalf("%d audit events, want 32", len(evs))
				}
			})
		}
		if ks, err := e.svc.ListAccessKeys(e.ctx, "alice"); err != nil || len(ks) != 0 {
			t.Fatalf("session keys leaked into ListAccessKeys: %v %v", ks, err)
		}
	})
}

func TestSessionsAndKeys(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		e.user("alice")
		ids, seeds := e.hardware(1)
		e.enable("alice", ids[0], seeds[0])
		e.clock.Advance(30 * time.Second)
		k, err := e.svc.CreateSession(e.ctx, "alice", ids[0], e.code(seeds[0], 0), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(k.ID, "ASIA") || len(k.ID) != 20 || len(k.Secret) != 40 || k.SessionToken == "" || !k.MFA || k.MFADevice != ids[0] || !k.Expires.Equal(e.clock.Now().Add(time.Hour)) {
			t.Fatalf("session key = %+v", k)
		}
		got, err := e.svc.LookupAccessKey(e.ctx, k.ID)
		if err != nil || got.Secret != k.Secret || got.SessionToken != k.SessionToken || got.User != "alice" {
			t.Fatalf("LookupAccessKey = %+v, %v", got, err)
		}
		_, err = e.svc.CreateSession(e.ctx, "alice", ids[0], e.code(seeds[0], 0), time.Hour)
		wantErr(t, err, verify.ECODE, verify.ReasonReplayed)
		_, err = e.svc.CreateSession(e.ctx, "alice", ids[0], e.code(seeds[0], 1), time.Minute)
		wantErr(t, err, verify.EINVALID, "")
		e.clock.Advance(time.Hour)
		_, err = e.svc.LookupAccessKey(e.ctx, k.ID)
		wantErr(t, err, verify.EUNAUTHORIZED, verify.ReasonExpired)
		_, err = e.svc.LookupAccessKey(e.ctx, "ASIA"+strings.Repeat("Z", 16))
		wantErr(t, err, verify.ENOTFOUND, "")

		// Long-term keys.
		a, err := e.svc.CreateAccessKey(e.ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(a.ID, "AKIA") || len(a.ID) != 20 || strings.ToUpper(a.ID) != a.ID || len(a.Secret) != 40 || a.Status != "Active" {
			t.Fatalf("access key = %+v", a)
		}
		if _, err := e.svc.CreateAccessKey(e.ctx, "alice"); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.CreateAccessKey(e.ctx, "alice")
		wantErr(t, err, verify.ELIMIT, "")
		got, err = e.svc.LookupAccessKey(e.ctx, a.ID)
		if err != nil || got.Secret != a.Secret {
			t.Fatalf("LookupAccessKey = %+v, %v", got, err)
		}
		ks, _ := e.svc.ListAccessKeys(e.ctx, "alice")
		if len(ks) != 2 || ks[0].Secret != "" {
			t.Fatalf("ListAccessKeys = %+v", ks)
		}
		err = e.svc.DeleteUser(e.ctx, "alice")
		wantErr(t, err, verify.ECONFLICT, "")
		if err := e.svc.DeleteAccessKey(e.ctx, "alice", a.ID); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.LookupAccessKey(e.ctx, a.ID)
		wantErr(t, err, verify.ENOTFOUND, "")

		// API tokens.
		sec, err := e.svc.CreateAPIToken(e.ctx, "ops")
		if err != nil {
			t.Fatal(err)
		}
		if name, err := e.svc.CheckAPIToken(e.ctx, sec); name != "ops" || err != nil {
			t.Fatalf("CheckAPIToken = %q, %v", name, err)
		}
		_, err = e.svc.CheckAPIToken(e.ctx, sec+"x")
		wantErr(t, err, verify.EUNAUTHORIZED, "")
		_, err = e.svc.CreateAPIToken(e.ctx, "ops")
		wantErr(t, err, verify.ECONFLICT, "")
	})
}

func TestUsersAndPasswords(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		u, err := e.svc.CreateUser(e.ctx, "Alice", verify.UserOptions{Path: "/eng/", Password: "correct horse"})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(u.ID, "AIDA") || len(u.ID) != 21 || u.Arn != "arn:aws:iam::123456789012:user/eng/Alice" {
			t.Fatalf("user = %+v", u)
		}
		_, err = e.svc.CreateUser(e.ctx, "alice", verify.UserOptions{})
		wantErr(t, err, verify.ECONFLICT, "")
		if got, err := e.svc.CheckPassword(e.ctx, "alice", "correct horse"); err != nil || got.Name != "Alice" {
			t.Fatalf("CheckPassword = %+v, %v", got, err)
		}
		e.store.View(e.ctx, func(tx verify.Tx) error {
			r, err := tx.User(e.ctx, "alice")
			if err != nil || !strings.HasPrefix(r.PasswordHash, "$argon2id$v=19$m=19456,t=2,p=1$") || strings.Contains(r.PasswordHash, "horse") {
				t.Errorf("stored password = %q, %v; want a PHC argon2id string", r.PasswordHash, err)
			}
			return nil
		})
		for _, tc := range [][2]string{{"Alice", "wrong horse"}, {"nobody", "correct horse"}, {"bad name!", "x"}} {
			_, err = e.svc.CheckPassword(e.ctx, tc[0], tc[1])
			wantErr(t, err, verify.EUNAUTHORIZED, "")
		}
		for _, n := range []string{"bob", "carol", "dave", "erin"} {
			e.user(n)
		}
		var all []string
		m := ""
		for {
			us, next, err := e.svc.ListUsers(e.ctx, "", verify.Page{Max: 2, Marker: m})
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range us {
				all = append(all, u.Name)
			}
			if next == "" {
				break
			}
			m = next
		}
		if strings.Join(all, ",") != "Alice,bob,carol,dave,erin" {
			t.Fatalf("paged users = %v", all)
		}
		us, _, _ := e.svc.ListUsers(e.ctx, "/eng/", verify.Page{})
		if len(us) != 1 {
			t.Fatalf("users under /eng/ = %v", us)
		}
		if err := e.svc.SetRequireMFA(e.ctx, "alice", true); err != nil {
			t.Fatal(err)
		}
		if got, _ := e.svc.GetUser(e.ctx, "ALICE"); !got.RequireMFA {
			t.Fatalf("RequireMFA not set: %+v", got)
		}
		if err := e.svc.DeleteUser(e.ctx, "erin"); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.GetUser(e.ctx, "erin")
		wantErr(t, err, verify.ENOTFOUND, "")
	})
}

func TestVirtualDevices(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		e.user("alice")
		v, err := e.svc.CreateVirtual(e.ctx, "alice-phone", "/team/", map[string]string{"owner": "alice"})
		if err != nil {
			t.Fatal(err)
		}
		e.seeds = append(e.seeds, v.Seed)
		if v.ID != "arn:aws:iam::123456789012:mfa/team/alice-phone" || len(v.Seed) != 20 || !strings.Contains(v.URI, "secret="+v.Seed.Base32()) {
			t.Fatalf("virtual = %+v %s", v.Device, v.URI)
		}
		k, err := token.ParseURI(v.URI)
		if err != nil || string(k.Seed) != string(v.Seed) {
			t.Fatalf("URI does not round-trip: %v", err)
		}
		_, err = e.svc.CreateVirtual(e.ctx, "alice-phone", "/team/", nil)
		wantErr(t, err, verify.ECONFLICT, "")
		e.enable("alice", v.ID, v.Seed)
		err = e.svc.DeleteVirtual(e.ctx, v.ID)
		wantErr(t, err, verify.ECONFLICT, "")
		as, _, _ := e.svc.ListVirtual(e.ctx, verify.AssignmentAssigned, verify.Page{})
		un, _, _ := e.svc.ListVirtual(e.ctx, verify.AssignmentUnassigned, verify.Page{})
		if len(as) != 1 || len(un) != 0 {
			t.Fatalf("assigned %v unassigned %v", as, un)
		}
		if err := e.svc.TagDevice(e.ctx, v.ID, map[string]string{"team": "qa"}); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.UntagDevice(e.ctx, v.ID, []string{"owner"}); err != nil {
			t.Fatal(err)
		}
		if d, _ := e.svc.GetDevice(e.ctx, v.ID); len(d.Tags) != 1 || d.Tags["team"] != "qa" {
			t.Fatalf("tags = %v", d.Tags)
		}
		if err := e.svc.Deactivate(e.ctx, "alice", v.ID); err != nil {
			t.Fatal(err)
		}
		if err := e.svc.DeleteVirtual(e.ctx, v.ID); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.GetDevice(e.ctx, v.ID)
		wantErr(t, err, verify.ENOTFOUND, "")
	})
}

func TestImport(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		ids, _ := e.hardware(3)
		seed, _ := token.GenerateSeed(nil_reader{}, token.SHA1)
		res := e.importRecords([]verify.TokenRecord{
			{Serial: token.Serial(ids[0]), Spec: token.DefaultSpec, Seed: seed},
			{Serial: "GAHT77777770", Spec: token.Spec{Algorithm: token.SHA256, Digits: 8, Period: 60 * time.Second}, Seed: seed},
		})
		if res.Added != 1 || res.Existing != 1 {
			t.Fatalf("import = %+v", res)
		}
		i := 0
		_, err := e.svc.ImportTokens(e.ctx, func() (verify.TokenRecord, error) {
			i++
			switch i {
			case 1:
				return verify.TokenRecord{Serial: "GAHT66666660", Spec: token.DefaultSpec, Seed: seed}, nil
			case 2:
				return verify.TokenRecord{Serial: "short", Spec: token.DefaultSpec, Seed: seed}, nil
			}
			return verify.TokenRecord{}, errors.New("unreachable")
		})
		wantErr(t, err, verify.EINVALID, "")
		if _, err := e.svc.GetDevice(e.ctx, "GAHT66666660"); verify.CodeOf(err) != verify.ENOTFOUND {
			t.Fatalf("a failed import left a token behind: %v", err)
		}
		inv, _, _ := e.svc.ListInventory(e.ctx, verify.StateAvailable, verify.Page{})
		if len(inv) != 4 {
			t.Fatalf("inventory = %d", len(inv))
		}
		// An 8-digit SHA-256 60 s token works end to end.
		e.user("alice")
		spec := token.Spec{Algorithm: token.SHA256, Digits: 8, Period: 60 * time.Second}
		now := e.clock.Now()
		if err := e.svc.Enable(e.ctx, "alice", "GAHT77777770", spec.TOTP(seed, now.Add(-time.Minute)), spec.TOTP(seed, now)); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Minute)
		wantDecision(t, e.check("alice", "GAHT77777770", spec.TOTP(seed, e.clock.Now())), true, "")
	})
}

func TestBadInput(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		e.user("alice")
		ids, seeds := e.hardware(1)
		e.enable("alice", ids[0], seeds[0])
		fido := "arn:aws:iam::123456789012:u2f/user/alice/key-ABCDEF"
		if err := e.store.Update(e.ctx, func(tx verify.Tx) error {
			return tx.CreateDevice(e.ctx, &verify.DeviceRecord{Device: verify.Device{ID: fido, Kind: verify.KindFIDO, State: verify.StateAssigned, User: "alice", CreatedAt: t0}})
		}); err != nil {
			t.Fatal(err)
		}
		good := e.code(seeds[0], 1)
		for _, tc := range []struct {
			name string
			call func() error
			want verify.ErrorCode
		}{
			{"unknown user", func() error { _, err := e.svc.Check(e.ctx, "nobody", ids[0], good); return err }, verify.ENOTFOUND},
			{"unknown serial", func() error { _, err := e.svc.Check(e.ctx, "alice", "GAHT55555555", good); return err }, verify.ENOTFOUND},
			{"unknown ARN", func() error {
				_, err := e.svc.Check(e.ctx, "alice", "arn:aws:iam::123456789012:mfa/none", good)
				return err
			}, verify.ENOTFOUND},
			{"malformed serial", func() error { _, err := e.svc.Check(e.ctx, "alice", "GAHT1", good); return err }, verify.EINVALID},
			{"serial with space", func() error { _, err := e.svc.Check(e.ctx, "alice", "GAHT 12345678", good); return err }, verify.EINVALID},
			{"malformed ARN", func() error { _, err := e.svc.Check(e.ctx, "alice", "arn:aws:iam::12:mfa/x", good); return err }, verify.EINVALID},
			{"ARN of a user", func() error {
				_, err := e.svc.Check(e.ctx, "alice", "arn:aws:iam::123456789012:user/alice", good)
				return err
			}, verify.EINVALID},
			{"5 digits", func() error { _, err := e.svc.Check(e.ctx, "alice", ids[0], "12345"); return err }, verify.EINVALID},
			{"7 digits", func() error { _, err := e.svc.Check(e.ctx, "alice", ids[0], "1234567"); return err }, verify.EINVALID},
			{"letters", func() error { _, err := e.svc.Check(e.ctx, "alice", ids[0], "abcdef"); return err }, verify.EINVALID},
			{"empty code", func() error { _, err := e.svc.Check(e.ctx, "alice", ids[0], ""); return err }, verify.EINVALID},
			{"enable letters", func() error { return e.svc.Enable(e.ctx, "alice", ids[0], "12345a", "123456") }, verify.EINVALID},
			{"resync 9 digits", func() error { return e.svc.Resync(e.ctx, "alice", ids[0], "123456789", "123456") }, verify.EINVALID},
			{"bad user name", func() error { _, err := e.svc.Check(e.ctx, "al ice", ids[0], good); return err }, verify.EINVALID},
			{"long user name", func() error {
				_, err := e.svc.CreateUser(e.ctx, strings.Repeat("a", 65), verify.UserOptions{})
				return err
			}, verify.EINVALID},
			{"bad path", func() error { _, err := e.svc.CreateUser(e.ctx, "bob", verify.UserOptions{Path: "eng"}); return err }, verify.EINVALID},
			{"bad marker", func() error { _, _, err := e.svc.ListUsers(e.ctx, "", verify.Page{Marker: "!!"}); return err }, verify.EINVALID},
			{"forged marker", func() error { _, _, err := e.svc.ListUsers(e.ctx, "", verify.Page{Marker: "Zm9v"}); return err }, verify.EINVALID},
			{"max items", func() error { _, _, err := e.svc.ListUsers(e.ctx, "", verify.Page{Max: 1001}); return err }, verify.EINVALID},
			{"bad virtual name", func() error { _, err := e.svc.CreateVirtual(e.ctx, "a/b", "", nil); return err }, verify.EINVALID},
			{"FIDO session", func() error { _, err := e.svc.CreateSession(e.ctx, "alice", fido, good, 0); return err }, verify.EINVALID},
			{"FIDO enable", func() error { return e.svc.Enable(e.ctx, "alice", fido, "123456", "123456") }, verify.EINVALID},
			{"deactivate unknown", func() error { return e.svc.Deactivate(e.ctx, "alice", "GAHT55555555") }, verify.ENOTFOUND},
			{"unlock unknown", func() error { return e.svc.Unlock(e.ctx, "GAHT55555555") }, verify.ENOTFOUND},
			{"delete user unknown", func() error { return e.svc.DeleteUser(e.ctx, "nobody") }, verify.ENOTFOUND},
			{"delete user with devices", func() error { return e.svc.DeleteUser(e.ctx, "alice") }, verify.ECONFLICT},
			{"inventory state", func() error { _, _, err := e.svc.ListInventory(e.ctx, "broken", verify.Page{}); return err }, verify.EINVALID},
			{"lookup key unknown", func() error { _, err := e.svc.LookupAccessKey(e.ctx, "AKIAAAAAAAAAAAAAAAAA"); return err }, verify.ENOTFOUND},
			{"lookup key garbage", func() error { _, err := e.svc.LookupAccessKey(e.ctx, "x"); return err }, verify.ENOTFOUND},
			{"session duration", func() error { _, err := e.svc.CreateSession(e.ctx, "alice", ids[0], good, 40*time.Hour); return err }, verify.EINVALID},
			{"too many tags", func() error {
				tags := map[string]string{}
				for i := 0; i < 51; i++ {
					tags[strings.Repeat("k", i+1)] = "v"
				}
				return e.svc.TagDevice(e.ctx, ids[0], tags)
			}, verify.ELIMIT},
		} {
			t.Run(tc.name, func(t *testing.T) {
				err := tc.call()
				if verify.CodeOf(err) != tc.want || err == nil {
					t.Fatalf("err = %v (%s), want %s", err, verify.CodeOf(err), tc.want)
				}
			})
		}
		// A FIDO device takes no code check either.
		_, err := e.svc.Check(e.ctx, "alice", fido, good)
		wantErr(t, err, verify.EINVALID, "")
		// Bad input left no failures behind.
		if d, _ := e.svc.GetDevice(e.ctx, ids[0]); d.Failures != 0 {
			t.Fatalf("bad input counted as failures: %s", describe(d))
		}
	})
}

// Two verifiers (as two processes would: separate stores, pools and group
// commit writers) sharing one database accept a code once between them.
func TestSameCodeTwoVerifiers(t *testing.T) {
	for _, fac := range factories {
		t.Run(fac.name, func(t *testing.T) {
			e := newEnv(t, fac)
			svc2 := e.secondVerifier(t)
			e.user("alice")
			ids, seeds := e.hardware(1)
			e.enable("alice", ids[0], seeds[0])
			for round := 0; round < 3; round++ {
				e.clock.Advance(30 * time.Second)
				code := e.code(seeds[0], 0)
				var ok, refused atomic.Int32
				var wg sync.WaitGroup
				start := make(chan struct{})
				for i := 0; i < 32; i++ {
					svc := e.svc
					if i%2 == 1 {
						svc = svc2
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						d, err := svc.Check(e.ctx, "alice", ids[0], code)
						switch {
						case err != nil:
							t.Error(err)
						case d.Accepted:
							ok.Add(1)
						case d.Reason == verify.ReasonReplayed:
							refused.Add(1)
						default:
							t.Errorf("decision %+v", d)
						}
					}()
				}
				close(start)
				wg.Wait()
				if ok.Load() != 1 || refused.Load() != 31 {
					t.Fatalf("round %d: accepted %d, replayed %d; want 1 and 31", round, ok.Load(), refused.Load())
				}
			}
		})
	}
}

// Two verifiers enabling devices for one user at once never take it past 8.
func TestLimitAcrossVerifiers(t *testing.T) {
	for _, fac := range factories {
		t.Run(fac.name, func(t *testing.T) {
			e := newEnv(t, fac)
			svc2 := e.secondVerifier(t)
			e.user("alice")
			ids, seeds := e.hardware(12)
			for i := 0; i < 5; i++ {
				e.enable("alice", ids[i], seeds[i])
			}
			var wg sync.WaitGroup
			errs := make([]error, 7)
			start := make(chan struct{})
			for i := range errs {
				svc := e.svc
				if i%2 == 1 {
					svc = svc2
				}
				j := 5 + i
				c1, c2 := e.code(seeds[j], -1), e.code(seeds[j], 0)
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					errs[i] = svc.Enable(e.ctx, "alice", ids[j], c1, c2)
				}()
			}
			close(start)
			wg.Wait()
			ok, limited := 0, 0
			for _, err := range errs {
				switch verify.CodeOf(err) {
				case verify.ELIMIT:
					limited++
				default:
					if err != nil {
						t.Errorf("Enable: %v", err)
					} else {
						ok++
					}
				}
			}
			devs, _, _ := e.svc.ListDevices(e.ctx, "alice", verify.Page{})
			if ok != 3 || limited != 4 || len(devs) != 8 {
				t.Fatalf("enabled %d, limited %d, alice holds %d; want 3, 4, 8", ok, limited, len(devs))
			}
		})
	}
}

// secondVerifier is another verifier on e's database, through a store of
// its own, as another process sharing it would be.
func (e *env) secondVerifier(t *testing.T) *verify.Service {
	t.Helper()
	var st verify.Store
	var err error
	if strings.Contains(e.where, "search_path") {
		st, err = postgres.Open(e.ctx, e.where)
	} else {
		st, err = sqlite.Open(e.where)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return verify.New(st, e.sealer, verify.Config{Now: e.clock.Now})
}
