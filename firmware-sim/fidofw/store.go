package fidofw

import (
	"errors"
	"fmt"
	"sync"

	"github.com/fxamacker/cbor/v2"
)

// Flash is the non-volatile memory the firmware keeps its state in. Load
// returns nil and no error for a blank (never written) flash. An hw.Flash
// satisfies it through [HWFlash].
type Flash interface {
	Load() ([]byte, error)
	Save(image []byte) error
}

// MemFlash is a Flash in memory, for tests and throw-away keys. Its zero
// value is a blank flash.
type MemFlash struct {
	mu  sync.Mutex
	img []byte
	// Writes counts the Save calls, so tests can check wear.
	Writes int
}

// Load returns a copy of the image.
func (m *MemFlash) Load() ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.img == nil {
		return nil, nil
	}
	return append([]byte(nil), m.img...), nil
}

// Save replaces the image.
func (m *MemFlash) Save(b []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.img = append([]byte(nil), b...)
	m.Writes++
	return nil
}

// stateVersion is the layout version of the flash image written by this
// firmware; an image of another version is refused rather than misread.
const stateVersion = 1

// maxResident is how many discoverable (resident) credentials fit in flash;
// CTAP 2.1 §6.1.2 step 17 answers CTAP2_ERR_KEY_STORE_FULL beyond it.
const maxResident = 50

// counterReserve is how far the signature counter's persisted ceiling runs
// ahead of the counter in RAM. The counter is written to flash once every
// counterReserve signatures instead of every time (flash wear, and speed);
// after a power cycle counting resumes from the ceiling, so the counter
// still only ever increases (CTAP 2.1 §6.1.1, WebAuthn §6.1.1).
const counterReserve = 256

// state is everything the key remembers across power cycles: the flash
// image, CBOR-encoded with integer keys.
type state struct {
	Version   int    `cbor:"1,keyasint"`
	MasterKey []byte `cbor:"2,keyasint"` // 32 bytes: seals key handles, derives CredRandom
	AAGUID    []byte `cbor:"3,keyasint"` // 16 bytes
	CACert    []byte `cbor:"4,keyasint"` // DER of the manufacturer CA certificate
	BatchCert []byte `cbor:"5,keyasint"` // DER of the attestation (batch) certificate
	BatchKey  []byte `cbor:"6,keyasint"` // P-256 private scalar of the batch certificate
	// Counter is the persisted ceiling of the global signature counter.
	Counter uint32 `cbor:"7,keyasint"`
	// PINHash is LEFT(SHA-256(pin), 16) (CTAP 2.1 §6.5.5.5), nil when no PIN is set.
	PINHash []byte `cbor:"8,keyasint,omitempty"`
	// PINLength is the new PIN's length in code points, kept for getInfo.
	PINLength int `cbor:"9,keyasint,omitempty"`
	// PINRetries counts the attempts left before the PIN is blocked
	// (CTAP 2.1 §6.5.2.2: starts at 8, reset by a correct PIN).
	PINRetries int `cbor:"10,keyasint"`
	// Resident holds the discoverable credentials, oldest first.
	Resident []resident `cbor:"11,keyasint,omitempty"`
	// Made is the manufacturing time (Unix seconds), for information.
	Made int64 `cbor:"12,keyasint"`
}

// resident is one discoverable credential. Its private key travels in its
// credential ID, a key handle like a non-resident credential's.
type resident struct {
	ID          []byte `cbor:"1,keyasint"`
	RPID        string `cbor:"2,keyasint"`
	RPName      string `cbor:"3,keyasint,omitempty"`
	RPIDHash    []byte `cbor:"4,keyasint"`
	UserID      []byte `cbor:"5,keyasint"`
	UserName    string `cbor:"6,keyasint,omitempty"`
	DisplayName string `cbor:"7,keyasint,omitempty"`
	Alg         int    `cbor:"8,keyasint"`
	CredProtect int    `cbor:"9,keyasint,omitempty"`
	HMACSecret  bool   `cbor:"10,keyasint,omitempty"`
	PublicKey   []byte `cbor:"11,keyasint"` // COSE_Key
	Seq         uint64 `cbor:"12,keyasint"` // creation order, newest highest
}

var (
	cborEnc cbor.EncMode
	cborDec cbor.DecMode
)

func init() {
	var err error
	// CTAP 2.1 §8 "Message Encoding": CTAP2 canonical CBOR.
	cborEnc, err = cbor.CTAP2EncOptions().EncMode()
	if err != nil {
		panic(err)
	}
	cborDec, err = cbor.DecOptions{
		DupMapKey:        cbor.DupMapKeyEnforcedAPF,
		MaxNestedLevels:  8, // CTAP 2.1 §8: depth at most 4 in requests; leave headroom
		MaxArrayElements: 1024,
		MaxMapPairs:      1024,
		IndefLength:      cbor.IndefLengthForbidden,
		TagsMd:           cbor.TagsForbidden,
		DefaultMapType:   nil,
		UTF8:             cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// ErrCorruptImage is returned by [New] when the flash holds an image this
// firmware cannot read.
var ErrCorruptImage = errors.New("fidofw: flash image is not a fido key image")

func decodeState(b []byte) (*state, error) {
	var s state
	if err := cborDec.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCorruptImage, err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("%w: layout version %d, want %d", ErrCorruptImage, s.Version, stateVersion)
	}
	if len(s.MasterKey) != 32 || len(s.AAGUID) != 16 || len(s.BatchKey) != 32 || len(s.BatchCert) == 0 {
		return nil, fmt.Errorf("%w: missing keys", ErrCorruptImage)
	}
	return &s, nil
}

func (s *state) encode() ([]byte, error) { return cborEnc.Marshal(s) }
