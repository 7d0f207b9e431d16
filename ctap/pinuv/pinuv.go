// Package pinuv implements the PIN/UV auth protocols one and two of
// CTAP 2.1 §6.5.6 and §6.5.7, for both ends: the platform ([Protocol.Encapsulate])
// and the authenticator ([Protocol.Decapsulate]) agree on a shared secret
// over ECDH P-256, then encrypt PINs and tokens with AES-256-CBC and
// authenticate requests with HMAC-SHA-256.
//
//	p := pinuv.Protocol2{}
//	platformKey, secret, err := p.Encapsulate(rand.Reader, authenticatorKey)
//	newPinEnc, _ := p.Encrypt(rand.Reader, secret, pinuv.PadPIN(pin))
//	param := p.Authenticate(secret, newPinEnc)
package pinuv

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"golang.org/x/crypto/hkdf"

	"github.com/tokenlab/tokenlab/ctap/cose"
)

// Errors returned by this package.
var (
	// ErrCiphertext is returned by Decrypt for a ciphertext whose length is
	// not a whole number of AES blocks (plus the IV for protocol 2).
	ErrCiphertext = errors.New("pinuv: malformed ciphertext")
	// ErrKey is returned for a shared secret of the wrong length.
	ErrKey = errors.New("pinuv: malformed shared secret")
	// ErrPINLength is returned by PadPIN for a PIN outside 4..63 bytes.
	ErrPINLength = errors.New("pinuv: PIN must be 4 to 63 bytes")
)

// Permissions of a pinUvAuthToken (CTAP 2.1 §6.5.5.7).
type Permission uint8

const (
	PermMakeCredential       Permission = 0x01 // mc
	PermGetAssertion         Permission = 0x02 // ga
	PermCredentialManagement Permission = 0x04 // cm
	PermBioEnrollment        Permission = 0x08 // be
	PermLargeBlobWrite       Permission = 0x10 // lbw
	PermAuthenticatorConfig  Permission = 0x20 // acfg
)

func (p Permission) String() string {
	names := []string{"mc", "ga", "cm", "be", "lbw", "acfg"}
	s := ""
	for i, n := range names {
		if p&(1<<i) != 0 {
			if s != "" {
				s += "|"
			}
			s += n
		}
	}
	if rest := p &^ 0x3f; rest != 0 || s == "" {
		if s != "" {
			s += "|"
		}
		s += fmt.Sprintf("0x%02x", byte(rest))
	}
	return s
}

// Protocol is one PIN/UV auth protocol.
type Protocol interface {
	// Version is 1 or 2, the pinUvAuthProtocol number on the wire.
	Version() int
	// KDF derives the shared secret from the ECDH x-coordinate Z.
	KDF(z []byte) []byte
	// Encapsulate is the platform's half (§6.5.6 "encapsulate"): it makes
	// an ephemeral key pair, returns its public COSE key (alg -25) and the
	// shared secret with peer, the authenticator's key agreement key.
	Encapsulate(rand io.Reader, peer *cose.Key) (*cose.Key, []byte, error)
	// Encrypt encrypts plaintext (a multiple of 16 bytes) with the secret.
	Encrypt(rand io.Reader, secret, plaintext []byte) ([]byte, error)
	// Decrypt reverses Encrypt.
	Decrypt(secret, ciphertext []byte) ([]byte, error)
	// Authenticate returns the HMAC-SHA-256 of msg under key (a shared
	// secret or a pinUvAuthToken), truncated as the protocol requires.
	Authenticate(key, msg []byte) []byte
	// Verify reports whether sig is Authenticate(key, msg), in constant time.
	Verify(key, msg, sig []byte) bool
}

// ByVersion returns protocol 1 or 2, or nil.
func ByVersion(v int) Protocol {
	switch v {
	case 1:
		return Protocol1{}
	case 2:
		return Protocol2{}
	}
	return nil
}

// Decapsulate is the authenticator's half of key agreement for either
// protocol: given its own key agreement private key and the platform's COSE
// key, it returns the shared secret.
func Decapsulate(p Protocol, priv *ecdh.PrivateKey, peer *cose.Key) ([]byte, error) {
	z, err := ecdhZ(priv, peer)
	if err != nil {
		return nil, err
	}
	return p.KDF(z), nil
}

// KeyAgreementKey returns the COSE form (kty EC2, alg -25, crv P-256) of an
// authenticator's or platform's key agreement public key.
func KeyAgreementKey(pub *ecdh.PublicKey) (*cose.Key, error) {
	return cose.FromPublic(pub, cose.AlgECDHES256)
}

func ecdhZ(priv *ecdh.PrivateKey, peer *cose.Key) ([]byte, error) {
	pub, err := peer.ECDH()
	if err != nil {
		return nil, err
	}
	return priv.ECDH(pub) // the x-coordinate of the shared point
}

func encapsulate(p Protocol, rand io.Reader, peer *cose.Key) (*cose.Key, []byte, error) {
	priv, err := ecdh.P256().GenerateKey(rand)
	if err != nil {
		return nil, nil, err
	}
	z, err := ecdhZ(priv, peer)
	if err != nil {
		return nil, nil, err
	}
	k, err := KeyAgreementKey(priv.PublicKey())
	if err != nil {
		return nil, nil, err
	}
	return k, p.KDF(z), nil
}

// Protocol1 is PIN/UV auth protocol one (CTAP 2.1 §6.5.6): the shared
// secret is SHA-256(Z), AES-256-CBC with an all-zero IV, and HMAC-SHA-256
// truncated to its first 16 bytes.
type Protocol1 struct{}

func (Protocol1) Version() int { return 1 }

func (Protocol1) KDF(z []byte) []byte {
	h := sha256.Sum256(z)
	return h[:]
}

func (p Protocol1) Encapsulate(rand io.Reader, peer *cose.Key) (*cose.Key, []byte, error) {
	return encapsulate(p, rand, peer)
}

func (Protocol1) Encrypt(_ io.Reader, secret, plaintext []byte) ([]byte, error) {
	if len(secret) != 32 {
		return nil, ErrKey
	}
	return cbcEncrypt(secret, make([]byte, aes.BlockSize), plaintext)
}

func (Protocol1) Decrypt(secret, ciphertext []byte) ([]byte, error) {
	if len(secret) != 32 {
		return nil, ErrKey
	}
	return cbcDecrypt(secret, make([]byte, aes.BlockSize), ciphertext)
}

func (Protocol1) Authenticate(key, msg []byte) []byte {
	return hmacSHA256(key, msg)[:16]
}

func (p Protocol1) Verify(key, msg, sig []byte) bool {
	return len(sig) == 16 && hmac.Equal(p.Authenticate(key, msg), sig)
}

// Protocol2 is PIN/UV auth protocol two (CTAP 2.1 §6.5.7): the shared
// secret is HMAC key || AES key, both HKDF-SHA-256 of Z with a zero salt and
// the infos "CTAP2 HMAC key" and "CTAP2 AES key"; AES-256-CBC with a random
// IV sent before the ciphertext; the full 32-byte HMAC-SHA-256.
// Authenticate with a 64-byte shared secret uses its HMAC key half; with a
// 32-byte pinUvAuthToken, the whole token.
type Protocol2 struct{}

// HKDF infos of protocol 2 (CTAP 2.1 §6.5.7).
const (
	InfoHMACKey = "CTAP2 HMAC key"
	InfoAESKey  = "CTAP2 AES key"
)

func (Protocol2) Version() int { return 2 }

func (Protocol2) KDF(z []byte) []byte {
	salt := make([]byte, 32)
	out := make([]byte, 64)
	io.ReadFull(hkdf.New(sha256.New, z, salt, []byte(InfoHMACKey)), out[:32])
	io.ReadFull(hkdf.New(sha256.New, z, salt, []byte(InfoAESKey)), out[32:])
	return out
}

func (p Protocol2) Encapsulate(rand io.Reader, peer *cose.Key) (*cose.Key, []byte, error) {
	return encapsulate(p, rand, peer)
}

func (Protocol2) Encrypt(rand io.Reader, secret, plaintext []byte) ([]byte, error) {
	if len(secret) != 64 {
		return nil, ErrKey
	}
	iv := make([]byte, aes.BlockSize)
	if _, err := io.ReadFull(rand, iv); err != nil {
		return nil, err
	}
	ct, err := cbcEncrypt(secret[32:], iv, plaintext)
	if err != nil {
		return nil, err
	}
	return append(iv, ct...), nil
}

func (Protocol2) Decrypt(secret, ciphertext []byte) ([]byte, error) {
	if len(secret) != 64 {
		return nil, ErrKey
	}
	if len(ciphertext) < aes.BlockSize {
		return nil, ErrCiphertext
	}
	return cbcDecrypt(secret[32:], ciphertext[:aes.BlockSize], ciphertext[aes.BlockSize:])
}

func (Protocol2) Authenticate(key, msg []byte) []byte {
	if len(key) == 64 {
		key = key[:32]
	}
	return hmacSHA256(key, msg)
}

func (p Protocol2) Verify(key, msg, sig []byte) bool {
	return len(sig) == 32 && hmac.Equal(p.Authenticate(key, msg), sig)
}

func hmacSHA256(key, msg []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	return m.Sum(nil)
}

func cbcEncrypt(key, iv, pt []byte) ([]byte, error) {
	if len(pt)%aes.BlockSize != 0 {
		return nil, ErrCiphertext
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, ErrKey
	}
	out := make([]byte, len(pt))
	cipher.NewCBCEncrypter(b, iv).CryptBlocks(out, pt)
	return out, nil
}

func cbcDecrypt(key, iv, ct []byte) ([]byte, error) {
	if len(ct)%aes.BlockSize != 0 {
		return nil, ErrCiphertext
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, ErrKey
	}
	out := make([]byte, len(ct))
	cipher.NewCBCDecrypter(b, iv).CryptBlocks(out, ct)
	return out, nil
}

// PINHash is LEFT(SHA-256(pin), 16), what the platform encrypts as
// pinHashEnc (CTAP 2.1 §6.5.5.5).
func PINHash(pin string) []byte {
	h := sha256.Sum256([]byte(pin))
	return h[:16]
}

// PadPIN pads a UTF-8 PIN with zero bytes to 64 bytes, the newPin
// plaintext of setPIN and changePIN (CTAP 2.1 §6.5.5.5). The PIN must be
// at least 4 and at most 63 bytes.
func PadPIN(pin string) ([]byte, error) {
	if len(pin) < 4 || len(pin) > 63 {
		return nil, ErrPINLength
	}
	b := make([]byte, 64)
	copy(b, pin)
	return b, nil
}

// UnpadPIN returns the PIN in a decrypted newPin block: the bytes before
// the first zero. It fails for a block that is not 64 bytes.
func UnpadPIN(b []byte) (string, error) {
	if len(b) != 64 {
		return "", ErrPINLength
	}
	for i, c := range b {
		if c == 0 {
			return string(b[:i]), nil
		}
	}
	return string(b), nil
}
