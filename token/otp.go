package token

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
)

var pow10 = [...]uint32{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000}

// AppendHOTP appends the RFC 4226 §5.3 code for key and counter c to dst.
// digits must be 1 to 9; otherwise nothing is appended.
func AppendHOTP(dst []byte, alg Algorithm, digits int, key []byte, c uint64) []byte {
	if !codeDigits(digits) {
		return dst
	}
	var h HOTPer
	h.Init(alg, digits, key)
	v := h.Value(c)
	h.Wipe()
	return AppendCode(dst, v, digits)
}

// HOTPer computes HOTP codes for one key, for callers (a fleet of tokens, a
// verifier window scan) that compute many codes of the same key. It holds
// the key's HMAC pad blocks and allocates nothing: a HOTPer that does not
// escape lives on its caller's stack, whether made by [NewHOTPer] or as a
// value set up by [HOTPer.Init]. It is not safe for concurrent use.
//
// The HMAC (RFC 2104 §2) is computed with the hashes' one-shot functions
// over two buffers, key⊕ipad followed by the counter and key⊕opad followed
// by the inner hash: no hash state to allocate or save, at the price of
// hashing each pad block again for every code (two compressions more per
// code than crypto/hmac once it has saved its state).
type HOTPer struct {
	alg    Algorithm // SHA1, SHA256 or SHA512
	digits int
	in     [maxBlockSize + 8]byte           // key⊕ipad || counter
	out    [maxBlockSize + sha512.Size]byte // key⊕opad || inner hash
}

// RFC 2104 §2's pad bytes, and the largest block (SHA-512's).
const (
	ipad         = 0x36
	opad         = 0x5c
	maxBlockSize = sha512.BlockSize
)

// NewHOTPer returns a code generator for key under alg and digits.
func NewHOTPer(alg Algorithm, digits int, key []byte) *HOTPer {
	h := new(HOTPer)
	h.Init(alg, digits, key)
	return h
}

// Init sets h up as [NewHOTPer] would, for a HOTPer held by value (in a
// struct on the stack, say), overwriting what h held. key is not retained.
// An unknown alg is SHA-1, as with [Algorithm.Hash].
func (h *HOTPer) Init(alg Algorithm, digits int, key []byte) {
	switch alg {
	case SHA256, SHA512:
	default:
		alg = SHA1
	}
	*h = HOTPer{alg: alg, digits: digits} // no pad of a former key left over
	bs := alg.blockSize()
	var sum [sha512.Size]byte
	if len(key) > bs { // RFC 2104 §2: a key longer than a block is hashed first
		key = h.hash(sum[:], key)
	}
	for i := range bs {
		var k byte
		if i < len(key) {
			k = key[i]
		}
		h.in[i], h.out[i] = k^ipad, k^opad
	}
	clear(sum[:])
}

// Append appends the code for counter c to dst (nothing if the digits
// given to NewHOTPer are not 1 to 9).
func (h *HOTPer) Append(dst []byte, c uint64) []byte {
	if !codeDigits(h.digits) {
		return dst
	}
	return AppendCode(dst, h.truncate(c), h.digits)
}

// Value returns the code for counter c as an integer (before zero padding);
// 0 if the digits given to NewHOTPer are not 1 to 9.
func (h *HOTPer) Value(c uint64) uint32 {
	if !codeDigits(h.digits) {
		return 0
	}
	return h.truncate(c)
}

// truncate is RFC 4226 §5.3 dynamic truncation of HMAC(key, c).
func (h *HOTPer) truncate(c uint64) uint32 {
	bs := h.alg.blockSize()
	binary.BigEndian.PutUint64(h.in[bs:], c)
	var sum [sha512.Size]byte
	inner := h.hash(h.out[bs:], h.in[:bs+8])
	s := h.hash(sum[:], h.out[:bs+len(inner)])
	off := s[len(s)-1] & 0x0f
	bin := binary.BigEndian.Uint32(s[off:off+4]) & 0x7fffffff
	return bin % pow10[h.digits]
}

// hash writes the hash of p under h's algorithm to dst (at least its
// size) and returns that part of dst.
func (h *HOTPer) hash(dst, p []byte) []byte {
	switch h.alg {
	case SHA256:
		s := sha256.Sum256(p)
		return dst[:copy(dst, s[:])]
	case SHA512:
		s := sha512.Sum512(p)
		return dst[:copy(dst, s[:])]
	}
	s := sha1.Sum(p)
	return dst[:copy(dst, s[:])]
}

// Wipe overwrites h's pad blocks, as secret as the key, with zeros; h then
// gives no code until set up again with [HOTPer.Init].
func (h *HOTPer) Wipe() { *h = HOTPer{} }

// blockSize is the block size of a's hash, the size of its HMAC pads.
func (a Algorithm) blockSize() int {
	if a == SHA512 {
		return sha512.BlockSize
	}
	return sha1.BlockSize // also SHA-256's
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
