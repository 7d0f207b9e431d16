package token_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/tokenlab/tokenlab/token"
)

func TestSeedLength(t *testing.T) {
	if _, err := token.NewSeed(make([]byte, 15)); !errors.Is(err, token.ErrSeed) {
		t.Errorf("120-bit seed: %v, want ErrSeed", err)
	}
	if _, err := token.NewSeed(make([]byte, 16)); err != nil {
		t.Errorf("128-bit seed: %v", err)
	}
	if _, err := token.NewSeed(make([]byte, token.MaxSeedBytes+1)); !errors.Is(err, token.ErrSeed) {
		t.Errorf("oversized seed: %v, want ErrSeed", err)
	}
	// "JBSWY3DPEHPK3PXP" is the popular 80-bit demo secret.
	if _, err := token.ParseBase32Seed("JBSWY3DPEHPK3PXP"); !errors.Is(err, token.ErrSeed) {
		t.Errorf("80-bit base32 seed: %v, want ErrSeed", err)
	}
}

func TestParseBase32Seed(t *testing.T) {
	want := token.Seed("12345678901234567890")
	for _, in := range []string{
		"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
		"gezd gnbv gy3t qojq gezd gnbv gy3t qojq",
		"GEZD-GNBV-GY3T-QOJQ-GEZD-GNBV-GY3T-QOJQ",
	} {
		s, err := token.ParseBase32Seed(in)
		if err != nil || !bytes.Equal(s, want) {
			t.Errorf("ParseBase32Seed(%q) = %v, want the RFC seed", in, err)
		}
	}
	for _, c := range []struct{ name, in string }{
		{"empty", ""},
		{"digit 1 is not base32", "GEZDGNBVGY3TQOJ1GEZDGNBVGY3TQOJQ"},
		{"punctuation", "GEZDGNBVGY3TQOJQ!EZDGNBVGY3TQOJQ"},
		{"33 characters", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQA"},
		{"stray bits in the last character", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQAZ"},
	} {
		if _, err := token.ParseBase32Seed(c.in); !errors.Is(err, token.ErrSeed) {
			t.Errorf("%s: %v, want ErrSeed", c.name, err)
		}
	}
	if s, err := token.ParseHexSeed("3132333435363738393031323334353637383930"); err != nil || !bytes.Equal(s, want) {
		t.Errorf("ParseHexSeed: %v", err)
	}
}

// A seed never prints itself, whatever the verb, alone or inside a struct.
func TestSeedRedacted(t *testing.T) {
	seed := token.Seed("12345678901234567890")
	key := token.Key{Type: token.TOTP, Account: "alice", Seed: seed, Spec: token.DefaultSpec}
	leaks := []string{seed.Hex(), seed.Base32(), string(seed), strings.ToUpper(seed.Hex()), "49 50 51"}
	for _, v := range []any{seed, key, &key, []token.Seed{seed}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "% x", "%d"} {
			out := fmt.Sprintf(verb, v)
			for _, l := range leaks {
				if strings.Contains(out, l) {
					t.Errorf("fmt %s of %T printed the seed: %s", verb, v, out)
				}
			}
		}
	}
	if got := fmt.Sprint(seed); !strings.Contains(got, "redacted") {
		t.Errorf("Sprint(seed) = %q, want a redaction", got)
	}
	s2 := token.Seed(bytes.Clone(seed))
	s2.Wipe()
	if !bytes.Equal(s2, make([]byte, len(seed))) {
		t.Error("Wipe left bytes")
	}
}
