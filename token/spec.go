package token

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
	"strings"
	"time"
)

// Algorithm is the HMAC hash of an OATH token (RFC 6238 §1.2).
type Algorithm uint8

const (
	SHA1 Algorithm = iota + 1
	SHA256
	SHA512
)

// ErrSpec is matched by every error about a malformed algorithm, digit
// count or period.
var ErrSpec = errors.New("token: invalid spec")

// ParseAlgorithm accepts SHA1, SHA256 and SHA512 in any case, with or
// without a dash (SHA-256), and the HMAC- prefix PSKC and some CSVs use.
func ParseAlgorithm(s string) (Algorithm, error) {
	u := strings.ToUpper(strings.TrimSpace(s))
	u = strings.TrimPrefix(u, "HMAC-")
	u = strings.ReplaceAll(u, "-", "")
	switch u {
	case "SHA1":
		return SHA1, nil
	case "SHA256":
		return SHA256, nil
	case "SHA512":
		return SHA512, nil
	}
	return 0, fmt.Errorf("%w: unknown algorithm %q (want SHA1, SHA256 or SHA512)", ErrSpec, truncate(s))
}

func (a Algorithm) String() string {
	switch a {
	case SHA1:
		return "SHA1"
	case SHA256:
		return "SHA256"
	case SHA512:
		return "SHA512"
	}
	return fmt.Sprintf("Algorithm(%d)", uint8(a))
}

// Hash returns the hash constructor for a.
func (a Algorithm) Hash() func() hash.Hash {
	switch a {
	case SHA256:
		return sha256.New
	case SHA512:
		return sha512.New
	}
	return sha1.New
}

// SeedSize is the seed length RFC 4226 §4 and RFC 6238 recommend for a:
// the hash's output size (20, 32 or 64 bytes).
func (a Algorithm) SeedSize() int {
	switch a {
	case SHA256:
		return 32
	case SHA512:
		return 64
	}
	return 20
}

// Spec is how a token turns a seed and a time into a code.
// The zero value is not valid; start from [DefaultSpec].
type Spec struct {
	Algorithm Algorithm
	Digits    int           // 6 or 8
	Period    time.Duration // 30 s or 60 s
}

// DefaultSpec is the spec of IAM virtual MFA devices and most key fobs:
// HMAC-SHA1, 6 digits, 30 seconds.
var DefaultSpec = Spec{Algorithm: SHA1, Digits: 6, Period: 30 * time.Second}

// Validate reports what is wrong with s, or nil.
func (s Spec) Validate() error {
	switch s.Algorithm {
	case SHA1, SHA256, SHA512:
	default:
		return fmt.Errorf("%w: unknown algorithm %v", ErrSpec, s.Algorithm)
	}
	if err := ValidDigits(s.Digits); err != nil {
		return err
	}
	return ValidPeriod(s.Period)
}

// ValidDigits accepts the code lengths tokens display: 6 or 8.
func ValidDigits(d int) error {
	if d != 6 && d != 8 {
		return fmt.Errorf("%w: %d digits (want 6 or 8)", ErrSpec, d)
	}
	return nil
}

// ValidPeriod accepts the time steps tokens use: 30 or 60 seconds.
func ValidPeriod(p time.Duration) error {
	if p != 30*time.Second && p != 60*time.Second {
		return fmt.Errorf("%w: period %v (want 30s or 60s)", ErrSpec, p)
	}
	return nil
}

func (s Spec) String() string {
	return fmt.Sprintf("%v/%d digits/%ds", s.Algorithm, s.Digits, int(s.Period/time.Second))
}

// Step returns the RFC 6238 time step T = floor(unix time / period) for t.
// Times before the Unix epoch, and every time under a period shorter than a
// second (an invalid spec), map to step 0.
func (s Spec) Step(t time.Time) uint64 {
	u, p := t.Unix(), s.Period/time.Second
	if u < 0 || p <= 0 {
		return 0
	}
	return uint64(u) / uint64(p)
}

// StepStart returns the first instant of time step n.
func (s Spec) StepStart(n uint64) time.Time {
	return time.Unix(int64(n)*int64(s.Period/time.Second), 0).UTC()
}

// TOTP returns the RFC 6238 code of seed at time t.
func (s Spec) TOTP(seed Seed, t time.Time) string {
	return s.HOTP(seed, s.Step(t))
}

// HOTP returns the RFC 4226 code of seed for counter c, with s's hash and
// digits; "" when s's digits are not 1 to 9.
func (s Spec) HOTP(seed Seed, c uint64) string {
	var buf [8]byte
	return string(AppendHOTP(buf[:0], s.Algorithm, s.Digits, seed, c))
}
