// Package cose encodes and decodes the COSE_Key public keys that CTAP2
// carries (RFC 9052 §7, RFC 9053, CTAP 2.1 §6.5.6): EC2 P-256 keys for
// ES256 signatures (alg -7) and for PIN/UV key agreement (alg -25,
// ECDH-ES+HKDF-256), and OKP Ed25519 keys for EdDSA (alg -8).
//
// A Key is the CBOR map with integer labels; [FromPublic] and [Key.Public]
// convert to and from crypto public keys, and [Key.Verify] checks a
// signature the way WebAuthn does (ES256 signatures are ASN.1 DER).
package cose

import (
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"errors"
	"fmt"
)

// Alg is a COSE algorithm identifier (IANA "COSE Algorithms").
type Alg int

const (
	AlgES256     Alg = -7   // ECDSA w/ SHA-256 (RFC 9053 §2.1)
	AlgEdDSA     Alg = -8   // EdDSA (RFC 9053 §2.2)
	AlgECDHES256 Alg = -25  // ECDH-ES + HKDF-256: the CTAP2 PIN/UV key agreement key (CTAP 2.1 §6.5.6)
	AlgRS256     Alg = -257 // RSASSA-PKCS1-v1_5 w/ SHA-256, not supported here; named for refusal tests
)

func (a Alg) String() string {
	switch a {
	case AlgES256:
		return "ES256"
	case AlgEdDSA:
		return "EdDSA"
	case AlgECDHES256:
		return "ECDH-ES+HKDF-256"
	case AlgRS256:
		return "RS256"
	}
	return fmt.Sprintf("Alg(%d)", int(a))
}

// Key types (RFC 9053 §7).
const (
	KtyOKP = 1
	KtyEC2 = 2
)

// Curves (RFC 9053 §7.1).
const (
	CrvP256    = 1
	CrvEd25519 = 6
)

// Key is a COSE_Key holding a public key. Labels: 1 kty, 3 alg, -1 crv,
// -2 x, -3 y (RFC 9052 §7.1, RFC 9053 §7.1).
type Key struct {
	Kty int    `cbor:"1,keyasint"`
	Alg Alg    `cbor:"3,keyasint,omitempty"`
	Crv int    `cbor:"-1,keyasint,omitempty"`
	X   []byte `cbor:"-2,keyasint,omitempty"`
	Y   []byte `cbor:"-3,keyasint,omitempty"`
}

// Errors returned by this package.
var (
	// ErrUnsupported is returned for a key type, curve or algorithm this
	// package does not implement.
	ErrUnsupported = errors.New("cose: unsupported key")
	// ErrInvalidKey is returned for a key whose coordinates are malformed
	// or not on its curve.
	ErrInvalidKey = errors.New("cose: invalid key")
	// ErrSignature is returned by Verify for a signature that does not verify.
	ErrSignature = errors.New("cose: signature does not verify")
)

// FromPublic returns the COSE key of pub (*ecdsa.PublicKey on P-256,
// *ecdh.PublicKey on P-256, or ed25519.PublicKey) with algorithm alg.
func FromPublic(pub any, alg Alg) (*Key, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() {
			return nil, ErrUnsupported
		}
		e, err := k.ECDH()
		if err != nil {
			return nil, ErrInvalidKey
		}
		return FromPublic(e, alg)
	case *ecdh.PublicKey:
		if k.Curve() != ecdh.P256() {
			return nil, ErrUnsupported
		}
		b := k.Bytes() // 0x04 || X || Y
		return &Key{Kty: KtyEC2, Alg: alg, Crv: CrvP256, X: b[1:33], Y: b[33:65]}, nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return nil, ErrInvalidKey
		}
		return &Key{Kty: KtyOKP, Alg: alg, Crv: CrvEd25519, X: append([]byte(nil), k...)}, nil
	}
	return nil, ErrUnsupported
}

// uncompressed returns 0x04 || X || Y of an EC2 P-256 key.
func (k *Key) uncompressed() ([]byte, error) {
	if k.Kty != KtyEC2 || k.Crv != CrvP256 {
		return nil, ErrUnsupported
	}
	if len(k.X) != 32 || len(k.Y) != 32 {
		return nil, ErrInvalidKey
	}
	b := make([]byte, 0, 65)
	b = append(b, 4)
	b = append(b, k.X...)
	return append(b, k.Y...), nil
}

// ECDH returns the P-256 key for key agreement.
func (k *Key) ECDH() (*ecdh.PublicKey, error) {
	b, err := k.uncompressed()
	if err != nil {
		return nil, err
	}
	pub, err := ecdh.P256().NewPublicKey(b)
	if err != nil {
		return nil, ErrInvalidKey
	}
	return pub, nil
}

// Public returns the key as *ecdsa.PublicKey (EC2 P-256) or
// ed25519.PublicKey (OKP Ed25519), checking that the point is valid.
func (k *Key) Public() (any, error) {
	switch k.Kty {
	case KtyEC2:
		b, err := k.uncompressed()
		if err != nil {
			return nil, err
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), b) // checks the point is on the curve
		if err != nil {
			return nil, ErrInvalidKey
		}
		return pub, nil
	case KtyOKP:
		if k.Crv != CrvEd25519 {
			return nil, ErrUnsupported
		}
		if len(k.X) != ed25519.PublicKeySize {
			return nil, ErrInvalidKey
		}
		return ed25519.PublicKey(append([]byte(nil), k.X...)), nil
	}
	return nil, ErrUnsupported
}

// Uncompressed returns the ANSI X9.62 form 0x04 || X || Y of an EC2 P-256
// key, the form CTAP1/U2F uses.
func (k *Key) Uncompressed() ([]byte, error) { return k.uncompressed() }

// Verify checks sig over msg with the key: ES256 (EC2 P-256, SHA-256,
// ASN.1 DER signature) or EdDSA (Ed25519 over msg itself).
func (k *Key) Verify(msg, sig []byte) error {
	pub, err := k.Public()
	if err != nil {
		return err
	}
	switch p := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Alg != 0 && k.Alg != AlgES256 {
			return ErrUnsupported
		}
		h := sha256.Sum256(msg)
		if !ecdsa.VerifyASN1(p, h[:], sig) {
			return ErrSignature
		}
	case ed25519.PublicKey:
		if k.Alg != 0 && k.Alg != AlgEdDSA {
			return ErrUnsupported
		}
		if !ed25519.Verify(p, msg, sig) {
			return ErrSignature
		}
	}
	return nil
}
