package iamapi

import (
	"context"
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
	d := time.Duration(secs) * time.Second
	var k verify.AccessKey
	var err error
	if haveSerial {
		k, err = c.h.v.CreateSession(c.ctx, c.caller.Name, serial, code, d)
	} else if ps, ok := c.h.v.(plainSessioner); ok {
		k, err = ps.CreatePlainSession(c.ctx, c.caller.Name, d)
	} else {
		return nil, errf(403, "AccessDenied", "This endpoint issues session credentials only with MFA: call GetSessionToken with SerialNumber and TokenCode.")
	}
	if err != nil {
		return nil, sessionError(err)
	}
	return sessionResult{xmlCredentials{
		AccessKeyId: k.ID, SecretAccessKey: k.Secret, SessionToken: k.SessionToken, Expiration: isoTime(k.Expires),
	}}, nil
}

// sessionResult is GetSessionTokenResult.
type sessionResult struct {
	Credentials xmlCredentials
}

// appendXML writes what encoding/xml would (TestResultFastPath checks it).
func (r sessionResult) appendXML(b []byte) []byte {
	c := &r.Credentials
	b = append(b, "<Credentials>"...)
	b = appendElement(b, "AccessKeyId", c.AccessKeyId)
	b = appendElement(b, "SecretAccessKey", c.SecretAccessKey)
	b = appendElement(b, "SessionToken", c.SessionToken)
	b = appendElement(b, "Expiration", c.Expiration)
	return append(b, "</Credentials>"...)
}

// plainSessioner is what a verifier needs to serve GetSessionToken without
// MFA, as AWS does; verify.Verifier's CreateSession always checks a code.
// Such sessions carry no MFA, so they call no IAM action.
type plainSessioner interface {
	CreatePlainSession(ctx context.Context, user string, d time.Duration) (verify.AccessKey, error)
}

type xmlCredentials struct {
	AccessKeyId     string
	SecretAccessKey string
	SessionToken    string
	Expiration      string
}

// sessionError maps a verifier error from CreateSession to STS's answer:
// every refusal of the code or device is AccessDenied; a FIDO key's ARN,
// which gives no codes, is a ValidationError, as in IAM.
func sessionError(err error) error {
	switch verify.CodeOf(err) {
	case verify.ECODE, verify.ELOCKED:
		if r := verify.ReasonOf(err); r == verify.ReasonNotEnabled || r == verify.ReasonLost {
			return errf(403, "AccessDenied", "%s", msgBadSerial)
		}
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
