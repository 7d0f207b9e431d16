package console

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/tokenlab/tokenlab/verify"
)

// Credential is a WebAuthn credential record kept as a FIDO device.
type Credential = verify.FIDOCredential

// FIDOStore keeps the FIDO credentials of users. The verifier implements
// it (*verify.Service); [NewMemoryFIDO] is a stand-in for tests and for a
// verifier without FIDO storage.
type FIDOStore interface {
	// AddFIDO stores c for user under a new u2f ARN made from keyName and
	// returns it completed. It refuses (verify.ELIMIT) when the user
	// already holds verify.MaxDevicesPerUser devices of any kind, and
	// (verify.ECONFLICT) a credential id already stored.
	AddFIDO(ctx context.Context, user, keyName string, c Credential) (Credential, error)
	// FIDOCredentials lists user's credentials.
	FIDOCredentials(ctx context.Context, user string) ([]Credential, error)
	// UseFIDO records an accepted assertion: the new signature counter is
	// stored if and only if it is above the stored one (compare-and-set),
	// or both are zero (an authenticator without a counter). A counter that
	// does not move forward is refused with verify.ECODE and reason
	// [ReasonCounter], and audited.
	UseFIDO(ctx context.Context, user, device string, signCount uint32) error
	// RemoveFIDO deletes user's credential device.
	RemoveFIDO(ctx context.Context, user, device string) error
}

// Recorder appends an event to the verifier's audit log; the console
// records with it what happens outside the verifier's own methods
// (refused ceremonies, CSRF failures, expired sessions, sign-ins).
type Recorder interface {
	RecordAudit(ctx context.Context, e verify.AuditEvent) error
}

// ReasonCounter is the refusal reason of an assertion whose signature
// counter did not move forward: a possibly cloned authenticator.
const ReasonCounter = verify.ReasonCounter

// ErrCounter is matched (errors.Is) by the refusal of a counter rollback.
var ErrCounter = &verify.Error{Code: verify.ECODE, Reason: ReasonCounter}

// counterError is the refusal [FIDOStore.UseFIDO] returns.
func counterError(stored, got uint32) error {
	return &verify.Error{Code: verify.ECODE, Reason: ReasonCounter,
		Message: fmt.Sprintf("security key refused: its signature counter went from %d to %d (a cloned or faulty key); the attempt was recorded", stored, got)}
}

// ValidKeyName checks a security key's name as the console takes it: 1 to
// 64 characters of letters, digits and _+=,.@-, as IAM's names.
func ValidKeyName(n string) error {
	if n == "" || len(n) > 64 {
		return &verify.Error{Code: verify.EINVALID, Message: "the device name must be 1 to 64 characters"}
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_+=,.@-", c) >= 0) {
			return &verify.Error{Code: verify.EINVALID, Message: fmt.Sprintf("the device name may hold letters, digits and _+=,.@- only, not %q", c)}
		}
	}
	return nil
}

// FIDOARN returns the IAM-style ARN of a FIDO device:
// arn:aws:iam::ACCOUNT:u2f/user/NAME/KEYNAME-<ID>.
func FIDOARN(account, user, keyName, id string) string {
	return "arn:aws:iam::" + account + ":u2f/user/" + user + "/" + keyName + "-" + id
}

// RandomDeviceID returns the <ID> part of a FIDO ARN: 26 characters of the
// RFC 4648 base32 alphabet, as IAM's.
func RandomDeviceID() (string, error) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	b := make([]byte, 26)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	for i := range b {
		b[i] = alphabet[b[i]&31]
	}
	return string(b), nil
}

// MemoryFIDO is a FIDOStore in memory, counting the verifier's own
// devices towards the limit. Its credentials do not survive a restart.
type MemoryFIDO struct {
	v       verify.Verifier
	account string

	mu    sync.Mutex
	creds map[string][]Credential // by lower-case user name
	now   func() time.Time
}

// NewMemoryFIDO returns an empty MemoryFIDO over v (for the device count).
func NewMemoryFIDO(v verify.Verifier, account string) *MemoryFIDO {
	return &MemoryFIDO{v: v, account: account, creds: map[string][]Credential{}, now: time.Now}
}

var (
	_ FIDOStore = (*MemoryFIDO)(nil)
	_ FIDOStore = (*verify.Service)(nil)
	_ Recorder  = (*verify.Service)(nil)
)

func (m *MemoryFIDO) AddFIDO(ctx context.Context, user, keyName string, c Credential) (Credential, error) {
	if err := ValidKeyName(keyName); err != nil {
		return Credential{}, err
	}
	u, err := m.v.GetUser(ctx, user)
	if err != nil {
		return Credential{}, err
	}
	devs, _, err := m.v.ListDevices(ctx, u.Name, verify.Page{Max: 1000})
	if err != nil {
		return Credential{}, err
	}
	id, err := RandomDeviceID()
	if err != nil {
		return Credential{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := strings.ToLower(u.Name)
	n := len(m.creds[k])
	for _, d := range devs {
		if d.Kind != verify.KindFIDO {
			n++
		}
	}
	if n >= verify.MaxDevicesPerUser {
		return Credential{}, &verify.Error{Code: verify.ELIMIT, Message: "Cannot exceed quota for MFADevicesPerUser: 8", IAMCode: "LimitExceeded"}
	}
	for _, list := range m.creds {
		for _, o := range list {
			if bytes.Equal(o.ID, c.ID) {
				return Credential{}, &verify.Error{Code: verify.ECONFLICT, Message: "this security key is already registered", IAMCode: "EntityAlreadyExists"}
			}
		}
	}
	c.User, c.Name = u.Name, keyName
	c.Device = FIDOARN(m.account, u.Name, keyName, id)
	c.CreatedAt = m.now().UTC()
	m.creds[k] = append(m.creds[k], c)
	return c, nil
}

func (m *MemoryFIDO) FIDOCredentials(ctx context.Context, user string) ([]Credential, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Credential(nil), m.creds[strings.ToLower(user)]...), nil
}

func (m *MemoryFIDO) UseFIDO(ctx context.Context, user, device string, signCount uint32) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	list := m.creds[strings.ToLower(user)]
	for i := range list {
		if list[i].Device != device {
			continue
		}
		if (signCount != 0 || list[i].SignCount != 0) && signCount <= list[i].SignCount {
			return counterError(list[i].SignCount, signCount)
		}
		list[i].SignCount = signCount
		list[i].LastUsedAt = m.now().UTC()
		return nil
	}
	return &verify.Error{Code: verify.ENOTFOUND, Message: fmt.Sprintf("no FIDO device %s for user %s", device, user)}
}

func (m *MemoryFIDO) RemoveFIDO(ctx context.Context, user, device string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := strings.ToLower(user)
	list := m.creds[k]
	for i := range list {
		if list[i].Device == device {
			m.creds[k] = append(list[:i:i], list[i+1:]...)
			return nil
		}
	}
	return &verify.Error{Code: verify.ENOTFOUND, Message: fmt.Sprintf("no FIDO device %s for user %s", device, user)}
}
