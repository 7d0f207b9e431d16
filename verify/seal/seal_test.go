package seal_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tokenlab/tokenlab/verify/seal"
)

func TestSealOpen(t *testing.T) {
	k, err := seal.NewKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := seal.New([]seal.Key{k}, k.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("12345678901234567890")
	id, ct, err := s.Seal(secret, []byte("device:A"))
	if err != nil {
		t.Fatal(err)
	}
	if id != k.ID || bytes.Contains(ct, secret) {
		t.Fatalf("Seal: id %q, ciphertext holds the plaintext: %v", id, bytes.Contains(ct, secret))
	}
	got, err := s.Open(id, ct, []byte("device:A"))
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	for _, tc := range []struct {
		name string
		id   string
		ct   []byte
		aad  string
		want error
	}{
		{"swapped row", id, ct, "device:B", seal.ErrOpen},
		{"unknown key", "kek-nope", ct, "device:A", seal.ErrUnknownKey},
		{"truncated", id, ct[:10], "device:A", seal.ErrOpen},
		{"flipped bit", id, append(append([]byte(nil), ct[:len(ct)-1]...), ct[len(ct)-1]^1), "device:A", seal.ErrOpen},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.Open(tc.id, tc.ct, []byte(tc.aad)); !errors.Is(err, tc.want) {
				t.Fatalf("Open = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestLoadOrCreateKEK(t *testing.T) {
	p := filepath.Join(t.TempDir(), "kek")
	// Several processes starting at once agree on one key.
	var wg sync.WaitGroup
	sealers := make([]*seal.Sealer, 8)
	errs := make([]error, 8)
	for i := range sealers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sealers[i], errs[i] = seal.LoadOrCreateKEK(p)
		}()
	}
	wg.Wait()
	for i := range sealers {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if sealers[i].Current() != sealers[0].Current() {
			t.Fatalf("sealer %d has current %s, sealer 0 %s", i, sealers[i].Current(), sealers[0].Current())
		}
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("KEK file mode %v, want 0600", fi.Mode().Perm())
	}
	id, ct, _ := sealers[0].Seal([]byte("seed"), []byte("x"))

	// Rotation: a new current key; the old still opens.
	s2, err := seal.AddKey(p)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Current() == id || len(s2.KeyIDs()) != 2 {
		t.Fatalf("after AddKey: current %s, keys %v", s2.Current(), s2.KeyIDs())
	}
	if pt, err := s2.Open(id, ct, []byte("x")); err != nil || string(pt) != "seed" {
		t.Fatalf("old ciphertext after AddKey: %q, %v", pt, err)
	}
	s3, err := seal.RetireKeys(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s3.Open(id, ct, []byte("x")); !errors.Is(err, seal.ErrUnknownKey) {
		t.Fatalf("retired key still opens: %v", err)
	}

	// A KEK file others can read is refused.
	os.Chmod(p, 0o644)
	if _, err := seal.Load(p); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("Load of a 0644 file = %v", err)
	}
}

func TestLoadRejectsGarbage(t *testing.T) {
	for name, body := range map[string]string{
		"empty":      "",
		"no current": "key k1 " + strings.Repeat("A", 43) + "=\n",
		"short key":  "current k1\nkey k1 AAAA\n",
		"unknown":    "current k2\nkey k1 " + strings.Repeat("A", 43) + "=\n",
		"junk":       "hello\n",
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "kek")
			os.WriteFile(p, []byte(body), 0o600)
			if _, err := seal.Load(p); err == nil {
				t.Fatal("Load accepted a bad file")
			}
		})
	}
}

// A Sealer loaded from a file follows a rotation made by another process.
func TestSealerFollowsFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "kek")
	running, err := seal.LoadOrCreateKEK(p)
	if err != nil {
		t.Fatal(err)
	}
	old := running.Current()
	admin, err := seal.AddKey(p) // "another process"
	if err != nil {
		t.Fatal(err)
	}
	id, ct, _ := admin.Seal([]byte("seed"), []byte("row"))
	if pt, err := running.Open(id, ct, []byte("row")); err != nil || string(pt) != "seed" {
		t.Fatalf("running sealer cannot open under the new key: %v", err)
	}
	if id2, _, _ := running.Seal([]byte("x"), nil); id2 != admin.Current() || id2 == old {
		t.Fatalf("running sealer seals under %s, want the new current %s", id2, admin.Current())
	}
	if _, err := seal.RetireKeys(p); err != nil {
		t.Fatal(err)
	}
	if id3, _, _ := running.Seal([]byte("x"), nil); id3 != admin.Current() {
		t.Fatalf("after retire: %s", id3)
	}
	if ids := running.KeyIDs(); len(ids) != 1 {
		t.Fatalf("running sealer still holds %v after retire", ids)
	}
}
