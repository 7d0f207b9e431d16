package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/tokenlab/tokenlab/verify"
)

// The WebAuthn relying party: registration (WebAuthn Level 3 §7.1) and
// authentication (§7.2) ceremonies through go-webauthn, with the console
// session holding each ceremony's challenge between begin and finish.
//
// Endpoints (POST, JSON, X-CSRF-Token header):
//
//	/console/webauthn/register/begin   {"name": KEYNAME} → PublicKeyCredentialCreationOptions
//	/console/webauthn/register/finish  PublicKeyCredential (attestation) → {"device": ARN, "redirect": URL}
//	/console/webauthn/login/begin      {} → PublicKeyCredentialRequestOptions
//	/console/webauthn/login/finish     PublicKeyCredential (assertion) → {"device": ARN, "redirect": URL}
//
// Refusals answer {"error": message} and are audited with a reason:
// wrong-challenge, wrong-origin, wrong-rp-id, bad-signature,
// counter-rollback, unknown-credential or invalid-response.

// waUser is a verify.User as go-webauthn sees it.
type waUser struct {
	u     verify.User
	creds []Credential
}

// WebAuthnID is the user handle (§5.4.3): the user's stable IAM id.
func (w *waUser) WebAuthnID() []byte          { return []byte(w.u.ID) }
func (w *waUser) WebAuthnName() string        { return w.u.Name }
func (w *waUser) WebAuthnDisplayName() string { return w.u.Name }
func (w *waUser) WebAuthnCredentials() []webauthn.Credential {
	out := make([]webauthn.Credential, len(w.creds))
	for i, c := range w.creds {
		out[i] = toWA(c)
	}
	return out
}

func toWA(c Credential) webauthn.Credential {
	tr := make([]protocol.AuthenticatorTransport, len(c.Transports))
	for i, t := range c.Transports {
		tr[i] = protocol.AuthenticatorTransport(t)
	}
	return webauthn.Credential{ID: c.ID, PublicKey: c.PublicKey, AttestationFormat: c.Format, Transport: tr,
		Flags:         webauthn.CredentialFlagsFromMsgpByte(c.Flags),
		Authenticator: webauthn.Authenticator{AAGUID: c.AAGUID, SignCount: c.SignCount}}
}

// relyingParty returns the go-webauthn instance for the request's origin.
func (c *Console) relyingParty(q *req) (*webauthn.WebAuthn, error) {
	c.waMu.Lock()
	defer c.waMu.Unlock()
	if w := c.wa[q.origin]; w != nil {
		return w, nil
	}
	w, err := webauthn.New(&webauthn.Config{
		RPID:          q.rpID,
		RPDisplayName: c.cfg.RPName,
		RPOrigins:     []string{q.origin},
		Timeouts: webauthn.TimeoutsConfig{
			Login:        webauthn.TimeoutConfig{Enforce: true, Timeout: 2 * time.Minute, TimeoutUVD: 2 * time.Minute},
			Registration: webauthn.TimeoutConfig{Enforce: true, Timeout: 5 * time.Minute, TimeoutUVD: 5 * time.Minute},
		},
	})
	if err != nil {
		return nil, err
	}
	if len(c.wa) > 16 { // origins follow Host when not configured: keep a few
		clear(c.wa)
	}
	c.wa[q.origin] = w
	return w, nil
}

func (c *Console) waUser(q *req) (*waUser, error) {
	ctx := q.r.Context()
	u, err := c.v.GetUser(ctx, q.ss.user)
	if err != nil {
		return nil, err
	}
	creds, err := c.fido.FIDOCredentials(ctx, u.Name)
	if err != nil {
		return nil, err
	}
	return &waUser{u: u, creds: creds}, nil
}

// refusal classifies a go-webauthn error for the audit log and the person.
func refusal(err error) (reason, msg string) {
	var pe *protocol.Error
	var uc *protocol.ErrorUnknownCredential
	if errors.As(err, &uc) {
		return "unknown-credential", "This security key is not registered for your user."
	}
	if !errors.As(err, &pe) {
		return "invalid-response", "The security key's response is not valid: " + err.Error()
	}
	all := strings.ToLower(pe.Details + " " + pe.DevInfo)
	switch {
	case strings.Contains(all, "challenge"):
		return "wrong-challenge", "The security key's response answers another challenge (a replayed or forged response); it was refused."
	case strings.Contains(all, "rp hash") || strings.Contains(all, "rpid") || strings.Contains(all, "rp id"):
		return "wrong-rp-id", "The security key's response was made for another relying party (RP ID hash mismatch); it was refused."
	case strings.Contains(all, "origin"):
		return "wrong-origin", "The security key's response was made for another web site (origin mismatch); it was refused."
	case strings.Contains(all, "signature"):
		return "bad-signature", "The security key's signature does not verify; the response was refused."
	case strings.Contains(all, "credential id"), strings.Contains(all, "owned by the user"):
		return "unknown-credential", "This security key is not registered for your user."
	}
	return "invalid-response", "The security key's response is not valid: " + pe.Details
}

// ceremonyFail refuses a ceremony response: audited, the ceremony ended.
func (c *Console) ceremonyFail(q *req, action, device, reason, msg string, status int) {
	q.ss.ceremony, q.ss.wa = "", nil
	c.audit(q.r.Context(), action, q.ss.user, device, "refused", reason)
	writeJSON(q.w, status, map[string]string{"error": msg, "reason": reason})
}

// ---- registration

func (c *Console) registerBegin(q *req) {
	var in struct {
		Name string `json:"name"`
	}
	if err := decodeJSON(q.r, &in); err != nil {
		writeJSON(q.w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	if err := ValidKeyName(in.Name); err != nil {
		writeJSON(q.w, http.StatusBadRequest, map[string]string{"error": message(err)})
		return
	}
	n, err := c.countDevices(q, q.ss.user)
	if err != nil {
		writeJSON(q.w, statusOf(err), map[string]string{"error": message(err)})
		return
	}
	if n >= verify.MaxDevicesPerUser {
		c.audit(q.r.Context(), "fido-register", q.ss.user, "", "refused", string(verify.ELIMIT))
		writeJSON(q.w, http.StatusConflict, map[string]string{"error": limitMessage})
		return
	}
	rp, err := c.relyingParty(q)
	if err != nil {
		writeJSON(q.w, http.StatusInternalServerError, map[string]string{"error": "console: relying party: " + err.Error()})
		return
	}
	wu, err := c.waUser(q)
	if err != nil {
		writeJSON(q.w, statusOf(err), map[string]string{"error": message(err)})
		return
	}
	exclude := make([]protocol.CredentialDescriptor, 0, len(wu.creds))
	for _, cr := range wu.WebAuthnCredentials() {
		exclude = append(exclude, cr.Descriptor())
	}
	creation, sd, err := rp.BeginRegistration(wu,
		webauthn.WithExclusions(exclude),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementPreferred,
			UserVerification: protocol.VerificationPreferred,
		}),
		webauthn.WithConveyancePreference(protocol.PreferDirectAttestation),
	)
	if err != nil {
		writeJSON(q.w, http.StatusInternalServerError, map[string]string{"error": "console: " + err.Error()})
		return
	}
	q.ss.ceremony, q.ss.wa, q.ss.keyName = "register", sd, in.Name
	writeJSON(q.w, http.StatusOK, creation)
}

// ceremonyParties returns the relying party and the signed-in user a
// ceremony's finish step checks against; on failure it has answered.
func (c *Console) ceremonyParties(q *req) (*webauthn.WebAuthn, *waUser, bool) {
	rp, err := c.relyingParty(q)
	if err != nil {
		writeJSON(q.w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return nil, nil, false
	}
	wu, err := c.waUser(q)
	if err != nil {
		writeJSON(q.w, statusOf(err), map[string]string{"error": message(err)})
		return nil, nil, false
	}
	return rp, wu, true
}

func (c *Console) registerFinish(q *req) {
	const action = "fido-register"
	if q.ss.ceremony != "register" || q.ss.wa == nil {
		c.ceremonyFail(q, action, "", "no-ceremony", "No security key registration is in progress (or it was already used); start again.", http.StatusBadRequest)
		return
	}
	sd, name := *q.ss.wa, q.ss.keyName
	parsed, err := protocol.ParseCredentialCreationResponseBody(q.r.Body)
	if err != nil {
		reason, msg := refusal(err)
		c.ceremonyFail(q, action, "", reason, msg, http.StatusBadRequest)
		return
	}
	rp, wu, ok := c.ceremonyParties(q)
	if !ok {
		return
	}
	cred, err := rp.CreateCredential(wu, sd, parsed)
	if err != nil {
		reason, msg := refusal(err)
		c.ceremonyFail(q, action, "", reason, msg, http.StatusBadRequest)
		return
	}
	q.ss.ceremony, q.ss.wa = "", nil
	rec := Credential{ID: cred.ID, PublicKey: cred.PublicKey, SignCount: cred.Authenticator.SignCount,
		AAGUID: cred.Authenticator.AAGUID, Format: cred.AttestationFormat, Flags: cred.Flags.MsgpByte()}
	for _, t := range cred.Transport {
		rec.Transports = append(rec.Transports, string(t))
	}
	stored, err := c.fido.AddFIDO(q.r.Context(), q.ss.user, name, rec)
	_, mem := c.fido.(*MemoryFIDO) // the verifier audits its own decisions
	if err != nil {
		out, reason := "error", string(verify.CodeOf(err))
		if verify.CodeOf(err) == verify.ELIMIT || verify.CodeOf(err) == verify.ECONFLICT {
			out = "refused"
		}
		if mem {
			c.audit(q.r.Context(), action, q.ss.user, "", out, reason)
		}
		msg := message(err)
		if verify.CodeOf(err) == verify.ELIMIT {
			msg = limitMessage
		}
		writeJSON(q.w, statusOf(err), map[string]string{"error": msg})
		return
	}
	if mem {
		c.audit(q.r.Context(), action, q.ss.user, stored.Device, "ok", "")
	}
	q.ss.flash = "Security key " + name + " is assigned."
	writeJSON(q.w, http.StatusOK, map[string]string{"device": stored.Device, "redirect": Prefix + "/security-credentials"})
}

// ---- authentication (the second factor at sign-in)

func (c *Console) loginBegin(q *req) {
	rp, wu, ok := c.ceremonyParties(q)
	if !ok {
		return
	}
	if len(wu.creds) == 0 {
		writeJSON(q.w, http.StatusBadRequest, map[string]string{"error": "You have no security key; sign in with a code from an MFA device."})
		return
	}
	assertion, sd, err := rp.BeginLogin(wu, webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		writeJSON(q.w, http.StatusInternalServerError, map[string]string{"error": "console: " + err.Error()})
		return
	}
	q.ss.ceremony, q.ss.wa = "login", sd
	writeJSON(q.w, http.StatusOK, assertion)
}

func (c *Console) loginFinish(q *req) {
	const action = "fido-login"
	ctx := q.r.Context()
	now := c.cfg.Now()
	if until := c.throttle.blocked(now, userKey(q.ss.user), addrKey(q.r)); !until.IsZero() {
		c.ceremonyFail(q, action, "", "throttled", "Too many failed attempts; try again in "+until.Sub(now).Round(time.Second).String()+".", http.StatusTooManyRequests)
		return
	}
	if q.ss.ceremony != "login" || q.ss.wa == nil {
		c.ceremonyFail(q, action, "", "no-ceremony", "No security key sign-in is in progress (or its challenge was already used); start again.", http.StatusBadRequest)
		return
	}
	sd := *q.ss.wa
	parsed, err := protocol.ParseCredentialRequestResponseBody(q.r.Body)
	if err != nil {
		c.throttle.fail(now, userKey(q.ss.user), addrKey(q.r))
		reason, msg := refusal(err)
		c.ceremonyFail(q, action, "", reason, msg, http.StatusBadRequest)
		return
	}
	rp, wu, ok := c.ceremonyParties(q)
	if !ok {
		return
	}
	var device string
	for _, cr := range wu.creds {
		if bytes.Equal(cr.ID, parsed.RawID) {
			device = cr.Device
		}
	}
	_, err = rp.ValidateLogin(wu, sd, parsed)
	if err != nil {
		c.throttle.fail(now, userKey(q.ss.user), addrKey(q.r))
		reason, msg := refusal(err)
		c.ceremonyFail(q, action, device, reason, msg, http.StatusForbidden)
		return
	}
	// The counter: compare-and-set in the store, which audits a rollback.
	if err := c.fido.UseFIDO(ctx, q.ss.user, device, parsed.Response.AuthenticatorData.Counter); err != nil {
		c.throttle.fail(now, userKey(q.ss.user), addrKey(q.r))
		if errors.Is(err, ErrCounter) {
			if _, mem := c.fido.(*MemoryFIDO); mem { // the verifier audits its own refusals
				c.audit(ctx, action, q.ss.user, device, "refused", string(ReasonCounter))
			}
			q.ss.ceremony, q.ss.wa = "", nil
			writeJSON(q.w, http.StatusForbidden, map[string]string{"error": message(err), "reason": string(ReasonCounter)})
			return
		}
		q.ss.ceremony, q.ss.wa = "", nil
		writeJSON(q.w, statusOf(err), map[string]string{"error": message(err)})
		return
	}
	q.ss.ceremony, q.ss.wa = "", nil
	c.signedIn(q, device)
	writeJSON(q.w, http.StatusOK, map[string]string{"device": device, "redirect": Prefix + "/security-credentials"})
}

func decodeJSON(r *http.Request, v any) error {
	if r.ContentLength == 0 {
		return nil
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errors.New("the request body is not the JSON expected")
	}
	return nil
}
