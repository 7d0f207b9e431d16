package verify

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// FIDO security keys and passkeys: the third kind of device. A user
// registers one in the web console (a WebAuthn ceremony, package console);
// the verifier keeps the credential record beside a device row of kind
// [KindFIDO], so it counts towards [MaxDevicesPerUser] with the TOTP
// devices and is listed, marked lost and audited as they are. Enable
// refuses FIDO devices: they are registered only through the console.

// FIDOCredential is a WebAuthn credential record (WebAuthn Level 3 §4,
// "credential record") kept as a FIDO device.
type FIDOCredential struct {
	Device     string    `json:"device"` // arn:aws:iam::ACCOUNT:u2f/user/NAME/KEYNAME-<ID>
	User       string    `json:"user"`
	Name       string    `json:"name"`          // KEYNAME, as the user typed it
	ID         []byte    `json:"credential_id"` // credential id (§5.1 rawId)
	PublicKey  []byte    `json:"public_key"`    // COSE_Key (§6.5.1.1)
	SignCount  uint32    `json:"sign_count"`    // signature counter (§6.1.1)
	AAGUID     []byte    `json:"aaguid"`        // authenticator model (§6.5.1)
	Transports []string  `json:"transports,omitempty"`
	Format     string    `json:"attestation_format"` // attestation statement format (§8)
	Flags      uint8     `json:"flags"`              // UP, UV, BE, BS as registered (go-webauthn CredentialFlags)
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
}

// FIDOTx is the part of a store's transaction that keeps FIDO credential
// records; the sqlite and postgres stores' Tx implement it, and a Service
// finds it by type assertion.
type FIDOTx interface {
	// CreateFIDO inserts the device row (kind fido, assigned to c.User)
	// and the credential record; ECONFLICT if the ARN or the credential id
	// exists.
	CreateFIDO(ctx context.Context, c *FIDOCredential) error
	// FIDOCredentials lists the credentials of the devices assigned to user.
	FIDOCredentials(ctx context.Context, user string) ([]*FIDOCredential, error)
	// AdvanceSignCount sets the counter of device to count, and its last
	// use to now, if and only if the stored counter is still old
	// (compare-and-set). It reports whether it did.
	AdvanceSignCount(ctx context.Context, device string, old, count uint32, now time.Time) (bool, error)
	// DeleteFIDO deletes the credential record and the device row.
	DeleteFIDO(ctx context.Context, device string) error
}

// ReasonCounter refuses an assertion whose signature counter did not move
// forward (WebAuthn §6.1.1): a possibly cloned authenticator.
const ReasonCounter Reason = "counter-rollback"

// msgConsoleOnly is the refusal of enabling a FIDO device with codes.
const msgConsoleOnly = "FIDO security keys are registered in the console, not enabled with codes"

// consoleOnly refuses to enable a FIDO device (by kind or by its u2f ARN)
// through the API or the IAM endpoint.
func consoleOnly() *Error {
	return &Error{Code: EINVALID, Message: msgConsoleOnly + " (console-only: open /console, Security credentials, Assign MFA device)", IAMCode: "InvalidInput"}
}

func (s *Service) fidoTx(tx Tx) (FIDOTx, error) {
	f, ok := tx.(FIDOTx)
	if !ok {
		return nil, fmt.Errorf("the store keeps no FIDO credentials")
	}
	return f, nil
}

func validKeyName(n string) error {
	if n == "" || len(n) > 64 {
		return &Error{Code: EINVALID, Message: "the device name must be 1 to 64 characters", IAMCode: "ValidationError"}
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_+=,.@-", c) >= 0) {
			return &Error{Code: EINVALID, Message: fmt.Sprintf("the device name may hold letters, digits and _+=,.@- only, not %q", c), IAMCode: "ValidationError"}
		}
	}
	return nil
}

// AddFIDO stores a credential that a WebAuthn registration ceremony
// verified, as a new FIDO device of user named
// arn:aws:iam::ACCOUNT:u2f/user/NAME/KEYNAME-<ID>. It refuses the device
// past the 8-device limit (ELIMIT) and a credential id already stored
// (ECONFLICT).
func (s *Service) AddFIDO(ctx context.Context, user, keyName string, c FIDOCredential) (FIDOCredential, error) {
	if err := first(validUserName(user, 128), validKeyName(keyName)); err != nil {
		s.audit(ctx, "fido-register", user, "", err)
		return FIDOCredential{}, err
	}
	if len(c.ID) == 0 || len(c.ID) > 1023 || len(c.PublicKey) == 0 || len(c.PublicKey) > 4096 {
		err := &Error{Code: EINVALID, Message: "a FIDO credential needs an id (at most 1023 bytes) and a public key"}
		s.audit(ctx, "fido-register", user, "", err)
		return FIDOCredential{}, err
	}
	id, err := s.randomID("", 26)
	if err != nil {
		return FIDOCredential{}, s.internal("fido-register", err)
	}
	now := s.now()
	// The audit event names the new device, known only inside the
	// transaction: written there, as update does for the other methods.
	err = s.store.Update(ctx, func(tx Tx) error {
		ft, err := s.fidoTx(tx)
		if err != nil {
			return err
		}
		u, err := tx.LockUser(ctx, user)
		if err != nil {
			return err
		}
		n, err := tx.CountDevices(ctx, u.Name)
		if err != nil {
			return err
		}
		if n >= MaxDevicesPerUser {
			return &Error{Code: ELIMIT, Message: msgLimit, IAMCode: "LimitExceeded"}
		}
		arn := "arn:aws:iam::" + s.cfg.Account + ":u2f/user/" + u.Name + "/" + keyName + "-" + id
		c.Device, c.User, c.Name, c.CreatedAt, c.LastUsedAt = arn, u.Name, keyName, now, time.Time{}
		if err := ft.CreateFIDO(ctx, &c); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, s.event(ctx, "fido-register", u.Name, arn, "ok", ""))
	})
	if err != nil {
		err = s.internal("fido-register", err)
		s.audit(ctx, "fido-register", user, "", err)
		return FIDOCredential{}, err
	}
	return c, nil
}

// FIDOCredentials lists user's FIDO credentials.
func (s *Service) FIDOCredentials(ctx context.Context, user string) ([]FIDOCredential, error) {
	if err := validUserName(user, 128); err != nil {
		return nil, err
	}
	var recs []*FIDOCredential
	err := s.store.View(ctx, func(tx Tx) error {
		ft, err := s.fidoTx(tx)
		if err != nil {
			return err
		}
		u, err := tx.User(ctx, user)
		if err != nil {
			return err
		}
		recs, err = ft.FIDOCredentials(ctx, u.Name)
		return err
	})
	if err != nil {
		return nil, s.internal("fido-list", err)
	}
	out := make([]FIDOCredential, len(recs))
	for i, r := range recs {
		out[i] = *r
	}
	return out, nil
}

// UseFIDO records an assertion that the WebAuthn authentication ceremony
// verified: the signature counter moves to signCount if and only if it is
// above the stored one (or both are zero: an authenticator without a
// counter), as a compare-and-set, so two verifiers cannot both accept the
// same counter. A counter that does not move forward is refused (ECODE,
// [ReasonCounter]). Either way the decision is audited ("fido-login").
func (s *Service) UseFIDO(ctx context.Context, user, device string, signCount uint32) error {
	if err := first(validUserName(user, 128), validDevice(device)); err != nil {
		return err
	}
	now := s.now()
	return s.update(ctx, "fido-login", user, device, func(tx Tx, refusal *error) error {
		ft, err := s.fidoTx(tx)
		if err != nil {
			return err
		}
		u, err := tx.User(ctx, user)
		if err != nil {
			return err
		}
		creds, err := ft.FIDOCredentials(ctx, u.Name)
		if err != nil {
			return err
		}
		var c *FIDOCredential
		for _, x := range creds {
			if x.Device == device {
				c = x
			}
		}
		if c == nil {
			return noSuchDevice(device)
		}
		if (signCount != 0 || c.SignCount != 0) && signCount <= c.SignCount {
			*refusal = counterErr(c.SignCount, signCount)
			return nil
		}
		won, err := ft.AdvanceSignCount(ctx, device, c.SignCount, signCount, now)
		if err != nil {
			return err
		}
		if !won { // another verifier moved it first
			*refusal = counterErr(c.SignCount, signCount)
		}
		return nil
	})
}

func counterErr(stored, got uint32) *Error {
	return &Error{Code: ECODE, Reason: ReasonCounter, IAMCode: "InvalidAuthenticationCode",
		Message: fmt.Sprintf("security key refused: its signature counter went from %d to %d (a cloned or faulty key); the attempt was recorded", stored, got)}
}

// RemoveFIDO deletes user's FIDO device.
func (s *Service) RemoveFIDO(ctx context.Context, user, device string) error {
	if err := first(validUserName(user, 128), validDevice(device)); err != nil {
		return err
	}
	return s.update(ctx, "fido-remove", user, device, func(tx Tx, _ *error) error {
		ft, err := s.fidoTx(tx)
		if err != nil {
			return err
		}
		_, d, err := ownedDevice(ctx, tx, user, device)
		if err != nil {
			return err
		}
		if d.Kind != KindFIDO {
			return noSuchDevice(device)
		}
		return ft.DeleteFIDO(ctx, device)
	})
}

// RecordAudit appends e to the audit log: the console records with it what
// happens outside the verifier's methods (refused ceremonies, CSRF
// failures, expired sessions, sign-ins). A zero Time is now; the actor
// defaults to the context's.
func (s *Service) RecordAudit(ctx context.Context, e AuditEvent) error {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	if a := ActorFrom(ctx); e.Actor == "" {
		e.Actor, e.Source = a.Name, a.Source
	}
	e.ID = 0
	err := s.store.Update(context.WithoutCancel(ctx), func(tx Tx) error { return tx.AppendAudit(ctx, &e) })
	return s.internal("audit", err)
}
