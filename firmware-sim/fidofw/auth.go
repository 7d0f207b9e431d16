package fidofw

import (
	"context"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fxamacker/cbor/v2"

	"github.com/tokenlab/tokenlab/ctap"
	"github.com/tokenlab/tokenlab/ctap/ctaphid"
	"github.com/tokenlab/tokenlab/ctap/pinuv"
)

// DefaultAAGUID is the AAGUID of the tokenlab simulated security key model
// (CTAP 2.1 §6.4 aaguid; WebAuthn §6.5.1): it names the model, not the unit.
var DefaultAAGUID = []byte{0x74, 0x6f, 0x6b, 0x65, 0x6e, 0x6c, 0x41, 0x62,
	0x9f, 0x1d, 0x53, 0x4b, 0x65, 0x79, 0x30, 0x31}

// ResetWindow is how long after power-up authenticatorReset is allowed
// (CTAP 2.1 §6.6: "within 10 seconds after powering up").
const ResetWindow = 10 * time.Second

// nextAssertionTimeout bounds the life of a getNextAssertion state
// (CTAP 2.1 §6.3: 30 seconds).
const nextAssertionTimeout = 30 * time.Second

// PIN retry limits, CTAP 2.1 §6.5.2.2 and §6.5.5.7.
const (
	maxPINRetries           = 8 // attempts in all before the PIN is blocked
	maxPINFailsPerBoot      = 3 // consecutive mismatches before a power cycle is needed
	minPINLength            = 4 // code points
	maxPINBytes             = 63
	pinUvAuthTokenLen       = 32
	maxCredentialCountInLst = 16
	maxCredentialIDLength   = 128
)

// Clock tells the firmware the time; an hw.Clock is one.
type Clock interface{ Now() time.Time }

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

// Config is what a key is built from. Only Flash is required.
type Config struct {
	// Flash holds the key's state. A blank flash makes a new key: master
	// key, AAGUID and attestation certificate are created then.
	Flash Flash
	// Clock is the key's time source (reset window, assertion state);
	// nil means the system clock.
	Clock Clock
	// RNG is the key's random source; nil means crypto/rand.
	RNG io.Reader
	// Presence is the initial user-presence policy; nil means [Approve].
	Presence Presence
	// Manufacturer signs the attestation certificate of a new key; nil
	// makes a manufacturer CA of the key's own.
	Manufacturer *Manufacturer
	// AAGUID of a new key; nil means DefaultAAGUID.
	AAGUID []byte
}

// Authenticator is the CTAP2 / CTAP1 command processor of one key. It is
// safe for concurrent use; commands run one at a time.
type Authenticator struct {
	mu    sync.Mutex
	flash Flash
	clock Clock
	rng   io.Reader

	presence atomic.Pointer[Presence]

	st     *state
	gcm    cipher.AEAD
	attKey *ecdsa.PrivateKey
	// keyCache holds unsealed key handles by rpIdHash || credential ID.
	keyCache map[string]*credKey
	counter  uint32 // last signature counter value used
	seq      uint64 // creation order of resident credentials

	// Volatile state, lost at power-off.
	bootTime time.Time
	kaKey    *ecdh.PrivateKey // PIN/UV key agreement key (§6.5.4)
	token    pinToken
	pinFails int // consecutive PIN mismatches since power-up
	next     *nextAssertion
	rpEnum   [][]byte // rpIdHashes left for enumerateRPsGetNextRP
	credEnum []int    // indexes left for enumerateCredentialsGetNextCredential
}

// pinToken is the current pinUvAuthToken and what it may do (§6.5.2.1).
type pinToken struct {
	value []byte
	perms pinuv.Permission
	rpID  string // bound RP ID, "" when not bound yet
	valid bool
}

// New boots a key from its flash, making a new key on a blank flash.
func New(cfg Config) (*Authenticator, error) {
	if cfg.Flash == nil {
		return nil, errors.New("fidofw: no flash")
	}
	a := &Authenticator{flash: cfg.Flash, clock: cfg.Clock, rng: cfg.RNG}
	if a.clock == nil {
		a.clock = systemClock{}
	}
	if a.rng == nil {
		a.rng = rand.Reader
	}
	p := cfg.Presence
	if p == nil {
		p = Approve()
	}
	a.presence.Store(&p)
	img, err := cfg.Flash.Load()
	if err != nil {
		return nil, fmt.Errorf("fidofw: reading flash: %w", err)
	}
	if img == nil {
		if err := a.manufacture(cfg); err != nil {
			return nil, err
		}
	} else if a.st, err = decodeState(img); err != nil {
		return nil, err
	}
	if err := a.boot(); err != nil {
		return nil, err
	}
	return a, nil
}

// manufacture makes a new key: what the factory does once.
func (a *Authenticator) manufacture(cfg Config) error {
	now := a.clock.Now()
	m := cfg.Manufacturer
	var err error
	if m == nil {
		if m, err = NewManufacturer(a.rng, now); err != nil {
			return err
		}
	}
	aaguid := cfg.AAGUID
	if aaguid == nil {
		aaguid = DefaultAAGUID
	}
	if len(aaguid) != 16 {
		return errors.New("fidofw: AAGUID must be 16 bytes")
	}
	st := &state{Version: stateVersion, AAGUID: append([]byte(nil), aaguid...),
		MasterKey: make([]byte, 32), PINRetries: maxPINRetries, Made: now.Unix()}
	if _, err := io.ReadFull(a.rng, st.MasterKey); err != nil {
		return err
	}
	bk, err := genP256(a.rng)
	if err != nil {
		return err
	}
	if st.BatchKey, err = bk.Bytes(); err != nil {
		return err
	}
	if st.BatchCert, err = m.batchCertificate(a.rng, now, aaguid, &bk.PublicKey); err != nil {
		return fmt.Errorf("fidofw: attestation certificate: %w", err)
	}
	st.CACert = m.Cert.Raw
	a.st = st
	return a.persist()
}

// boot sets up the volatile state from flash: what power-up does.
func (a *Authenticator) boot() error {
	var err error
	if a.gcm, err = newGCM(a.st.MasterKey); err != nil {
		return err
	}
	a.attKey = nil
	a.keyCache = map[string]*credKey{}
	a.counter = a.st.Counter
	for _, r := range a.st.Resident {
		a.seq = max(a.seq, r.Seq)
	}
	a.bootTime = a.clock.Now()
	a.pinFails = 0
	a.token = pinToken{}
	a.next, a.rpEnum, a.credEnum = nil, nil, nil
	return a.newKeyAgreement()
}

func (a *Authenticator) newKeyAgreement() error {
	k, err := ecdh.P256().GenerateKey(a.rng)
	if err != nil {
		return err
	}
	a.kaKey = k
	return nil
}

// persist writes the state to flash.
func (a *Authenticator) persist() error {
	b, err := a.st.encode()
	if err != nil {
		return err
	}
	return a.flash.Save(b)
}

// PowerCycle reboots the key from its flash, as unplugging it does: PIN
// tokens, key agreement keys, the per-boot PIN failure count and pending
// assertions are gone; credentials, PIN and counters stay.
func (a *Authenticator) PowerCycle() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	img, err := a.flash.Load()
	if err != nil {
		return err
	}
	if img != nil {
		st, err := decodeState(img)
		if err != nil {
			return err
		}
		a.st = st
	}
	return a.boot()
}

// SetPresence switches the user-presence policy; it takes effect at the next
// request for a touch.
func (a *Authenticator) SetPresence(p Presence) {
	if p == nil {
		p = Approve()
	}
	a.presence.Store(&p)
}

// presenceImmediate reports whether the current policy answers at once.
func (a *Authenticator) presenceImmediate() bool { return isImmediate(*a.presence.Load()) }

// AAGUID returns the key's AAGUID.
func (a *Authenticator) AAGUID() []byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]byte(nil), a.st.AAGUID...)
}

// nextCounter returns the next signature counter value, moving the
// persisted ceiling ahead when the reserve is used up.
func (a *Authenticator) nextCounter() (uint32, error) {
	if a.counter+1 > a.st.Counter {
		a.st.Counter = a.counter + counterReserve
		if err := a.persist(); err != nil {
			a.st.Counter = a.counter
			return 0, err
		}
	}
	a.counter++
	return a.counter, nil
}

// errStatus turns a presence error into the CTAP status the spec names.
func presenceStatus(err error) ctap.Status {
	switch {
	case err == nil:
		return ctap.StatusOK
	case errors.Is(err, ErrDenied):
		return ctap.ErrOperationDenied
	case errors.Is(err, ErrPresenceTimeout):
		return ctap.ErrUserActionTimeout
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return ctap.ErrKeepaliveCancel
	}
	return ctap.ErrOther
}

// userPresence asks the policy for a touch, telling the host (KEEPALIVE
// UPNEEDED) meanwhile.
func (a *Authenticator) userPresence(ctx context.Context, status func(ctaphid.KeepaliveStatus), req PresenceRequest) error {
	if status != nil {
		status(ctaphid.StatusUPNeeded)
		defer status(ctaphid.StatusProcessing)
	}
	if err := ctx.Err(); err != nil {
		return ctap.ErrKeepaliveCancel
	}
	p := *a.presence.Load()
	if s := presenceStatus(p.Confirm(ctx, req)); s != ctap.StatusOK {
		return s
	}
	return nil
}

// HandleCBOR processes one CTAP2 request (command byte and CBOR
// parameters, as CTAPHID_CBOR carries it) and returns the response: a
// status byte, then CBOR on success. status, when not nil, is told what a
// KEEPALIVE should say. Cancelling ctx (CTAPHID_CANCEL) ends a wait for the
// user with CTAP2_ERR_KEEPALIVE_CANCEL.
func (a *Authenticator) HandleCBOR(ctx context.Context, req []byte, status func(ctaphid.KeepaliveStatus)) (resp []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	defer func() {
		// The firmware must never crash on a request; a bug here answers
		// CTAP1_ERR_OTHER rather than taking the device down.
		if r := recover(); r != nil {
			resp = []byte{byte(ctap.ErrOther)}
		}
	}()
	if len(req) == 0 {
		return []byte{byte(ctap.ErrInvalidLength)}
	}
	cmd, body := ctap.Command(req[0]), req[1:]
	if cmd != ctap.CmdGetNextAssertion {
		a.next = nil // §6.3: any other command ends the assertion sequence
	}
	if cmd != ctap.CmdCredentialManagement {
		a.rpEnum, a.credEnum = nil, nil
	}
	var out any
	var err error
	switch cmd {
	case ctap.CmdGetInfo:
		out, err = a.getInfo(body)
	case ctap.CmdMakeCredential:
		out, err = a.makeCredential(ctx, body, status)
	case ctap.CmdGetAssertion:
		out, err = a.getAssertion(ctx, body, status)
	case ctap.CmdGetNextAssertion:
		out, err = a.getNextAssertion(body)
	case ctap.CmdClientPIN:
		out, err = a.clientPIN(body)
	case ctap.CmdReset:
		err = a.reset(ctx, body, status)
	case ctap.CmdCredentialManagement:
		out, err = a.credentialManagement(body)
	case ctap.CmdSelection:
		err = a.userPresence(ctx, status, PresenceRequest{Op: "selection"})
	default:
		err = ctap.ErrInvalidCommand
	}
	if err != nil {
		return []byte{byte(ctap.StatusOf(err))}
	}
	if out == nil {
		return []byte{byte(ctap.StatusOK)}
	}
	b, err := ctap.Marshal(out)
	if err != nil {
		return []byte{byte(ctap.ErrOther)}
	}
	return append([]byte{byte(ctap.StatusOK)}, b...)
}

// decodeRequest decodes a command's CBOR parameters into v, mapping decoder
// failures to the statuses of CTAP 2.1 §8: a value of the wrong type is
// CTAP2_ERR_CBOR_UNEXPECTED_TYPE, anything else malformed
// CTAP2_ERR_INVALID_CBOR; no parameters at all is
// CTAP2_ERR_MISSING_PARAMETER.
func decodeRequest(body []byte, v any) error {
	if len(body) == 0 {
		return ctap.ErrMissingParameter
	}
	err := ctap.Unmarshal(body, v)
	if err == nil {
		return nil
	}
	var te *cbor.UnmarshalTypeError
	if errors.As(err, &te) {
		return ctap.ErrCBORUnexpectedType
	}
	return ctap.ErrInvalidCBOR
}

func rpIDHash(rpID string) []byte {
	h := sha256.Sum256([]byte(rpID))
	return h[:]
}
