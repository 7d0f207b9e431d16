package fidofw

import (
	"crypto/subtle"
	"io"
	"unicode/utf8"

	"github.com/tokenlab/tokenlab/ctap"
	"github.com/tokenlab/tokenlab/ctap/pinuv"
)

// permsSupported are the pinUvAuthToken permissions this key can grant;
// asking for others is CTAP2_ERR_UNAUTHORIZED_PERMISSION (§6.5.5.7.2).
const permsSupported = pinuv.PermMakeCredential | pinuv.PermGetAssertion | pinuv.PermCredentialManagement

// clientPIN is authenticatorClientPIN (CTAP 2.1 §6.5.5).
func (a *Authenticator) clientPIN(body []byte) (any, error) {
	var req ctap.ClientPINRequest
	if err := decodeRequest(body, &req); err != nil {
		return nil, err
	}
	if req.SubCommand == 0 {
		return nil, ctap.ErrMissingParameter
	}
	if req.SubCommand == ctap.PINGetRetries {
		n := uint(a.st.PINRetries)
		pc := a.pinFails >= maxPINFailsPerBoot
		return &ctap.ClientPINResponse{PINRetries: &n, PowerCycleState: &pc}, nil
	}
	switch req.SubCommand {
	case ctap.PINGetKeyAgreement, ctap.PINSet, ctap.PINChange, ctap.PINGetToken,
		ctap.PINGetUVTokenUsingPINWithPermissions:
	default:
		// getUVRetries and the UV token: no built-in UV on this key.
		return nil, ctap.ErrInvalidSubcommand
	}
	p, err := checkProtocol(req.PinUvAuthProtocol)
	if err != nil {
		return nil, err
	}
	switch req.SubCommand {
	case ctap.PINGetKeyAgreement:
		k, err := pinuv.KeyAgreementKey(a.kaKey.PublicKey())
		if err != nil {
			return nil, ctap.ErrOther
		}
		return &ctap.ClientPINResponse{KeyAgreement: k}, nil
	case ctap.PINSet:
		return nil, a.setPIN(p, &req)
	case ctap.PINChange:
		return nil, a.changePIN(p, &req)
	default:
		return a.getPINToken(p, &req)
	}
}

// sharedSecret runs the authenticator's half of key agreement.
func (a *Authenticator) sharedSecret(p pinuv.Protocol, req *ctap.ClientPINRequest) ([]byte, error) {
	s, err := pinuv.Decapsulate(p, a.kaKey, req.KeyAgreement)
	if err != nil {
		return nil, ctap.ErrInvalidParameter
	}
	return s, nil
}

// decryptNewPIN decrypts newPinEnc and checks the PIN policy
// (§6.5.5.5 steps 5-8): 64 padded bytes, at least minPINLength code points,
// at most 63 bytes.
func decryptNewPIN(p pinuv.Protocol, shared, newPinEnc []byte) ([]byte, error) {
	want := 64
	if p.Version() == 2 {
		want = 80 // the IV travels in front
	}
	if len(newPinEnc) != want {
		return nil, ctap.ErrInvalidParameter
	}
	padded, err := p.Decrypt(shared, newPinEnc)
	if err != nil {
		return nil, ctap.ErrInvalidParameter
	}
	pin := padded
	for i, c := range padded {
		if c == 0 {
			pin = padded[:i]
			break
		}
	}
	if len(pin) > maxPINBytes || utf8.RuneCount(pin) < minPINLength {
		return nil, ctap.ErrPINPolicyViolation
	}
	return pin, nil
}

func (a *Authenticator) storePIN(pin []byte) error {
	a.st.PINHash = pinuv.PINHash(string(pin))
	a.st.PINLength = utf8.RuneCount(pin)
	a.st.PINRetries = maxPINRetries
	if err := a.persist(); err != nil {
		return ctap.ErrOther
	}
	return nil
}

// setPIN is §6.5.5.5.
func (a *Authenticator) setPIN(p pinuv.Protocol, req *ctap.ClientPINRequest) error {
	if req.KeyAgreement == nil || req.PinUvAuthParam == nil || req.NewPINEnc == nil {
		return ctap.ErrMissingParameter
	}
	if a.st.PINHash != nil {
		return ctap.ErrNotAllowed
	}
	shared, err := a.sharedSecret(p, req)
	if err != nil {
		return err
	}
	if !p.Verify(shared, req.NewPINEnc, req.PinUvAuthParam) {
		return ctap.ErrPINAuthInvalid
	}
	pin, err := decryptNewPIN(p, shared, req.NewPINEnc)
	if err != nil {
		return err
	}
	return a.storePIN(pin)
}

// checkPINHash is the shared part of changePIN and getPinToken
// (§6.5.5.6, §6.5.5.7): one retry is used up (and written to flash) before
// the comparison; a mismatch makes a new key agreement key, and the third
// mismatch of a power cycle blocks PIN use until the next one.
func (a *Authenticator) checkPINHash(p pinuv.Protocol, shared, pinHashEnc []byte) error {
	if a.st.PINRetries <= 0 {
		return ctap.ErrPINBlocked
	}
	if a.pinFails >= maxPINFailsPerBoot {
		return ctap.ErrPINAuthBlocked
	}
	a.st.PINRetries--
	if err := a.persist(); err != nil {
		return ctap.ErrOther
	}
	h, err := p.Decrypt(shared, pinHashEnc)
	if err != nil || len(h) != 16 || subtle.ConstantTimeCompare(h, a.st.PINHash) != 1 {
		_ = a.newKeyAgreement()
		a.pinFails++
		switch {
		case a.st.PINRetries <= 0:
			return ctap.ErrPINBlocked
		case a.pinFails >= maxPINFailsPerBoot:
			return ctap.ErrPINAuthBlocked
		}
		return ctap.ErrPINInvalid
	}
	a.pinFails = 0
	a.st.PINRetries = maxPINRetries
	if err := a.persist(); err != nil {
		return ctap.ErrOther
	}
	return nil
}

// changePIN is §6.5.5.6.
func (a *Authenticator) changePIN(p pinuv.Protocol, req *ctap.ClientPINRequest) error {
	if req.KeyAgreement == nil || req.PinUvAuthParam == nil || req.NewPINEnc == nil || req.PINHashEnc == nil {
		return ctap.ErrMissingParameter
	}
	if a.st.PINHash == nil {
		return ctap.ErrPINNotSet
	}
	if a.st.PINRetries <= 0 {
		return ctap.ErrPINBlocked
	}
	shared, err := a.sharedSecret(p, req)
	if err != nil {
		return err
	}
	msg := append(append([]byte(nil), req.NewPINEnc...), req.PINHashEnc...)
	if !p.Verify(shared, msg, req.PinUvAuthParam) {
		return ctap.ErrPINAuthInvalid
	}
	if err := a.checkPINHash(p, shared, req.PINHashEnc); err != nil {
		return err
	}
	pin, err := decryptNewPIN(p, shared, req.NewPINEnc)
	if err != nil {
		return err
	}
	a.token = pinToken{} // §6.5.5.6 step 10: resetPinUvAuthToken
	return a.storePIN(pin)
}

// getPINToken is getPinToken (§6.5.5.7.1, permissions mc and ga) and
// getPinUvAuthTokenUsingPinWithPermissions (§6.5.5.7.2).
func (a *Authenticator) getPINToken(p pinuv.Protocol, req *ctap.ClientPINRequest) (any, error) {
	if req.KeyAgreement == nil || req.PINHashEnc == nil {
		return nil, ctap.ErrMissingParameter
	}
	perms := pinuv.PermMakeCredential | pinuv.PermGetAssertion
	if req.SubCommand == ctap.PINGetToken {
		if req.Permissions != 0 || req.RPID != "" {
			return nil, ctap.ErrInvalidParameter
		}
	} else {
		if req.Permissions == 0 {
			return nil, ctap.ErrMissingParameter
		}
		if req.Permissions&^permsSupported != 0 {
			return nil, ctap.ErrUnauthorizedPermission
		}
		perms = req.Permissions
	}
	if a.st.PINHash == nil {
		return nil, ctap.ErrPINNotSet
	}
	shared, err := a.sharedSecret(p, req)
	if err != nil {
		return nil, err
	}
	if err := a.checkPINHash(p, shared, req.PINHashEnc); err != nil {
		return nil, err
	}
	// A new token every time; the old one stops working (§6.5.5.7 step 9).
	tok := make([]byte, pinUvAuthTokenLen)
	if _, err := io.ReadFull(a.rng, tok); err != nil {
		return nil, ctap.ErrOther
	}
	a.token = pinToken{value: tok, perms: perms, rpID: req.RPID, valid: true}
	enc, err := p.Encrypt(a.rng, shared, tok)
	if err != nil {
		return nil, ctap.ErrOther
	}
	return &ctap.ClientPINResponse{PinUvAuthToken: enc}, nil
}
