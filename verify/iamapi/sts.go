package iamapi

import (
	"errors"
	"time"

	"github.com/tokenlab/tokenlab/verify"
)

// stsActions are the STS actions served, by Action name.
var stsActions = map[string]actionFunc{
	"GetSessionToken":   getSessionToken,
	"GetCallerIdentity": getCallerIdentity,
}

// Messages STS gives when MFA fails (observed, IAM-SPEC.md §1).
const (
	msgBadCode   = "MultiFactorAuthentication failed with invalid MFA one time pass code. "
	msgBadSerial = "MultiFactorAuthentication failed, unable to validate MFA code.  Please verify your MFA serial number is valid and associated with this user."
)

func getSessionToken(c *call) (any, error) {
	serial := c.p.get("SerialNumber", false, ruleSerial)
	code := c.p.get("TokenCode", false, ruleTokenCode)
	secs := c.p.integer("DurationSeconds", 43200, 900, 129600)
	if err := c.p.err(); err != nil {
		return nil, err
	}
	if c.isSession() {
		return nil, errf(403, "AccessDenied", "Cannot call GetSessionToken with session credentials")
	}
	_, haveSerial := c.p.form["SerialNumber"]
	_, haveCode := c.p.form["TokenCode"]
	if haveSerial != haveCode {
		return nil, errf(403, "AccessDenied", "%s", msgBadSerial)
	}
	if haveSerial {
		// FIDO keys cannot give codes for API credentials, as in IAM.
		d, err := c.h.v.GetDevice(c.ctx, serial)
		if err != nil || d.Kind == verify.KindFIDO || d.User != c.caller.Name {
			if err != nil && verify.CodeOf(err) != verify.ENOTFOUND {
				return nil, err
			}
			return nil, errf(403, "AccessDenied", "%s", msgBadSerial)
		}
	}
	k, err := c.h.v.CreateSession(c.ctx, c.caller.Name, serial, code, time.Duration(secs)*time.Second)
	if err != nil {
		return nil, sessionError(err)
	}
	return struct{ Credentials xmlCredentials }{xmlCredentials{
		AccessKeyId: k.ID, SecretAccessKey: k.Secret, SessionToken: k.SessionToken, Expiration: isoTime(k.Expires),
	}}, nil
}

type xmlCredentials struct {
	AccessKeyId     string
	SecretAccessKey string
	SessionToken    string
	Expiration      string
}

// sessionError maps a verifier error from CreateSession to STS's answer:
// every refusal of the code is AccessDenied.
func sessionError(err error) error {
	switch verify.CodeOf(err) {
	case verify.ECODE, verify.ELOCKED:
		return errf(403, "AccessDenied", "%s", msgBadCode)
	case verify.ENOTFOUND, verify.EFORBIDDEN, verify.EUNAUTHORIZED:
		return errf(403, "AccessDenied", "%s", msgBadSerial)
	case verify.EINVALID:
		var ve *verify.Error
		errors.As(err, &ve)
		return errValidation(ve.Message)
	}
	return err
}

func getCallerIdentity(c *call) (any, error) {
	u := c.xmlUser(c.caller)
	return struct {
		UserId  string
		Account string
		Arn     string
	}{u.UserId, c.h.cfg.Account, u.Arn}, nil
}
