package fidofw

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"io"
)

// COSE algorithm identifiers (RFC 9053 §2.1, RFC 8037 §3.1), the ones this
// key supports.
const (
	AlgES256 = -7 // ECDSA with SHA-256 on P-256
	AlgEdDSA = -8 // EdDSA (Ed25519)
)

// keyHandleVersion is the first byte of every credential ID this firmware
// makes; a different first byte is not ours.
const keyHandleVersion = 0x54 // 'T'

// Key handle layout (credential ID), all fixed-size:
//
//	version(1) | nonce(12) | AES-256-GCM(masterKey, nonce, plaintext, aad=version|rpIdHash)
//	plaintext = alg(1) | credProtect(1) | flags(1) | private key | public key
//
// For ES256 the private key is the 32-byte scalar and the public key X|Y
// (64 bytes); for EdDSA the 32-byte seed and the 32-byte public key. Keeping
// the public key saves a scalar multiplication on every assertion.
const (
	khNonceLen = 12
	khTagLen   = 16
	khAlgES256 = 1
	khAlgEdDSA = 2

	khFlagResident   = 0x01
	khFlagHMACSecret = 0x02
)

// credKey is an unsealed credential: its algorithm, key pair and options.
type credKey struct {
	alg         int // AlgES256 or AlgEdDSA
	credProtect int // 0 (unset), 1, 2 or 3
	resident    bool
	hmacSecret  bool
	ec          *ecdsa.PrivateKey
	ed          ed25519.PrivateKey
}

var errBadKeyHandle = errors.New("fidofw: key handle not ours or not for this relying party")

func (a *Authenticator) aead() cipher.AEAD { return a.gcm }

func newGCM(key []byte) (cipher.AEAD, error) {
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(blk)
}

// newCredKey makes a fresh key pair for alg from rng.
func newCredKey(rng io.Reader, alg int) (*credKey, error) {
	k := &credKey{alg: alg}
	switch alg {
	case AlgES256:
		// ecdh's key generation reads exactly 32 bytes (with rejection), so
		// a deterministic RNG gives deterministic keys.
		dk, err := ecdh.P256().GenerateKey(rng)
		if err != nil {
			return nil, err
		}
		k.ec, err = ecdsaFromRaw(dk.Bytes())
		if err != nil {
			return nil, err
		}
	case AlgEdDSA:
		seed := make([]byte, ed25519.SeedSize)
		if _, err := io.ReadFull(rng, seed); err != nil {
			return nil, err
		}
		k.ed = ed25519.NewKeyFromSeed(seed)
	default:
		return nil, errors.New("fidofw: unsupported algorithm")
	}
	return k, nil
}

// ecdsaFromRaw makes a P-256 signing key from its 32-byte scalar.
func ecdsaFromRaw(d []byte) (*ecdsa.PrivateKey, error) {
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	if err != nil {
		return nil, errBadKeyHandle
	}
	return k, nil
}

// ecPoint returns X || Y of a P-256 key.
func ecPoint(k *ecdsa.PrivateKey) []byte {
	b, _ := k.PublicKey.Bytes() // 0x04 || X || Y
	return b[1:]
}

func (k *credKey) plaintext() []byte {
	var flags byte
	if k.resident {
		flags |= khFlagResident
	}
	if k.hmacSecret {
		flags |= khFlagHMACSecret
	}
	switch k.alg {
	case AlgES256:
		p := []byte{khAlgES256, byte(k.credProtect), flags}
		d, _ := k.ec.Bytes()
		p = append(p, d...)
		return append(p, ecPoint(k.ec)...)
	default:
		p := []byte{khAlgEdDSA, byte(k.credProtect), flags}
		p = append(p, k.ed.Seed()...)
		return append(p, k.ed.Public().(ed25519.PublicKey)...)
	}
}

// seal makes the credential ID of k for rpIDHash.
func (a *Authenticator) seal(k *credKey, rpIDHash []byte) ([]byte, error) {
	id := make([]byte, 1+khNonceLen, 1+khNonceLen+100+khTagLen)
	id[0] = keyHandleVersion
	if _, err := io.ReadFull(a.rng, id[1:]); err != nil {
		return nil, err
	}
	aad := append([]byte{keyHandleVersion}, rpIDHash...)
	return a.aead().Seal(id, id[1:1+khNonceLen], k.plaintext(), aad), nil
}

// open unseals a credential ID made by this key for rpIDHash.
func (a *Authenticator) open(id, rpIDHash []byte) (*credKey, error) {
	if len(id) < 1+khNonceLen+khTagLen+3 || id[0] != keyHandleVersion {
		return nil, errBadKeyHandle
	}
	cacheKey := string(rpIDHash) + string(id)
	if k, ok := a.keyCache[cacheKey]; ok {
		return k, nil
	}
	aad := make([]byte, 0, 33)
	aad = append(append(aad, keyHandleVersion), rpIDHash...)
	p, err := a.aead().Open(nil, id[1:1+khNonceLen], id[1+khNonceLen:], aad)
	if err != nil {
		return nil, errBadKeyHandle
	}
	k := &credKey{credProtect: int(p[1]), resident: p[2]&khFlagResident != 0, hmacSecret: p[2]&khFlagHMACSecret != 0}
	switch {
	case p[0] == khAlgES256 && len(p) == 3+96:
		k.alg = AlgES256
		if k.ec, err = ecdsaFromRaw(p[3:35]); err != nil {
			return nil, err
		}
	case p[0] == khAlgEdDSA && len(p) == 3+64:
		k.alg = AlgEdDSA
		k.ed = ed25519.NewKeyFromSeed(p[3:35])
	default:
		return nil, errBadKeyHandle
	}
	if len(a.keyCache) >= keyCacheSize {
		clear(a.keyCache)
	}
	a.keyCache[cacheKey] = k
	return k, nil
}

// keyCacheSize bounds the RAM cache of unsealed key handles: the
// credentials in use skip decryption and key parsing (a parsed key also
// keeps Go's precomputation), as a real key keeps its working set in RAM.
const keyCacheSize = 256

// openCredential opens a credential ID for an assertion, an exclude list
// or U2F: a key handle of ours for rpIDHash whose credential still exists
// (a discoverable credential lives only as long as its record: deleting
// it through credential management, or replacing it with a new one for
// the same user, retires its ID).
func (a *Authenticator) openCredential(id, rpIDHash []byte) (*credKey, error) {
	k, err := a.open(id, rpIDHash)
	if err != nil {
		return nil, err
	}
	if k.resident && a.residentByID(id) < 0 {
		return nil, errBadKeyHandle
	}
	return k, nil
}

// credRandom is the per-credential secret of the hmac-secret extension
// (CTAP 2.1 §12.5): derived from the master key and the credential ID, one
// for assertions with user verification and one without.
func (a *Authenticator) credRandom(credID []byte, uv bool) []byte {
	m := hmac.New(sha256.New, a.st.MasterKey)
	if uv {
		m.Write([]byte("tokenlab hmac-secret uv"))
	} else {
		m.Write([]byte("tokenlab hmac-secret"))
	}
	m.Write(credID)
	return m.Sum(nil)
}

// sign signs msg with the credential key: ECDSA over SHA-256(msg), DER
// encoded (WebAuthn §6.5.5), or Ed25519 over msg.
func (k *credKey) sign(rng io.Reader, msg []byte) ([]byte, error) {
	if k.alg == AlgEdDSA {
		return ed25519.Sign(k.ed, msg), nil
	}
	h := sha256.Sum256(msg)
	return ecdsa.SignASN1(rng, k.ec, h[:])
}

// coseKey is the credential public key as a COSE_Key (RFC 9052 §7,
// CTAP 2.1 §6.5.6 for the EC2 form).
func (k *credKey) coseKey() []byte {
	var m map[int]any
	if k.alg == AlgEdDSA {
		m = map[int]any{1: 1, 3: AlgEdDSA, -1: 6, -2: []byte(k.ed.Public().(ed25519.PublicKey))} // kty OKP, crv Ed25519
	} else {
		m = map[int]any{1: 2, 3: AlgES256, -1: 1, // kty EC2, crv P-256
			-2: ecPoint(k.ec)[:32], -3: ecPoint(k.ec)[32:]}
	}
	b, _ := cborEnc.Marshal(m)
	return b
}

// u2fPublicKey is the uncompressed P-256 point (U2F raw message format §4.3).
func (k *credKey) u2fPublicKey() []byte {
	p, _ := k.ec.PublicKey.Bytes()
	return p
}
