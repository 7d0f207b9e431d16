package verify

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
)

// Password hashing: argon2id (RFC 9106) with OWASP's minimum parameters
// for a shared machine (19 MiB, 2 passes, 1 lane), encoded as a PHC string.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

var b64 = base64.RawStdEncoding

func (s *Service) hashPassword(pw string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := io.ReadFull(s.cfg.Rand, salt); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	h := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(h)), nil
}

// checkPasswordHash compares pw with a PHC argon2id string in constant time.
func checkPasswordHash(encoded, pw string) bool {
	f := strings.Split(encoded, "$")
	if len(f) != 6 || f[1] != "argon2id" || f[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(f[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || m > 1<<22 || t == 0 || t > 64 || p == 0 {
		return false
	}
	salt, err1 := b64.DecodeString(f[4])
	want, err2 := b64.DecodeString(f[5])
	if err1 != nil || err2 != nil || len(want) == 0 || len(want) > 128 {
		return false
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}

func validPassword(pw string) error {
	if len(pw) < 8 || len(pw) > 1024 {
		return &Error{Code: EINVALID, Message: "password must be 8 to 1024 characters", IAMCode: "PasswordPolicyViolation"}
	}
	return nil
}

// CreateUser adds a user (IAM CreateUser).
func (s *Service) CreateUser(ctx context.Context, name string, opt UserOptions) (User, error) {
	if opt.Path == "" {
		opt.Path = "/"
	}
	if err := first(validUserName(name, 64), validPath(opt.Path)); err != nil {
		s.audit(ctx, "create-user", name, "", err)
		return User{}, err
	}
	u := &UserRecord{User: User{Name: name, Path: opt.Path, Admin: opt.Admin, RequireMFA: opt.RequireMFA, CreatedAt: s.now()}}
	u.Arn = "arn:aws:iam::" + s.cfg.Account + ":user" + opt.Path + name
	var err error
	if u.ID, err = s.randomID("AIDA", 17); err != nil {
		return User{}, s.internal("create-user", err)
	}
	if opt.Password != "" {
		if err := validPassword(opt.Password); err != nil {
			s.audit(ctx, "create-user", name, "", err)
			return User{}, err
		}
		if u.PasswordHash, err = s.hashPassword(opt.Password); err != nil {
			return User{}, s.internal("create-user", err)
		}
	}
	err = s.updateGrouped(ctx, "create-user", name, "", func(tx Tx, _ *error) error {
		return tx.CreateUser(ctx, u)
	})
	if err != nil {
		return User{}, err
	}
	return u.User, nil
}

// GetUser returns a user by name.
func (s *Service) GetUser(ctx context.Context, name string) (User, error) {
	if err := validUserName(name, 128); err != nil {
		return User{}, err
	}
	var u *UserRecord
	err := s.store.View(ctx, func(tx Tx) (err error) {
		u, err = tx.User(ctx, name)
		return err
	})
	if err != nil {
		return User{}, s.internal("get-user", err)
	}
	return u.User, nil
}

// ListUsers lists users whose path starts with pathPrefix, by name.
func (s *Service) ListUsers(ctx context.Context, pathPrefix string, p Page) ([]User, string, error) {
	n, err := pageSize(p)
	if err != nil {
		return nil, "", err
	}
	after, err := decodeMarker(p.Marker)
	if err != nil {
		return nil, "", err
	}
	if pathPrefix != "" && (pathPrefix[0] != '/' || len(pathPrefix) > 512) {
		return nil, "", &Error{Code: EINVALID, Message: "path prefix must begin with /", IAMCode: "ValidationError"}
	}
	var recs []*UserRecord
	err = s.store.View(ctx, func(tx Tx) (err error) {
		recs, err = tx.Users(ctx, pathPrefix, after, n+1)
		return err
	})
	if err != nil {
		return nil, "", s.internal("list-users", err)
	}
	next := ""
	if len(recs) > n {
		recs = recs[:n]
		next = encodeMarker(strings.ToLower(recs[n-1].Name))
	}
	users := make([]User, len(recs))
	for i, r := range recs {
		users[i] = r.User
	}
	return users, next, nil
}

// DeleteUser removes a user; ECONFLICT (DeleteConflict) while MFA devices
// or long-term access keys are attached. Session keys go with the user.
func (s *Service) DeleteUser(ctx context.Context, name string) error {
	if err := validUserName(name, 128); err != nil {
		return err
	}
	defer s.keys.forget("") // its session keys go with it
	return s.update(ctx, "delete-user", name, "", func(tx Tx, _ *error) error {
		u, err := tx.LockUser(ctx, name)
		if err != nil {
			return err
		}
		n, err := tx.CountDevices(ctx, u.Name)
		if err != nil {
			return err
		}
		if n > 0 {
			return &Error{Code: ECONFLICT, Message: "Cannot delete entity, must delete MFA device first.", IAMCode: "DeleteConflict"}
		}
		keys, err := tx.AccessKeys(ctx, u.Name, false)
		if err != nil {
			return err
		}
		if len(keys) > 0 {
			return &Error{Code: ECONFLICT, Message: "Cannot delete entity, must delete access keys first.", IAMCode: "DeleteConflict"}
		}
		if _, err := tx.DeleteSessionKeys(ctx, u.Name, time.Time{}); err != nil {
			return err
		}
		return tx.DeleteUser(ctx, u.Name)
	})
}

// SetPassword sets (or, with "", removes) a user's console password.
func (s *Service) SetPassword(ctx context.Context, name, password string) error {
	if err := validUserName(name, 128); err != nil {
		return err
	}
	hash := ""
	if password != "" {
		if err := validPassword(password); err != nil {
			return err
		}
		var err error
		if hash, err = s.hashPassword(password); err != nil {
			return s.internal("set-password", err)
		}
	}
	return s.update(ctx, "set-password", name, "", func(tx Tx, _ *error) error {
		u, err := tx.User(ctx, name)
		if err != nil {
			return err
		}
		u.PasswordHash = hash
		return tx.UpdateUser(ctx, u)
	})
}

// dummyHash is compared against when the user does not exist, so a
// missing user costs the same time as a wrong password.
var dummyHash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$WtqSLB9W7Bq3EOpPT4YtSr2HtHj2VH6NoKf2xPd2tWk"

// CheckPassword returns the user whose password this is; EUNAUTHORIZED
// for a wrong password, an unknown user or a user without a password.
func (s *Service) CheckPassword(ctx context.Context, name, password string) (User, error) {
	refused := &Error{Code: EUNAUTHORIZED, Message: "incorrect user name or password"}
	if validUserName(name, 128) != nil {
		checkPasswordHash(dummyHash, password)
		return User{}, refused
	}
	var u *UserRecord
	err := s.store.View(ctx, func(tx Tx) (err error) {
		u, err = tx.User(ctx, name)
		return err
	})
	if err != nil && CodeOf(err) != ENOTFOUND {
		return User{}, s.internal("check-password", err)
	}
	ok := false
	if u != nil && u.PasswordHash != "" {
		ok = checkPasswordHash(u.PasswordHash, password)
	} else {
		checkPasswordHash(dummyHash, password)
	}
	if !ok {
		s.audit(ctx, "check-password", name, "", refused)
		return User{}, refused
	}
	s.audit(ctx, "check-password", u.Name, "", nil)
	return u.User, nil
}

// SetRequireMFA sets whether the user's IAM actions need an MFA session.
func (s *Service) SetRequireMFA(ctx context.Context, name string, require bool) error {
	if err := validUserName(name, 128); err != nil {
		return err
	}
	return s.update(ctx, "set-require-mfa", name, "", func(tx Tx, _ *error) error {
		u, err := tx.User(ctx, name)
		if err != nil {
			return err
		}
		u.RequireMFA = require
		return tx.UpdateUser(ctx, u)
	})
}
