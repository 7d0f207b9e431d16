package token_test

import (
	"crypto/hmac"
	"encoding/binary"
	"math/rand/v2"
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

// RFC 6238 Appendix B: TOTP with 8 digits and a 30 s step; each hash has
// its own seed, "1234567890" repeated to the hash's output size.
var rfc6238Vectors = []struct {
	alg  token.Algorithm
	unix int64
	code string
}{
	{token.SHA1, 59, "94287082"},
	{token.SHA256, 59, "46119246"},
	{token.SHA512, 59, "90693936"},
	{token.SHA1, 1111111109, "07081804"},
	{token.SHA256, 1111111109, "68084774"},
	{token.SHA512, 1111111109, "25091201"},
	{token.SHA1, 1111111111, "14050471"},
	{token.SHA256, 1111111111, "67062674"},
	{token.SHA512, 1111111111, "99943326"},
	{token.SHA1, 1234567890, "89005924"},
	{token.SHA256, 1234567890, "91819424"},
	{token.SHA512, 1234567890, "93441116"},
	{token.SHA1, 2000000000, "69279037"},
	{token.SHA256, 2000000000, "90698825"},
	{token.SHA512, 2000000000, "38618901"},
	{token.SHA1, 20000000000, "65353130"},
	{token.SHA256, 20000000000, "77737706"},
	{token.SHA512, 20000000000, "47863826"},
}

func TestRFC6238AppendixB(t *testing.T) {
	const digits = "1234567890123456789012345678901234567890123456789012345678901234"
	for _, v := range rfc6238Vectors {
		seed := token.Seed(digits[:v.alg.SeedSize()])
		spec := token.Spec{Algorithm: v.alg, Digits: 8, Period: 30 * time.Second}
		if got := spec.TOTP(seed, time.Unix(v.unix, 0)); got != v.code {
			t.Errorf("%v at %d: TOTP = %s, want %s", v.alg, v.unix, got, v.code)
		}
		h := token.NewHOTPer(v.alg, 8, seed)
		if got := string(h.Append(nil, spec.Step(time.Unix(v.unix, 0)))); got != v.code {
			t.Errorf("%v at %d: HOTPer.Append = %s, want %s", v.alg, v.unix, got, v.code)
		}
	}
}

// hmacHOTP is the reference: RFC 4226 §5.3 over crypto/hmac, with the hash
// Algorithm.Hash gives (SHA-1 for an unknown algorithm).
func hmacHOTP(alg token.Algorithm, key []byte, c uint64) uint32 {
	m := hmac.New(alg.Hash(), key)
	m.Write(binary.BigEndian.AppendUint64(nil, c))
	s := m.Sum(nil)
	off := s[len(s)-1] & 0x0f
	return binary.BigEndian.Uint32(s[off:]) & 0x7fffffff
}

// The HMAC in token is checked against crypto/hmac at every key length
// where RFC 2104 changes course: empty, shorter than the hash, the hash's
// size, one block (not hashed), one byte over (hashed first), for SHA-1
// and SHA-256's 64-byte block and SHA-512's 128-byte block. A 9-digit
// code is the 31 truncated bits modulo 10⁹, so over 205 counters a wrong
// HMAC (long keys not hashed, ipad and opad swapped, a block size off)
// cannot pass.
func TestHOTPMatchesCryptoHMAC(t *testing.T) {
	rng := rand.New(rand.NewPCG(4226, 6238))
	lengths := []int{0, 1, 19, 20, 32, 63, 64, 65, 127, 128, 129, 200}
	algs := []token.Algorithm{token.SHA1, token.SHA256, token.SHA512, 0, 9}
	for _, alg := range algs {
		for _, n := range lengths {
			key := make([]byte, n)
			for i := range key {
				key[i] = byte(rng.Uint32())
			}
			h := token.NewHOTPer(alg, 9, key)
			counters := []uint64{0, 1, 1<<32 - 1, 1 << 32, 1<<64 - 1}
			for range 200 {
				counters = append(counters, rng.Uint64()>>rng.IntN(64))
			}
			for _, c := range counters {
				want := hmacHOTP(alg, key, c)
				if got := h.Value(c); got != want%1_000_000_000 {
					t.Fatalf("%v, %d-byte key, counter %d: HOTPer.Value = %d, crypto/hmac gives %d", alg, n, c, got, want%1_000_000_000)
				}
				d := 1 + int(c%9)
				w := string(token.AppendCode(nil, want%pow10(d), d))
				if got := string(token.AppendHOTP(nil, alg, d, key, c)); got != w {
					t.Fatalf("%v, %d-byte key, counter %d: AppendHOTP(%d digits) = %s, crypto/hmac gives %s", alg, n, c, d, got, w)
				}
			}
		}
	}
}

// A HOTPer set up again for another key (SHA-512's long pads, then SHA-1's
// short ones) gives that key's codes; a wiped one gives none.
func TestHOTPerInitWipe(t *testing.T) {
	long := token.Seed("1234567890123456789012345678901234567890123456789012345678901234")
	short := token.Seed("12345678901234567890")
	var h token.HOTPer
	h.Init(token.SHA512, 8, long)
	if got := string(h.Append(nil, 1)); got != "90693936" {
		t.Errorf("SHA512 at step 1: %s, want 90693936 (RFC 6238 Appendix B)", got)
	}
	h.Init(token.SHA1, 6, short)
	for c, want := range rfc4226Codes {
		if got := string(h.Append(nil, uint64(c))); got != want {
			t.Errorf("set up again, count %d: %s, want %s", c, got, want)
		}
	}
	h.Wipe()
	if got := h.Append(nil, 1); len(got) != 0 || h != (token.HOTPer{}) {
		t.Errorf("wiped HOTPer: code %q, or not zero", got)
	}
}

func pow10(d int) uint32 {
	p := uint32(1)
	for range d {
		p *= 10
	}
	return p
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

// A load generator computes one code per request with AppendHOTP, and a
// verifier one HOTPer per check for a few codes: neither allocates, the
// HOTPer staying on the caller's stack while it does not escape.
func TestHOTPAllocs(t *testing.T) {
	for _, alg := range []token.Algorithm{token.SHA1, token.SHA256, token.SHA512} {
		for _, n := range []int{20, 200} { // 200: a key hashed first
			key := make(token.Seed, n)
			var buf [10]byte
			c := uint64(1)
			if a := testing.AllocsPerRun(100, func() { token.AppendHOTP(buf[:0], alg, 8, key, c); c++ }); a != 0 {
				t.Errorf("%v, %d-byte key: %.1f allocations per AppendHOTP, want 0", alg, n, a)
			}
			h := token.NewHOTPer(alg, 8, key)
			if a := testing.AllocsPerRun(100, func() { h.Append(buf[:0], c); c++ }); a != 0 {
				t.Errorf("%v, %d-byte key: %.1f allocations per HOTPer.Append, want 0", alg, n, a)
			}
			if a := testing.AllocsPerRun(100, func() {
				h := token.NewHOTPer(alg, 8, key)
				for i := range uint64(3) {
					h.Append(buf[:0], c+i)
				}
				c++
			}); a != 0 {
				t.Errorf("%v, %d-byte key: %.1f allocations per NewHOTPer and 3 codes, want 0", alg, n, a)
			}
			var m struct { // as a verifier's matcher holds it
				h   token.HOTPer
				buf [10]byte
			}
			if a := testing.AllocsPerRun(100, func() {
				m.h.Init(alg, 8, key)
				m.h.Append(m.buf[:0], c)
				c++
			}); a != 0 {
				t.Errorf("%v, %d-byte key: %.1f allocations per HOTPer.Init and a code, want 0", alg, n, a)
			}
		}
	}
}

var benchSink []byte

// BenchmarkAppendHOTP is one code from scratch, as a load generator makes
// per request.
func BenchmarkAppendHOTP(b *testing.B) {
	for _, alg := range []token.Algorithm{token.SHA1, token.SHA256, token.SHA512} {
		b.Run(alg.String(), func(b *testing.B) {
			key := make(token.Seed, alg.SeedSize())
			buf := make([]byte, 0, 10)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				benchSink = token.AppendHOTP(buf[:0], alg, 6, key, uint64(i))
			}
		})
	}
}

// BenchmarkHOTPerCheck is a verifier's check: one HOTPer, three codes.
func BenchmarkHOTPerCheck(b *testing.B) {
	key := make(token.Seed, 20)
	buf := make([]byte, 0, 10)
	b.ReportAllocs()
	for i := uint64(0); b.Loop(); i++ {
		h := token.NewHOTPer(token.SHA1, 6, key)
		for j := range uint64(3) {
			benchSink = h.Append(buf[:0], i+j)
		}
	}
}
