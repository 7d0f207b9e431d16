package verify

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
)

// Session durations (STS GetSessionToken DurationSeconds).
const (
	MinSessionDuration     = 15 * time.Minute
	MaxSessionDuration     = 36 * time.Hour
	DefaultSessionDuration = 12 * time.Hour
	maxAccessKeysPerUser   = 2
)

// sealKey seals an access key's secret and session token together.
func (s *Service) sealKey(k *AccessKeyRecord, secret, token string) error {
	kid, ct, err := s.getSealer().Seal([]byte(secret+"\n"+token), SealAAD(SealedAccessKey, k.ID))
	if err != nil {
		return err
	}
	k.KeyID, k.Sealed = kid, ct
	return nil
}

func (s *Service) openKey(k *AccessKeyRecord) (secret, token string, err error) {
	b, err := s.getSealer().Open(k.KeyID, k.Sealed, SealAAD(SealedAccessKey, k.ID))
	if err != nil {
		return "", "", fmt.Errorf("access key %s: opening secret: %w", k.ID, err)
	}
	secret, token, _ = strings.Cut(string(b), "\n")
	clear(b)
	return secret, token, nil
}

// newKey draws an access key pair: prefix + 16 base32 characters (see
// keyID), and a 40-character secret.
func (s *Service) newKey(prefix, user string) (*AccessKeyRecord, string, error) {
	id, err := s.keyID(prefix)
	if err != nil {
		return nil, "", err
	}
	secret, err := s.randomSecret(30) // 40 base64 characters
	if err != nil {
		return nil, "", err
	}
	return &AccessKeyRecord{AccessKey: AccessKey{ID: id, User: user, Status: "Active", CreatedAt: s.now()}}, secret, nil
}

// CreateAccessKey issues a long-term access key (AKIA…) to user; the
// secret is in the result, and sealed at rest since SigV4 needs it back.
func (s *Service) CreateAccessKey(ctx context.Context, user string) (AccessKey, error) {
	if err := validUserName(user, 128); err != nil {
		return AccessKey{}, err
	}
	k, secret, err := s.newKey("AKIA", "")
	if err != nil {
		return AccessKey{}, s.internal("create-access-key", err)
	}
	err = s.update(ctx, "create-access-key", user, "", func(tx Tx, _ *error) error {
		u, err := tx.LockUser(ctx, user)
		if err != nil {
			return err
		}
		keys, err := tx.AccessKeys(ctx, u.Name, false)
		if err != nil {
			return err
		}
		if len(keys) >= maxAccessKeysPerUser {
			return &Error{Code: ELIMIT, Message: fmt.Sprintf("Cannot exceed quota for AccessKeysPerUser: %d", maxAccessKeysPerUser), IAMCode: "LimitExceeded"}
		}
		k.User = u.Name
		if err := s.sealKey(k, secret, ""); err != nil {
			return err
		}
		return tx.CreateAccessKey(ctx, k)
	})
	if err != nil {
		return AccessKey{}, err
	}
	out := k.AccessKey
	out.Secret = secret
	return out, nil
}

// DeleteAccessKey deletes one of user's access keys.
func (s *Service) DeleteAccessKey(ctx context.Context, user, id string) error {
	if err := validUserName(user, 128); err != nil {
		return err
	}
	defer s.keys.forget(id) // also when it fails: a commit may have happened
	return s.update(ctx, "delete-access-key", user, "", func(tx Tx, _ *error) error {
		u, err := tx.User(ctx, user)
		if err != nil {
			return err
		}
		k, err := tx.AccessKey(ctx, id)
		if err != nil {
			return err
		}
		if k.User != u.Name {
			return Errorf(ENOTFOUND, "The Access Key with id %s cannot be found.", trunc(id))
		}
		return tx.DeleteAccessKey(ctx, id)
	})
}

// ListAccessKeys lists user's long-term access keys, without secrets.
func (s *Service) ListAccessKeys(ctx context.Context, user string) ([]AccessKey, error) {
	if err := validUserName(user, 128); err != nil {
		return nil, err
	}
	var recs []*AccessKeyRecord
	err := s.store.View(ctx, func(tx Tx) error {
		u, err := tx.User(ctx, user)
		if err != nil {
			return err
		}
		recs, err = tx.AccessKeys(ctx, u.Name, false)
		return err
	})
	if err != nil {
		return nil, s.internal("list-access-keys", err)
	}
	out := make([]AccessKey, len(recs))
	for i, r := range recs {
		out[i] = r.AccessKey
	}
	return out, nil
}

// LookupAccessKey returns an access key with its secret (and session
// token) for a signature check; ENOTFOUND if unknown or expired. Keys
// found are kept for [Config.AccessKeyCacheTTL] (see keyCache).
func (s *Service) LookupAccessKey(ctx context.Context, id string) (AccessKey, error) {
	if len(id) < 16 || len(id) > 128 {
		return AccessKey{}, Errorf(ENOTFOUND, "The Access Key with id %s cannot be found.", trunc(id))
	}
	now := s.now()
	if k, ok := s.keys.get(id, now); ok {
		if !k.Expires.IsZero() && !now.Before(k.Expires) { // a session key
			return AccessKey{}, expiredKey(id)
		}
		return k, nil
	}
	gen := s.keys.generation()
	var k *AccessKeyRecord
	err := s.peek(ctx, func(tx Tx) (err error) {
		k, err = tx.AccessKey(ctx, id)
		return err
	})
	if err != nil {
		return AccessKey{}, s.internal("lookup-access-key", err)
	}
	if k.Session && !now.Before(k.Expires) {
		return AccessKey{}, expiredKey(id)
	}
	secret, token, err := s.openKey(k)
	if err != nil {
		return AccessKey{}, s.internal("lookup-access-key", err)
	}
	out := k.AccessKey
	out.Secret, out.SessionToken = secret, token
	s.keys.put(out, gen, now)
	return out, nil
}

// expiredKey is LookupAccessKey's answer for a session key past its
// expiry: distinct from an unknown key, as STS answers ExpiredToken.
func expiredKey(id string) error {
	return &Error{Code: EUNAUTHORIZED, Reason: ReasonExpired, Message: fmt.Sprintf("The Access Key with id %s has expired.", trunc(id))}
}

// CreateSession is STS GetSessionToken with MFA: it checks code on device
// under every rule (replay included) and, in the same transaction as the
// accepted step, issues temporary credentials (ASIA…) that carry "MFA
// present". d = 0 means 12 hours; otherwise 15 minutes to 36 hours.
func (s *Service) CreateSession(ctx context.Context, user, device, code string, d time.Duration) (AccessKey, error) {
	if d == 0 {
		d = DefaultSessionDuration
	}
	if d < MinSessionDuration || d > MaxSessionDuration {
		err := &Error{Code: EINVALID, Message: fmt.Sprintf("DurationSeconds must be between %d and %d", int(MinSessionDuration/time.Second), int(MaxSessionDuration/time.Second)), IAMCode: "ValidationError"}
		s.audit(ctx, "create-session", user, device, err)
		return AccessKey{}, err
	}
	k, secret, err := s.newKey("ASIA", user)
	if err != nil {
		return AccessKey{}, s.internal("create-session", err)
	}
	tok, err := s.randomSecret(96)
	if err != nil {
		return AccessKey{}, s.internal("create-session", err)
	}
	k.Session, k.MFA, k.MFADevice = true, true, device
	// Seal before the batch: nothing inside a batch may wait for the
	// sealer, which RotateKEK holds while it waits for the writer.
	if err := s.sealKey(k, secret, tok); err != nil {
		return AccessKey{}, s.internal("create-session", err)
	}
	dec, err := s.decide(ctx, "create-session", user, device, code, func(tx Tx, user string) error {
		now := s.now()
		k.CreatedAt, k.Expires = now, now.Add(d)
		k.User = user
		return tx.CreateAccessKey(ctx, k)
	})
	if err != nil {
		return AccessKey{}, err
	}
	if !dec.Accepted {
		switch dec.Reason {
		case ReasonLocked:
			return AccessKey{}, lockedErr(dec.LockedUntil)
		case ReasonNotEnabled, ReasonLost:
			return AccessKey{}, codeErr(dec.Reason, msgSTSDevice)
		}
		return AccessKey{}, codeErr(dec.Reason, msgSTSCode)
	}
	out := k.AccessKey
	out.Secret, out.SessionToken = secret, tok
	return out, nil
}

// CreateAPIToken issues an administrator's API token named name and returns
// its secret, once; only its SHA-256 is stored.
func (s *Service) CreateAPIToken(ctx context.Context, name string) (string, error) {
	if err := validUserName(name, 64); err != nil {
		return "", &Error{Code: EINVALID, Message: strings.Replace(err.Error()[len("verify: "):], "user name", "token name", 1)}
	}
	raw, err := s.randomID("", 40)
	if err != nil {
		return "", s.internal("create-api-token", err)
	}
	secret := "tlk_" + raw
	err = s.update(ctx, "create-api-token", name, "", func(tx Tx, _ *error) error {
		return tx.CreateAPIToken(ctx, name, sha(secret), s.now())
	})
	if err != nil {
		return "", err
	}
	return secret, nil
}

// CheckAPIToken returns the name of the token whose secret this is;
// EUNAUTHORIZED otherwise.
func (s *Service) CheckAPIToken(ctx context.Context, secret string) (string, error) {
	refused := &Error{Code: EUNAUTHORIZED, Message: "invalid API token"}
	if secret == "" || len(secret) > 256 {
		return "", refused
	}
	h := sha(secret)
	var name string
	var stored []byte
	err := s.store.View(ctx, func(tx Tx) (err error) {
		name, stored, err = tx.APIToken(ctx, h)
		return err
	})
	if err != nil {
		if CodeOf(err) == EUNAUTHORIZED {
			s.audit(ctx, "check-api-token", "", "", refused)
			return "", refused
		}
		return "", s.internal("check-api-token", err)
	}
	if !ctEqual(h, stored) {
		return "", refused
	}
	return name, nil
}

// Audit returns audit events, newest first.
func (s *Service) Audit(ctx context.Context, f AuditFilter) ([]AuditEvent, error) {
	if f.Limit < 0 || f.Limit > 10000 {
		return nil, &Error{Code: EINVALID, Message: "audit limit must be 0 to 10000"}
	}
	var evs []AuditEvent
	err := s.store.View(ctx, func(tx Tx) (err error) {
		evs, err = tx.Audit(ctx, f)
		return err
	})
	if err != nil {
		return nil, s.internal("audit", err)
	}
	return evs, nil
}

// KeyUsage counts the sealed seeds and secrets under each KEK id: a key
// may be retired from the KEK file only once it counts none.
func (s *Service) KeyUsage(ctx context.Context) (map[string]int, error) {
	var m map[string]int
	err := s.store.View(ctx, func(tx Tx) (err error) {
		m, err = tx.KeyUsage(ctx)
		return err
	})
	if err != nil {
		return nil, s.internal("key-usage", err)
	}
	return m, nil
}

// RotateKEK re-seals every seed and secret under next's current key, in
// one transaction, and then seals with next; it returns how many it
// re-sealed. It opens with the Service's sealer and seals with next.
// Other verifiers sharing the database must be able to open under the new
// key: a *seal.Sealer loaded from the KEK file follows the file, so add
// the key to the file (seal.AddKey) before rotating, and retire the old one
// (seal.RetireKeys) only once KeyUsage counts nothing under it.
func (s *Service) RotateKEK(ctx context.Context, next Sealer) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.sealer
	var n int
	err := s.update(ctx, "rotate-kek", "", "", func(tx Tx, _ *error) (err error) {
		n, err = tx.Reseal(ctx, func(x Sealed) (string, []byte, error) {
			pt, err := old.Open(x.KeyID, x.Ciphertext, x.AAD())
			if err != nil {
				return "", nil, fmt.Errorf("%s %s: %w", x.Kind, x.ID, err)
			}
			defer clear(pt)
			return next.Seal(pt, x.AAD())
		})
		return err
	})
	if err != nil {
		return 0, err
	}
	s.sealer = next
	s.log.Info("verify: KEK rotated", "resealed", n)
	return n, nil
}

// keyID returns prefix + 16 characters of the base32 alphabet: 7 for the
// time in 1/64 s (wrapping after 17 years) and 9 random ones (45 bits).
// The time part is written with the alphabet in byte order, so that IDs
// sort by creation: every STS session inserts a key, and IDs that arrive
// in order land at the end of the keys' B-tree instead of on a random page
// each, which under load would dirty (and write and fsync) a page per
// session. An access key ID is not a secret (the secret key is); the
// random part keeps two IDs of the same instant apart.
func (s *Service) keyID(prefix string) (string, error) {
	var r [9]byte
	if _, err := io.ReadFull(s.cfg.Rand, r[:]); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	t := uint64(s.now().UnixNano()) / (uint64(time.Second) / 64)
	out := make([]byte, 0, len(prefix)+16)
	out = append(out, prefix...)
	for i := 6; i >= 0; i-- {
		out = append(out, sortedAlphabet[(t>>(5*uint(i)))&31])
	}
	for _, c := range r {
		out = append(out, idAlphabet[c&31])
	}
	return string(out), nil
}

// sortedAlphabet is idAlphabet in byte order.
const sortedAlphabet = "234567ABCDEFGHIJKLMNOPQRSTUVWXYZ"
