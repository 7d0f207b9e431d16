package token_test

import (
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/token"
)

// RFC 4226 Appendix D: HOTP of the ASCII secret "12345678901234567890".
var rfc4226Codes = []string{
	"755224", "287082", "359152", "969429", "338314",
	"254676", "287922", "162583", "399871", "520489",
}

func TestRFC4226AppendixD(t *testing.T) {
	seed := token.Seed("12345678901234567890")
	h := token.NewHOTPer(token.SHA1, 6, seed)
	for c, want := range rfc4226Codes {
		if got := token.DefaultSpec.HOTP(seed, uint64(c)); got != want {
			t.Errorf("Spec.HOTP(count %d) = %s, want %s", c, got, want)
		}
		if got := string(h.Append(nil, uint64(c))); got != want {
			t.Errorf("HOTPer.Append(count %d) = %s, want %s", c, got, want)
		}
	}
}

func TestTOTPStep(t *testing.T) {
	s := token.DefaultSpec
	for _, c := range []struct {
		unix int64
		step uint64
	}{{0, 0}, {29, 0}, {30, 1}, {59, 1}, {1111111109, 37037036}, {-5, 0}} {
		if got := s.Step(time.Unix(c.unix, 0)); got != c.step {
			t.Errorf("Step(%d) = %d, want %d", c.unix, got, c.step)
		}
	}
	if got := s.StepStart(37037036); got.Unix() != 1111111080 {
		t.Errorf("StepStart = %v", got)
	}
}

func TestSpecValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		spec token.Spec
	}{
		{"digits 7", token.Spec{Algorithm: token.SHA1, Digits: 7, Period: 30 * time.Second}},
		{"period 0", token.Spec{Algorithm: token.SHA1, Digits: 6}},
		{"period 45s", token.Spec{Algorithm: token.SHA1, Digits: 6, Period: 45 * time.Second}},
		{"no algorithm", token.Spec{Digits: 6, Period: 30 * time.Second}},
	} {
		if err := c.spec.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %v", c.name, c.spec)
		}
	}
	if err := token.DefaultSpec.Validate(); err != nil {
		t.Error(err)
	}
	for _, in := range []string{"sha1", "SHA-256", "HMAC-SHA512"} {
		if _, err := token.ParseAlgorithm(in); err != nil {
			t.Errorf("ParseAlgorithm(%q): %v", in, err)
		}
	}
	if _, err := token.ParseAlgorithm("MD5"); err == nil {
		t.Error("ParseAlgorithm(MD5) accepted")
	}
}

// An invalid spec gives no code, and no panic.
func TestInvalidSpecNoPanic(t *testing.T) {
	seed := token.Seed("12345678901234567890")
	for _, s := range []token.Spec{{}, {Digits: 12, Period: 30 * time.Second}, {Digits: -1}, {Digits: 6, Period: time.Millisecond}} {
		if c := s.TOTP(seed, time.Unix(1e9, 0)); c != "" && s.Digits != 6 {
			t.Errorf("%+v: code %q", s, c)
		}
		s.Step(time.Unix(1e9, 0))
	}
	if got := token.AppendCode(nil, 5, -3); len(got) != 0 {
		t.Errorf("AppendCode with -3 digits: %q", got)
	}
	if got := token.NewHOTPer(token.SHA1, 0, seed).Append(nil, 1); len(got) != 0 {
		t.Errorf("HOTPer with 0 digits: %q", got)
	}
}

// A verifier scans a window with one HOTPer per check: after the first
// code (whose Reset saves the HMAC state), a code costs no allocation.
func TestHOTPerAllocs(t *testing.T) {
	for _, alg := range []token.Algorithm{token.SHA1, token.SHA256, token.SHA512} {
		h := token.NewHOTPer(alg, 8, token.Seed("12345678901234567890"))
		var buf [10]byte
		h.Append(buf[:0], 0)
		c := uint64(1)
		if n := testing.AllocsPerRun(100, func() { h.Append(buf[:0], c); c++ }); n != 0 {
			t.Errorf("%v: %.1f allocations per code, want 0", alg, n)
		}
	}
}
