package pskc

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"hash"
	"strings"

	"golang.org/x/crypto/pbkdf2"
)

// cipherSpec describes an encryption algorithm URI the reader decrypts.
type cipherSpec struct {
	keyLen int
	wrap   bool // RFC 3394 key wrap rather than CBC
}

// cipherFor returns the cipher of an EncryptionMethod/@Algorithm.
func cipherFor(uri string) (cipherSpec, error) {
	switch uri {
	case AES128CBC:
		return cipherSpec{keyLen: 16}, nil
	case AES192CBC:
		return cipherSpec{keyLen: 24}, nil
	case AES256CBC:
		return cipherSpec{keyLen: 32}, nil
	case KWAES128:
		return cipherSpec{keyLen: 16, wrap: true}, nil
	case KWAES192:
		return cipherSpec{keyLen: 24, wrap: true}, nil
	case KWAES256:
		return cipherSpec{keyLen: 32, wrap: true}, nil
	case "":
		return cipherSpec{}, fmt.Errorf("%w: EncryptionMethod has no Algorithm", ErrFormat)
	}
	return cipherSpec{}, fmt.Errorf("%w: encryption %q", ErrUnsupported, short(uri))
}

// decrypt decrypts a CipherValue with key under c: for CBC the first block
// is the IV (XML Encryption §5.2) and PKCS #7 padding is removed.
func (c cipherSpec) decrypt(key, ct []byte) ([]byte, error) {
	if len(key) != c.keyLen {
		return nil, fmt.Errorf("%w: the key has %d bytes, the algorithm wants %d", ErrDecrypt, len(key), c.keyLen)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, ErrDecrypt
	}
	if c.wrap {
		return unwrapKey(block, ct)
	}
	if len(ct) < 2*aes.BlockSize || len(ct)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%w: cipher value of %d bytes is not an IV and whole blocks", ErrDecrypt, len(ct))
	}
	iv, body := ct[:aes.BlockSize], ct[aes.BlockSize:]
	pt := make([]byte, len(body))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(pt, body)
	p := int(pt[len(pt)-1])
	if p == 0 || p > aes.BlockSize {
		return nil, ErrDecrypt
	}
	for _, b := range pt[len(pt)-p:] {
		if int(b) != p {
			return nil, ErrDecrypt
		}
	}
	return pt[:len(pt)-p], nil
}

// encryptCBC appends IV || AES-CBC(key, PKCS7(pt)) to dst, with iv given.
func encryptCBC(dst []byte, block cipher.Block, iv, pt []byte) []byte {
	return encryptCBCWith(dst, cipher.NewCBCEncrypter(block, iv), iv, pt)
}

// ivSetter is implemented by the standard library's CBC modes.
type ivSetter interface{ SetIV([]byte) }

// encryptCBCWith is encryptCBC with a CBC encrypter reused across values
// (its IV is reset for each).
func encryptCBCWith(dst []byte, cbc cipher.BlockMode, iv, pt []byte) []byte {
	cbc.(ivSetter).SetIV(iv)
	n := len(pt)/aes.BlockSize*aes.BlockSize + aes.BlockSize
	dst = append(dst, iv...)
	start := len(dst)
	dst = append(dst, pt...)
	p := byte(n - len(pt))
	for i := len(pt); i < n; i++ {
		dst = append(dst, p)
	}
	cbc.CryptBlocks(dst[start:], dst[start:])
	return dst
}

// defaultIV is the initial value of RFC 3394 §2.2.3.1.
var defaultIV = [8]byte{0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6}

// unwrapKey is the RFC 3394 §2.2.2 key unwrap (index-based form).
func unwrapKey(block cipher.Block, ct []byte) ([]byte, error) {
	if len(ct) < 24 || len(ct)%8 != 0 {
		return nil, fmt.Errorf("%w: wrapped key of %d bytes", ErrDecrypt, len(ct))
	}
	n := len(ct)/8 - 1
	var a [8]byte
	copy(a[:], ct[:8])
	r := make([]byte, n*8)
	copy(r, ct[8:])
	var b [16]byte
	for j := 5; j >= 0; j-- {
		for i := n; i >= 1; i-- {
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(b[:8], binary.BigEndian.Uint64(a[:])^t)
			copy(b[8:], r[(i-1)*8:i*8])
			block.Decrypt(b[:], b[:])
			copy(a[:], b[:8])
			copy(r[(i-1)*8:i*8], b[8:])
		}
	}
	if subtle.ConstantTimeCompare(a[:], defaultIV[:]) != 1 {
		return nil, fmt.Errorf("%w: key unwrap integrity check", ErrDecrypt)
	}
	return r, nil
}

// wrapKey is the RFC 3394 §2.2.1 key wrap; the reader's tests use it.
func wrapKey(block cipher.Block, pt []byte) []byte {
	n := len(pt) / 8
	a := defaultIV
	r := make([]byte, len(pt))
	copy(r, pt)
	var b [16]byte
	for j := 0; j <= 5; j++ {
		for i := 1; i <= n; i++ {
			copy(b[:8], a[:])
			copy(b[8:], r[(i-1)*8:i*8])
			block.Encrypt(b[:], b[:])
			t := uint64(n*j + i)
			binary.BigEndian.PutUint64(a[:], binary.BigEndian.Uint64(b[:8])^t)
			copy(r[(i-1)*8:i*8], b[8:])
		}
	}
	return append(a[:], r...)
}

// macHash returns the hash of a MACMethod/@Algorithm (hmac-sha1 of XML
// Signature, hmac-sha224/256/384/512 of RFC 6931), matched on the fragment
// as python-pskc does, so the variants in circulation all work.
func macHash(uri string) (func() hash.Hash, error) {
	frag := uri
	if i := strings.LastIndexByte(uri, '#'); i >= 0 {
		frag = uri[i+1:]
	}
	switch strings.ToLower(frag) {
	case "hmac-sha1":
		return sha1.New, nil
	case "hmac-sha224":
		return sha256.New224, nil
	case "hmac-sha256":
		return sha256.New, nil
	case "hmac-sha384":
		return sha512.New384, nil
	case "hmac-sha512":
		return sha512.New, nil
	case "":
		return nil, fmt.Errorf("%w: MACMethod has no Algorithm", ErrFormat)
	}
	return nil, fmt.Errorf("%w: MAC %q", ErrUnsupported, short(uri))
}

// prfHash returns the PBKDF2 PRF of a PRF/@Algorithm; empty means
// HMAC-SHA1, the PKCS #5 default.
func prfHash(uri string) (func() hash.Hash, error) {
	if uri == "" {
		return sha1.New, nil
	}
	return macHash(uri)
}

// deriveKey is PBKDF2 (RFC 8018 §5.2).
func deriveKey(passphrase, salt []byte, iter, keyLen int, prf func() hash.Hash) []byte {
	return pbkdf2.Key(passphrase, salt, iter, keyLen, prf)
}

// checkMAC compares a ValueMAC against HMAC(macKey, value) in constant time.
func checkMAC(h func() hash.Hash, macKey, value, want []byte) bool {
	m := hmac.New(h, macKey)
	m.Write(value)
	return hmac.Equal(m.Sum(nil), want)
}

func short(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}
