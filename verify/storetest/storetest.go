// Package storetest is the conformance suite every verify.Store passes:
// [Run] drives a fresh store through the typed helpers of verify.Tx, the
// conditional updates that keep codes from being used twice, and the group
// commit of Batch under concurrency.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) verify.Store { return openMyStore(t) })
//	}
package storetest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/internal/testtool"
	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/postgres"
)

// PostgresDSN returns a DSN for the test PostgreSQL (TOKENLAB_TEST_PG) whose
// search_path is a fresh schema of this test's own, dropped at cleanup. It
// skips the test (or fails it under TOKENLAB_REQUIRE_TOOLS=1) without one.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn, drop, err := postgres.TempSchema(context.Background(), testtool.PostgresDSN(t), "tokenlab_test_")
	if err != nil {
		t.Fatalf("TOKENLAB_TEST_PG: %v", err)
	}
	t.Cleanup(drop)
	return dsn
}

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func update(t *testing.T, s verify.Store, fn func(verify.Tx) error) {
	t.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func view(t *testing.T, s verify.Store, fn func(verify.Tx) error) {
	t.Helper()
	if err := s.View(context.Background(), fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

func wantCode(t *testing.T, err error, code verify.ErrorCode) {
	t.Helper()
	if verify.CodeOf(err) != code || err == nil {
		t.Fatalf("err = %v (%s), want %s", err, verify.CodeOf(err), code)
	}
}

func device(id string, user string) *verify.DeviceRecord {
	st := verify.StateAvailable
	if user != "" {
		st = verify.StateAssigned
	}
	return &verify.DeviceRecord{
		Device:     verify.Device{ID: id, Kind: verify.KindHardware, State: st, User: user, Spec: token.DefaultSpec, CreatedAt: t0},
		SealedSeed: []byte("sealed:" + id), KeyID: "k1",
	}
}

func user(name string) *verify.UserRecord {
	return &verify.UserRecord{User: verify.User{ID: "AIDA" + strings.ToUpper(name), Name: name, Path: "/", Arn: "arn:aws:iam::123456789012:user/" + name, CreatedAt: t0}}
}

// Run runs the conformance suite; open must return a fresh, empty store
// (closed by the caller's cleanup).
func Run(t *testing.T, open func(t *testing.T) verify.Store) {
	ctx := context.Background()

	t.Run("FIDO", func(t *testing.T) { fido(t, open) })

	t.Run("Users", func(t *testing.T) {
		s := open(t)
		update(t, s, func(tx verify.Tx) error {
			for _, n := range []string{"carol", "Alice", "bob"} {
				if err := tx.CreateUser(ctx, user(n)); err != nil {
					return err
				}
			}
			return nil
		})
		err := s.Update(ctx, func(tx verify.Tx) error { return tx.CreateUser(ctx, user("ALICE")) })
		wantCode(t, err, verify.ECONFLICT)
		view(t, s, func(tx verify.Tx) error {
			u, err := tx.User(ctx, "alice")
			if err != nil {
				return err
			}
			if u.Name != "Alice" || u.CreatedAt != t0 {
				t.Errorf("User(alice) = %+v", u)
			}
			_, err = tx.User(ctx, "dave")
			wantCode(t, err, verify.ENOTFOUND)
			us, err := tx.Users(ctx, "/", "", 2)
			if err != nil {
				return err
			}
			if len(us) != 2 || us[0].Name != "Alice" || us[1].Name != "bob" {
				t.Errorf("Users page 1 = %v", us)
			}
			us, err = tx.Users(ctx, "", "bob", 10)
			if err != nil {
				return err
			}
			if len(us) != 1 || us[0].Name != "carol" {
				t.Errorf("Users after bob = %v", us)
			}
			return nil
		})
		update(t, s, func(tx verify.Tx) error {
			u, err := tx.LockUser(ctx, "BOB")
			if err != nil {
				return err
			}
			u.Admin, u.PasswordHash = true, "$argon2id$x"
			if err := tx.UpdateUser(ctx, u); err != nil {
				return err
			}
			return tx.DeleteUser(ctx, "carol")
		})
		view(t, s, func(tx verify.Tx) error {
			u, err := tx.User(ctx, "bob")
			if err != nil {
				return err
			}
			if !u.Admin || u.PasswordHash != "$argon2id$x" {
				t.Errorf("bob after update = %+v", u)
			}
			_, err = tx.User(ctx, "carol")
			wantCode(t, err, verify.ENOTFOUND)
			return nil
		})
	})

	t.Run("UserDevice", func(t *testing.T) {
		s := open(t)
		update(t, s, func(tx verify.Tx) error {
			for _, n := range []string{"Alice", "bob"} {
				if err := tx.CreateUser(ctx, user(n)); err != nil {
					return err
				}
			}
			d := device("GAHT00000017", "Alice")
			d.Drift, d.LastStep, d.LockedUntil = -2, 99, t0.Add(time.Minute)
			if err := tx.CreateDevice(ctx, d); err != nil {
				return err
			}
			return tx.CreateDevice(ctx, device("GAHT00000025", ""))
		})
		// Every way a store answers it: on Peek where it has one, in a
		// transaction, and inside a group commit.
		ways := map[string]func(func(verify.Tx) error) error{
			"View":  func(fn func(verify.Tx) error) error { return s.View(ctx, fn) },
			"Batch": func(fn func(verify.Tx) error) error { return s.Batch(ctx, fn) },
		}
		if p, ok := s.(verify.Peeker); ok {
			ways["Peek"] = func(fn func(verify.Tx) error) error { return p.Peek(ctx, fn) }
		}
		for way, run := range ways {
			t.Run(way, func(t *testing.T) {
				for _, c := range []struct {
					user, dev, name, owner string
					code                   verify.ErrorCode
				}{
					{"alice", "GAHT00000017", "Alice", "Alice", ""}, // the owner, in another case
					{"BOB", "GAHT00000017", "bob", "Alice", ""},     // someone else's device
					{"Alice", "GAHT00000025", "Alice", "", ""},      // an unassigned one
					{"dave", "GAHT00000017", "", "", verify.ENOTFOUND},
					{"alice", "GAHT00000033", "", "", verify.ENOTFOUND},
					{"dave", "GAHT00000033", "", "", verify.ENOTFOUND},
				} {
					err := run(func(tx verify.Tx) error {
						name, d, err := tx.UserDevice(ctx, c.user, c.dev)
						if c.code != "" {
							if verify.CodeOf(err) != c.code {
								t.Errorf("UserDevice(%s, %s) = %v, want %s", c.user, c.dev, err, c.code)
							} else if want := "user with name " + c.user; strings.HasPrefix(c.user, "dave") && !strings.Contains(err.Error(), want) {
								t.Errorf("UserDevice(%s, %s) = %v: the unknown user comes first", c.user, c.dev, err)
							}
							return nil
						}
						if err != nil {
							return err
						}
						if name != c.name || d.ID != c.dev || d.User != c.owner || d.Spec != token.DefaultSpec || string(d.SealedSeed) != "sealed:"+c.dev || d.KeyID != "k1" {
							t.Errorf("UserDevice(%s, %s) = %q, %+v", c.user, c.dev, name, d)
						}
						if c.owner != "" && (d.State != verify.StateAssigned || d.Drift != -2 || d.LastStep != 99 || !d.LockedUntil.Equal(t0.Add(time.Minute))) {
							t.Errorf("UserDevice(%s, %s) state = %+v", c.user, c.dev, d)
						}
						return nil
					})
					if err != nil {
						t.Fatalf("%s: %v", way, err)
					}
				}
			})
		}
	})

	t.Run("RollbackOnError", func(t *testing.T) {
		s := open(t)
		boom := errors.New("boom")
		err := s.Update(ctx, func(tx verify.Tx) error {
			if err := tx.CreateUser(ctx, user("alice")); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Update = %v, want boom", err)
		}
		view(t, s, func(tx verify.Tx) error {
			_, err := tx.User(ctx, "alice")
			wantCode(t, err, verify.ENOTFOUND)
			return nil
		})
	})

	t.Run("Devices", func(t *testing.T) {
		s := open(t)
		update(t, s, func(tx verify.Tx) error {
			for _, id := range []string{"GAHT00000003", "GAHT00000001", "GAHT00000002"} {
				if err := tx.CreateDevice(ctx, device(id, "")); err != nil {
					return err
				}
			}
			d := device("arn:aws:iam::123456789012:mfa/v", "")
			d.Kind, d.Tags = verify.KindVirtual, map[string]string{"a": "b"}
			return tx.CreateDevice(ctx, d)
		})
		err := s.Update(ctx, func(tx verify.Tx) error { return tx.CreateDevice(ctx, device("GAHT00000001", "")) })
		wantCode(t, err, verify.ECONFLICT)
		view(t, s, func(tx verify.Tx) error {
			d, err := tx.Device(ctx, "GAHT00000001")
			if err != nil {
				return err
			}
			if string(d.SealedSeed) != "sealed:GAHT00000001" || d.KeyID != "k1" || d.Spec != token.DefaultSpec || d.State != verify.StateAvailable {
				t.Errorf("Device = %+v", d)
			}
			_, err = tx.Device(ctx, "GAHT00000009")
			wantCode(t, err, verify.ENOTFOUND)
			ds, err := tx.Devices(ctx, verify.DeviceFilter{Kind: verify.KindHardware}, "GAHT00000001", 10)
			if err != nil {
				return err
			}
			if len(ds) != 2 || ds[0].ID != "GAHT00000002" {
				t.Errorf("Devices after 1 = %v", ds)
			}
			v, err := tx.Device(ctx, "arn:aws:iam::123456789012:mfa/v")
			if err != nil {
				return err
			}
			if v.Tags["a"] != "b" {
				t.Errorf("tags = %v", v.Tags)
			}
			return nil
		})
	})

	t.Run("AssignAndAdvance", func(t *testing.T) {
		s := open(t)
		const id = "GAHT00000001"
		update(t, s, func(tx verify.Tx) error {
			if err := tx.CreateUser(ctx, user("alice")); err != nil {
				return err
			}
			if err := tx.CreateUser(ctx, user("bob")); err != nil {
				return err
			}
			return tx.CreateDevice(ctx, device(id, ""))
		})
		update(t, s, func(tx verify.Tx) error {
			ok, err := tx.Assign(ctx, verify.StepUpdate{ID: id, User: "alice", Above: 100, Step: 101, Drift: 1, Now: t0})
			if err != nil || !ok {
				t.Errorf("Assign = %v, %v; want true", ok, err)
			}
			ok, err = tx.Assign(ctx, verify.StepUpdate{ID: id, User: "bob", Above: 200, Step: 201, Now: t0})
			if err != nil || ok {
				t.Errorf("second Assign = %v, %v; want false", ok, err)
			}
			n, err := tx.CountDevices(ctx, "alice")
			if n != 1 || err != nil {
				t.Errorf("CountDevices = %d, %v", n, err)
			}
			return nil
		})
		adv := func(u string, above, step uint64, now time.Time) bool {
			var ok bool
			update(t, s, func(tx verify.Tx) (err error) {
				ok, err = tx.AdvanceStep(ctx, verify.StepUpdate{ID: id, User: u, Above: above, Step: step, Drift: 2, Now: now})
				return err
			})
			return ok
		}
		if adv("alice", 101, 101, t0) {
			t.Error("AdvanceStep to the used step 101 succeeded")
		}
		if adv("alice", 100, 100, t0) {
			t.Error("AdvanceStep backwards succeeded")
		}
		if adv("bob", 102, 102, t0) {
			t.Error("AdvanceStep for another user succeeded")
		}
		if !adv("alice", 102, 102, t0) {
			t.Error("AdvanceStep to 102 failed")
		}
		// Lock, then advance while locked.
		update(t, s, func(tx verify.Tx) error {
			for i := 1; i <= 3; i++ {
				f, until, err := tx.RecordFailure(ctx, id, func(n int) time.Time {
					if n >= 3 {
						return t0.Add(time.Minute)
					}
					return time.Time{}
				})
				if err != nil {
					return err
				}
				if f != i || (i == 3) != !until.IsZero() {
					t.Errorf("failure %d: %d, %v", i, f, until)
				}
			}
			return nil
		})
		if adv("alice", 103, 103, t0) {
			t.Error("AdvanceStep while locked succeeded")
		}
		if !adv("alice", 103, 103, t0.Add(time.Minute)) {
			t.Error("AdvanceStep after the lock failed")
		}
		view(t, s, func(tx verify.Tx) error {
			d, err := tx.Device(ctx, id)
			if err != nil {
				return err
			}
			if d.LastStep != 103 || d.Drift != 2 || d.Failures != 0 || !d.LockedUntil.IsZero() || d.User != "alice" {
				t.Errorf("after advance: %+v", d.Device)
			}
			return nil
		})
		// Detach keeps the last step; a re-assign must be above it.
		update(t, s, func(tx verify.Tx) error {
			u, err := tx.Detach(ctx, id, verify.StateAvailable)
			if u != "alice" || err != nil {
				t.Errorf("Detach = %q, %v", u, err)
			}
			ok, err := tx.Assign(ctx, verify.StepUpdate{ID: id, User: "bob", Above: 103, Step: 104, Now: t0})
			if ok || err != nil {
				t.Errorf("Assign at a used step = %v, %v", ok, err)
			}
			ok, err = tx.Assign(ctx, verify.StepUpdate{ID: id, User: "bob", Above: 104, Step: 105, Now: t0})
			if !ok || err != nil {
				t.Errorf("Assign above = %v, %v", ok, err)
			}
			u, err = tx.Detach(ctx, id, verify.StateLost)
			if u != "bob" || err != nil {
				t.Errorf("Detach lost = %q, %v", u, err)
			}
			ok, err = tx.Assign(ctx, verify.StepUpdate{ID: id, User: "bob", Above: 200, Step: 201, Now: t0})
			if ok || err != nil {
				t.Errorf("Assign of a lost device = %v, %v", ok, err)
			}
			return nil
		})
	})

	t.Run("BatchSameStepOneWins", func(t *testing.T) {
		s := open(t)
		const id = "GAHT00000001"
		update(t, s, func(tx verify.Tx) error {
			if err := tx.CreateUser(ctx, user("alice")); err != nil {
				return err
			}
			return tx.CreateDevice(ctx, device(id, "alice"))
		})
		var wins, losses atomic.Int32
		var wg sync.WaitGroup
		for i := 0; i < 32; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := s.Batch(ctx, func(tx verify.Tx) error {
					ok, err := tx.AdvanceStep(ctx, verify.StepUpdate{ID: id, User: "alice", Above: 500, Step: 500, Now: t0})
					if err != nil {
						return err
					}
					if ok {
						wins.Add(1)
					} else {
						losses.Add(1)
					}
					return tx.AppendAudit(ctx, &verify.AuditEvent{Time: t0, Action: "check", Device: id, Outcome: "x"})
				})
				if err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if wins.Load() != 1 || losses.Load() != 31 {
			t.Fatalf("wins %d losses %d, want 1 and 31", wins.Load(), losses.Load())
		}
		view(t, s, func(tx verify.Tx) error {
			evs, err := tx.Audit(ctx, verify.AuditFilter{Device: id, Limit: 100})
			if len(evs) != 32 || err != nil {
				t.Errorf("audit events = %d, %v; want 32", len(evs), err)
			}
			return nil
		})
	})

	t.Run("BatchErrorUndoesOnlyItsOwn", func(t *testing.T) {
		s := open(t)
		boom := errors.New("boom")
		var wg sync.WaitGroup
		errs := make([]error, 16)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = s.Batch(ctx, func(tx verify.Tx) error {
					if err := tx.CreateUser(ctx, user("u"+strings.Repeat("x", i))); err != nil {
						return err
					}
					if i%2 == 1 {
						return boom
					}
					return nil
				})
			}()
		}
		wg.Wait()
		view(t, s, func(tx verify.Tx) error {
			for i, err := range errs {
				_, uerr := tx.User(ctx, "u"+strings.Repeat("x", i))
				if i%2 == 1 {
					if !errors.Is(err, boom) || verify.CodeOf(uerr) != verify.ENOTFOUND {
						t.Errorf("op %d: err %v, user lookup %v; want boom and not found", i, err, uerr)
					}
				} else if err != nil || uerr != nil {
					t.Errorf("op %d: err %v, user lookup %v", i, err, uerr)
				}
			}
			return nil
		})
		// A store that counts its group commits counts the eight that
		// held, not the failed ones nor the reruns. (Without group
		// commit, Batch is a transaction of its own: nothing to count.)
		if r, ok := s.(verify.StatsReporter); ok {
			if st := r.Stats(); (st.Operations != 8 || st.Commits < 1 || st.Commits > 8) && st != (verify.StoreStats{}) {
				t.Errorf("stats: %d operations in %d commits, want 8 in 1 to 8", st.Operations, st.Commits)
			}
		}
	})

	t.Run("AccessKeysTokensAudit", func(t *testing.T) {
		s := open(t)
		update(t, s, func(tx verify.Tx) error {
			for _, k := range []*verify.AccessKeyRecord{
				{AccessKey: verify.AccessKey{ID: "AKIAAAAAAAAAAAAAAAA1", User: "alice", Status: "Active", CreatedAt: t0}, Sealed: []byte("s1"), KeyID: "k1"},
				{AccessKey: verify.AccessKey{ID: "ASIAAAAAAAAAAAAAAAA2", User: "alice", Status: "Active", CreatedAt: t0, Expires: t0.Add(time.Hour), MFA: true, MFADevice: "GAHT00000001"}, Session: true, Sealed: []byte("s2"), KeyID: "k1"},
			} {
				if err := tx.CreateAccessKey(ctx, k); err != nil {
					return err
				}
			}
			if err := tx.CreateAPIToken(ctx, "ops", []byte("hash-of-secret"), t0); err != nil {
				return err
			}
			for i := 0; i < 3; i++ {
				if err := tx.AppendAudit(ctx, &verify.AuditEvent{Time: t0.Add(time.Duration(i) * time.Second), Actor: "ops", Action: []string{"enable", "check", "check"}[i], User: "alice", Device: "GAHT00000001", Outcome: "ok"}); err != nil {
					return err
				}
			}
			return nil
		})
		err := s.Update(ctx, func(tx verify.Tx) error { return tx.CreateAPIToken(ctx, "ops", []byte("other"), t0) })
		wantCode(t, err, verify.ECONFLICT)
		view(t, s, func(tx verify.Tx) error {
			ks, err := tx.AccessKeys(ctx, "alice", false)
			if err != nil || len(ks) != 1 || ks[0].ID != "AKIAAAAAAAAAAAAAAAA1" || string(ks[0].Sealed) != "s1" {
				t.Errorf("long-term keys = %v, %v", ks, err)
			}
			k, err := tx.AccessKey(ctx, "ASIAAAAAAAAAAAAAAAA2")
			if err != nil || !k.Session || !k.MFA || k.MFADevice != "GAHT00000001" || !k.Expires.Equal(t0.Add(time.Hour)) {
				t.Errorf("session key = %+v, %v", k, err)
			}
			name, stored, err := tx.APIToken(ctx, []byte("hash-of-secret"))
			if name != "ops" || string(stored) != "hash-of-secret" || err != nil {
				t.Errorf("APIToken = %q, %q, %v", name, stored, err)
			}
			_, _, err = tx.APIToken(ctx, []byte("nope"))
			wantCode(t, err, verify.EUNAUTHORIZED)
			evs, err := tx.Audit(ctx, verify.AuditFilter{Action: "check"})
			if err != nil || len(evs) != 2 || evs[0].Time.Before(evs[1].Time) {
				t.Errorf("audit(check) = %v, %v", evs, err)
			}
			evs, err = tx.Audit(ctx, verify.AuditFilter{Since: t0.Add(2 * time.Second)})
			if err != nil || len(evs) != 1 {
				t.Errorf("audit since = %v, %v", evs, err)
			}
			return nil
		})
		update(t, s, func(tx verify.Tx) error {
			n, err := tx.DeleteSessionKeys(ctx, "", t0.Add(2*time.Hour))
			if n != 1 || err != nil {
				t.Errorf("DeleteSessionKeys = %d, %v", n, err)
			}
			return tx.DeleteAccessKey(ctx, "AKIAAAAAAAAAAAAAAAA1")
		})
		err = s.Update(ctx, func(tx verify.Tx) error { return tx.DeleteAccessKey(ctx, "AKIAAAAAAAAAAAAAAAA1") })
		wantCode(t, err, verify.ENOTFOUND)
	})

	t.Run("Reseal", func(t *testing.T) {
		s := open(t)
		update(t, s, func(tx verify.Tx) error {
			if err := tx.CreateDevice(ctx, device("GAHT00000001", "")); err != nil {
				return err
			}
			return tx.CreateAccessKey(ctx, &verify.AccessKeyRecord{AccessKey: verify.AccessKey{ID: "AKIAAAAAAAAAAAAAAAA1", User: "a", Status: "Active", CreatedAt: t0}, Sealed: []byte("s1"), KeyID: "k1"})
		})
		update(t, s, func(tx verify.Tx) error {
			n, err := tx.Reseal(ctx, func(x verify.Sealed) (string, []byte, error) {
				return "k2", append([]byte("re:"), x.Ciphertext...), nil
			})
			if n != 2 || err != nil {
				t.Errorf("Reseal = %d, %v", n, err)
			}
			return err
		})
		view(t, s, func(tx verify.Tx) error {
			d, _ := tx.Device(ctx, "GAHT00000001")
			k, _ := tx.AccessKey(ctx, "AKIAAAAAAAAAAAAAAAA1")
			if d.KeyID != "k2" || string(d.SealedSeed) != "re:sealed:GAHT00000001" || k.KeyID != "k2" || string(k.Sealed) != "re:s1" {
				t.Errorf("after reseal: %q %q %q %q", d.KeyID, d.SealedSeed, k.KeyID, k.Sealed)
			}
			return nil
		})
	})
}
