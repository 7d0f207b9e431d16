package token

import (
	"errors"
	"fmt"
	"strings"
)

// ErrARN is matched by every error from [ParseMFAARN].
var ErrARN = errors.New("token: invalid MFA device ARN")

// DefaultAccount is the account id tokenlab uses when none is configured,
// the one IAM's documentation uses in its examples.
const DefaultAccount = "123456789012"

// MFAARN is the ARN of a virtual MFA device: arn:aws:iam::ACCOUNT:mfa/PATH/NAME.
type MFAARN struct {
	Account string
	Path    string // "/" or "/a/b/"
	Name    string
}

// String formats the ARN as IAM does: the path's leading slash is dropped.
func (a MFAARN) String() string {
	p := a.Path
	if p == "" {
		p = "/"
	}
	return "arn:aws:iam::" + a.Account + ":mfa" + p + a.Name
}

// ValidMFAName checks a virtual MFA device name (IAM virtualMFADeviceName:
// 1 to 226 characters of letters, digits and _+=,.@-).
func ValidMFAName(n string) error {
	if n == "" || len(n) > 226 {
		return fmt.Errorf("%w: device name must be 1 to 226 characters", ErrARN)
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_+=,.@-", c) >= 0) {
			return fmt.Errorf("%w: device name %q: character %q not allowed", ErrARN, truncate(n), c)
		}
	}
	return nil
}

// ValidPath checks an IAM path: "/" or "/" + printable ASCII + "/", at most 512.
func ValidPath(p string) error {
	if p == "/" {
		return nil
	}
	if len(p) < 2 || len(p) > 512 || p[0] != '/' || p[len(p)-1] != '/' {
		return fmt.Errorf("%w: path %q must begin and end with /", ErrARN, truncate(p))
	}
	for i := 0; i < len(p); i++ {
		if p[i] < 0x21 || p[i] > 0x7e {
			return fmt.Errorf("%w: path %q has a character outside printable ASCII", ErrARN, truncate(p))
		}
	}
	return nil
}

// ParseMFAARN reads arn:aws:iam::ACCOUNT:mfa/[PATH/]NAME.
func ParseMFAARN(s string) (MFAARN, error) {
	const pre = "arn:aws:iam::"
	if !strings.HasPrefix(s, pre) {
		return MFAARN{}, fmt.Errorf("%w %q: want arn:aws:iam::ACCOUNT:mfa/NAME", ErrARN, truncate(s))
	}
	rest := s[len(pre):]
	acct, res, ok := strings.Cut(rest, ":")
	if !ok || len(acct) != 12 || strings.Trim(acct, "0123456789") != "" {
		return MFAARN{}, fmt.Errorf("%w %q: account must be 12 digits", ErrARN, truncate(s))
	}
	if !strings.HasPrefix(res, "mfa/") {
		return MFAARN{}, fmt.Errorf("%w %q: resource must start with mfa/", ErrARN, truncate(s))
	}
	res = res[len("mfa"):] // keeps the leading slash
	i := strings.LastIndexByte(res, '/')
	a := MFAARN{Account: acct, Path: res[:i+1], Name: res[i+1:]}
	if err := ValidPath(a.Path); err != nil {
		return MFAARN{}, err
	}
	if err := ValidMFAName(a.Name); err != nil {
		return MFAARN{}, err
	}
	return a, nil
}

// IsARN reports whether s looks like an ARN rather than a serial.
func IsARN(s string) bool { return strings.HasPrefix(s, "arn:") }
