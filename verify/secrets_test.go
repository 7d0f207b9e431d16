package verify_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tokenlab/tokenlab/internal/testtool"
	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/seal"
)

// secretForms returns every way a secret could be written down.
func secretForms(raw []byte) [][]byte {
	s := token.Seed(raw)
	b32 := s.Base32()
	return [][]byte{raw, []byte(hex.EncodeToString(raw)), []byte(strings.ToUpper(hex.EncodeToString(raw))),
		[]byte(b32), []byte(strings.ToLower(b32))}
}

// findLeaks lists which of the secrets appear in any form in data.
func findLeaks(data []byte, secrets map[string][]byte) []string {
	var found []string
	for name, raw := range secrets {
		for i, f := range secretForms(raw) {
			if bytes.Contains(data, f) {
				found = append(found, fmt.Sprintf("%s (form %d)", name, i))
			}
		}
	}
	return found
}

func leaks(t *testing.T, what string, data []byte, secrets map[string][]byte) {
	t.Helper()
	if len(data) == 0 {
		t.Fatalf("%s: nothing to search", what)
	}
	for _, f := range findLeaks(data, secrets) {
		t.Errorf("%s holds %s in the clear", what, f)
	}
}

// clearSealer "seals" by copying: the leak search must catch it.
type clearSealer struct{}

func (clearSealer) Seal(p, _ []byte) (string, []byte, error) {
	return "clear", append([]byte(nil), p...), nil
}
func (clearSealer) Open(_ string, c, _ []byte) ([]byte, error) { return append([]byte(nil), c...), nil }

func TestLeakSearchFindsClearSeeds(t *testing.T) {
	for _, fac := range factories {
		t.Run(fac.name, func(t *testing.T) {
			e := newEnv(t, fac)
			e.svc = verify.New(e.store, clearSealer{}, verify.Config{Now: e.clock.Now})
			e.user("alice")
			_, seeds := e.hardware(1)
			var dump []byte
			if strings.Contains(e.where, "search_path") {
				dump = pgDump(t, e.where)
			} else {
				dump, _ = os.ReadFile(e.where + "-wal")
			}
			if len(findLeaks(dump, map[string][]byte{"seed": seeds[0]})) == 0 {
				t.Fatal("a seed stored in the clear was not found: the leak search is blind")
			}
		})
	}
}

// populate enrolls devices, keys and sessions, and returns every secret
// the verifier handed out, by name.
func populate(t *testing.T, e *env) map[string][]byte {
	e.user("alice")
	ids, seeds := e.hardware(4)
	secrets := map[string][]byte{}
	for i, s := range seeds {
		secrets["seed of "+ids[i]] = s
	}
	for i := 0; i < 3; i++ {
		v := e.virtual("phone-" + string(rune('a'+i)))
		secrets["seed of "+v.ID] = v.Seed
	}
	e.enable("alice", ids[0], seeds[0])
	e.clock.Advance(30 * time.Second)
	c := e.code(seeds[0], 0)
	wantDecision(t, e.check("alice", ids[0], c), true, "")
	wantDecision(t, e.check("alice", ids[0], c), false, verify.ReasonReplayed)
	// Enough wrong codes to lock, so the lock is logged too.
	for i := 0; i < 5; i++ {
		e.check("alice", ids[1], "000000")
	}
	e.enable("alice", ids[1], seeds[1])
	for i := 0; i < 5; i++ {
		e.check("alice", ids[1], "000000")
	}
	e.clock.Advance(time.Hour)
	k, err := e.svc.CreateAccessKey(e.ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	secrets["access key secret"] = []byte(k.Secret)
	e.clock.Advance(30 * time.Second)
	s, err := e.svc.CreateSession(e.ctx, "alice", ids[0], e.code(seeds[0], 0), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	secrets["session secret"] = []byte(s.Secret)
	secrets["session token"] = []byte(s.SessionToken)
	tok, err := e.svc.CreateAPIToken(e.ctx, "ops")
	if err != nil {
		t.Fatal(err)
	}
	secrets["API token"] = []byte(tok)
	return secrets
}

func TestNoSecretInTheClear(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		secrets := populate(t, e)
		// Rotate the KEK too: the re-sealed rows must not leak either.
		next, err := seal.AddKey(e.kekPath)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := e.svc.RotateKEK(e.ctx, next); err != nil || n != 9 { // 7 seeds + 2 keys
			t.Fatalf("RotateKEK = %d, %v", n, err)
		}
		var dump []byte
		if strings.Contains(e.where, "search_path") {
			dump = pgDump(t, e.where)
		} else {
			for _, suffix := range []string{"", "-wal", "-shm"} {
				b, err := os.ReadFile(e.where + suffix)
				if err != nil && suffix != "-shm" {
					t.Fatal(err)
				}
				dump = append(dump, b...)
			}
		}
		// The dump does hold the sealed rows (so the search means something).
		if !bytes.Contains(dump, []byte("GAHT0000001")) {
			t.Fatal("the dump does not even hold the serials")
		}
		leaks(t, "the database", dump, secrets)
		leaks(t, "the log", e.logs.Bytes(), secrets)
		if !bytes.Contains(e.logs.Bytes(), []byte("locked")) {
			t.Errorf("the log does not even mention the lock:\n%s", e.logs.Bytes())
		}
		for _, c := range e.codes {
			if bytes.Contains(e.logs.Bytes(), []byte(`"`+c+`"`)) {
				t.Errorf("the log holds the code %s", c)
			}
		}
		evs, err := e.svc.Audit(e.ctx, verify.AuditFilter{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		var audit bytes.Buffer
		for _, ev := range evs {
			audit.WriteString(ev.Actor + ev.Action + ev.User + ev.Device + ev.Outcome + ev.Reason + ev.Source + "\n")
		}
		leaks(t, "the audit log", audit.Bytes(), secrets)
	})
}

// pgDump returns the schema's data as pg_dump writes it and, whether or not
// pg_dump is there, every row as text.
func pgDump(t *testing.T, dsn string) []byte {
	t.Helper()
	base, schema, ok := strings.Cut(dsn, "search_path=")
	if !ok {
		t.Fatalf("DSN %q has no search_path", dsn)
	}
	base = strings.TrimRight(base, "&? ")
	var out bytes.Buffer
	if _, err := os.Stat("/usr/lib/postgresql/15/bin/pg_dump"); err == nil {
		cmd := exec.Command("/usr/lib/postgresql/15/bin/pg_dump", "--data-only", "-n", schema, "-d", base)
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("pg_dump: %v", err)
		}
		out.Write(b)
	} else if testtool.Required() {
		t.Fatal("pg_dump is missing")
	}
	ctx := context.Background()
	c, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(ctx)
	for _, tab := range []string{"users", "devices", "access_keys", "api_tokens", "audit"} {
		rows, err := c.Query(ctx, `SELECT t::text, encode(convert_to(t::text, 'UTF8'), 'escape') FROM `+tab+` t`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var a, b string
			if err := rows.Scan(&a, &b); err != nil {
				t.Fatal(err)
			}
			out.WriteString(a + "\n" + b + "\n")
		}
		rows.Close()
	}
	// Also every bytea column decoded, in case a secret hides in raw bytes.
	rows, err := c.Query(ctx, `SELECT seed FROM devices UNION ALL SELECT secret FROM access_keys UNION ALL SELECT hash FROM api_tokens`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var b []byte
		rows.Scan(&b)
		out.Write(b)
		out.WriteByte('\n')
	}
	rows.Close()
	return out.Bytes()
}

func TestRotateKEK(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		e.user("alice")
		ids, seeds := e.hardware(2)
		e.enable("alice", ids[0], seeds[0])
		k, err := e.svc.CreateAccessKey(e.ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		old := e.sealer.Current()
		next, err := seal.AddKey(e.kekPath)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.RotateKEK(e.ctx, next); err != nil {
			t.Fatal(err)
		}
		// Every row is now under the new key: retiring the old one is safe.
		usage, err := e.svc.KeyUsage(e.ctx)
		if err != nil || len(usage) != 1 || usage[next.Current()] != 3 {
			t.Fatalf("KeyUsage = %v, %v; want 3 under %s only", usage, err, next.Current())
		}
		retired, err := seal.RetireKeys(e.kekPath)
		if err != nil {
			t.Fatal(err)
		}
		if retired.Current() == old || len(retired.KeyIDs()) != 1 {
			t.Fatalf("after retire: %v", retired.KeyIDs())
		}
		svc := verify.New(e.store, retired, verify.Config{Now: e.clock.Now})
		e.clock.Advance(30 * time.Second)
		if d, err := svc.Check(e.ctx, "alice", ids[0], e.code(seeds[0], 0)); err != nil || !d.Accepted {
			t.Fatalf("Check after rotation: %+v, %v", d, err)
		}
		if err := svc.Enable(e.ctx, "alice", ids[1], e.code(seeds[1], -1), e.code(seeds[1], 0)); err != nil {
			t.Fatalf("Enable after rotation: %v", err)
		}
		if got, err := svc.LookupAccessKey(e.ctx, k.ID); err != nil || got.Secret != k.Secret {
			t.Fatalf("LookupAccessKey after rotation: %v", err)
		}
		// A verifier still on the retired key cannot open the re-sealed rows:
		// that is an internal error, not a wrong code.
		other := filepath.Join(t.TempDir(), "other-kek")
		otherSealer, _ := seal.LoadOrCreateKEK(other)
		bad := verify.New(e.store, otherSealer, verify.Config{Now: e.clock.Now})
		e.clock.Advance(30 * time.Second)
		_, err = bad.Check(e.ctx, "alice", ids[0], e.code(seeds[0], 0))
		wantErr(t, err, verify.EINTERNAL, "")
	})
}

// A ciphertext moved onto another row does not open (the AAD binds it).
func TestSwappedSeedFails(t *testing.T) {
	forEachStore(t, func(t *testing.T, e *env) {
		e.user("alice")
		ids, seeds := e.hardware(2)
		err := e.store.Update(e.ctx, func(tx verify.Tx) error {
			a, err := tx.Device(e.ctx, ids[0])
			if err != nil {
				return err
			}
			b, err := tx.Device(e.ctx, ids[1])
			if err != nil {
				return err
			}
			if err := tx.DeleteDevice(e.ctx, ids[1]); err != nil {
				return err
			}
			b.SealedSeed, b.KeyID = a.SealedSeed, a.KeyID
			return tx.CreateDevice(e.ctx, b)
		})
		if err != nil {
			t.Fatal(err)
		}
		// Even with the seed of ids[0] the swapped row does not verify.
		err = e.svc.Enable(e.ctx, "alice", ids[1], e.code(seeds[0], -1), e.code(seeds[0], 0))
		wantErr(t, err, verify.EINTERNAL, "")
		_ = seeds
	})
}
