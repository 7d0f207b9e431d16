package token

import (
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MinSeedBytes is the shortest seed accepted: 128 bits (RFC 4226 §4, R6).
const MinSeedBytes = 16

// MaxSeedBytes bounds a seed; no OATH token uses more than a SHA-512 block.
const MaxSeedBytes = 128

// ErrSeed is matched by every error about a malformed or short seed.
var ErrSeed = errors.New("token: invalid seed")

// Seed is the shared secret of an OATH token. It redacts itself when
// printed with fmt, so it cannot leak into a log line by accident; use
// [Seed.Base32] or [Seed.Hex] where the secret must really leave.
type Seed []byte

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewSeed checks b's length (128 bits at least) and returns it as a Seed.
func NewSeed(b []byte) (Seed, error) {
	if len(b) < MinSeedBytes {
		return nil, fmt.Errorf("%w: %d bits, want at least %d", ErrSeed, len(b)*8, MinSeedBytes*8)
	}
	if len(b) > MaxSeedBytes {
		return nil, fmt.Errorf("%w: %d bytes, want at most %d", ErrSeed, len(b), MaxSeedBytes)
	}
	return Seed(b), nil
}

// ParseBase32Seed decodes an RFC 4648 base32 seed as authenticator apps
// show it: case, spaces, dashes and padding do not matter.
func ParseBase32Seed(s string) (Seed, error) {
	clean := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '=', '\t':
			return -1
		}
		if r >= 'a' && r <= 'z' {
			return r - 'a' + 'A'
		}
		return r
	}, s)
	if clean == "" {
		return nil, fmt.Errorf("%w: empty base32 seed", ErrSeed)
	}
	b, err := b32.DecodeString(clean)
	if err != nil {
		var ce base32.CorruptInputError
		if errors.As(err, &ce) {
			return nil, fmt.Errorf("%w: bad base32 at character %d", ErrSeed, int64(ce)+1)
		}
		return nil, fmt.Errorf("%w: bad base32", ErrSeed)
	}
	// encoding/base32 without padding accepts lengths no encoder writes
	// (33 characters) and stray bits in the last character, dropping them
	// silently; a mistyped seed must not decode to a different secret.
	switch len(clean) % 8 {
	case 1, 3, 6:
		return nil, fmt.Errorf("%w: bad base32: %d characters is not a whole number of bytes", ErrSeed, len(clean))
	}
	if b32.EncodeToString(b) != clean {
		return nil, fmt.Errorf("%w: bad base32: the last character has stray bits", ErrSeed)
	}
	return NewSeed(b)
}

// ParseHexSeed decodes a seed written as hex digits (spaces ignored).
func ParseHexSeed(s string) (Seed, error) {
	clean := strings.ReplaceAll(strings.TrimSpace(s), " ", "")
	b, err := hex.DecodeString(clean)
	if err != nil {
		return nil, fmt.Errorf("%w: bad hex", ErrSeed)
	}
	return NewSeed(b)
}

// GenerateSeed reads a fresh seed of alg's recommended size from rand
// (crypto/rand.Reader outside tests).
func GenerateSeed(rand io.Reader, alg Algorithm) (Seed, error) {
	b := make([]byte, alg.SeedSize())
	if _, err := io.ReadFull(rand, b); err != nil {
		return nil, fmt.Errorf("token: generating seed: %w", err)
	}
	return Seed(b), nil
}

// Base32 returns the seed in unpadded upper-case base32, as otpauth URIs
// and the IAM Base32StringSeed carry it.
func (s Seed) Base32() string { return b32.EncodeToString(s) }

// Hex returns the seed as lower-case hex.
func (s Seed) Hex() string { return hex.EncodeToString(s) }

// String redacts the seed.
func (s Seed) String() string { return fmt.Sprintf("Seed(%d bytes, redacted)", len(s)) }

// GoString redacts the seed.
func (s Seed) GoString() string { return s.String() }

// Format redacts the seed for every verb, %x and %v included.
func (s Seed) Format(f fmt.State, _ rune) { io.WriteString(f, s.String()) }

// Wipe overwrites the seed's bytes with zeros.
func (s Seed) Wipe() { clear(s) }
