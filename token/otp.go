package token

import (
	"crypto/hmac"
	"encoding/binary"
	"hash"
)

var pow10 = [...]uint32{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000}

// AppendHOTP appends the RFC 4226 §5.3 code for key and counter c to dst.
// digits must be 1 to 9; otherwise nothing is appended.
func AppendHOTP(dst []byte, alg Algorithm, digits int, key []byte, c uint64) []byte {
	if !codeDigits(digits) {
		return dst
	}
	h := HOTPer{mac: hmac.New(alg.Hash(), key), digits: digits}
	return AppendCode(dst, h.truncate(c), digits)
}

// HOTPer computes HOTP codes for one key with its HMAC state kept between
// calls, for callers (a fleet of tokens, a verifier window scan) that compute
// many codes of the same key. It is not safe for concurrent use.
type HOTPer struct {
	mac    hash.Hash
	digits int
	// The counter and the MAC. Buffers handed to mac's methods escape:
	// kept here, they cost nothing per code instead of two allocations.
	msg [8]byte
	sum [64]byte // room for SHA-512
}

// NewHOTPer returns a code generator for key under alg and digits.
func NewHOTPer(alg Algorithm, digits int, key []byte) *HOTPer {
	return &HOTPer{mac: hmac.New(alg.Hash(), key), digits: digits}
}

// Append appends the code for counter c to dst (nothing if the digits
// given to NewHOTPer are not 1 to 9).
func (h *HOTPer) Append(dst []byte, c uint64) []byte {
	if !codeDigits(h.digits) {
		return dst
	}
	h.mac.Reset()
	return AppendCode(dst, h.truncate(c), h.digits)
}

// Value returns the code for counter c as an integer (before zero padding);
// 0 if the digits given to NewHOTPer are not 1 to 9.
func (h *HOTPer) Value(c uint64) uint32 {
	if !codeDigits(h.digits) {
		return 0
	}
	h.mac.Reset()
	return h.truncate(c)
}

// truncate is RFC 4226 §5.3 dynamic truncation of HMAC(key, c), with mac
// fresh or reset.
func (h *HOTPer) truncate(c uint64) uint32 {
	binary.BigEndian.PutUint64(h.msg[:], c)
	h.mac.Write(h.msg[:])
	s := h.mac.Sum(h.sum[:0])
	off := s[len(s)-1] & 0x0f
	bin := binary.BigEndian.Uint32(s[off:off+4]) & 0x7fffffff
	return bin % pow10[h.digits]
}

// codeDigits reports whether a code of d digits can be computed.
func codeDigits(d int) bool { return d >= 1 && d <= 9 }

// AppendCode appends v zero-padded to digits decimal digits (1 to 10;
// otherwise nothing is appended).
func AppendCode(dst []byte, v uint32, digits int) []byte {
	if digits < 1 || digits > 10 {
		return dst
	}
	var tmp [10]byte
	for i := digits - 1; i >= 0; i-- {
		tmp[i] = byte('0' + v%10)
		v /= 10
	}
	return append(dst, tmp[:digits]...)
}
