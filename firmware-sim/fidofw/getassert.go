package fidofw

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"time"

	"github.com/tokenlab/tokenlab/ctap"
	"github.com/tokenlab/tokenlab/ctap/cose"
	"github.com/tokenlab/tokenlab/ctap/ctaphid"
	"github.com/tokenlab/tokenlab/ctap/pinuv"
)

// candidate is a credential that may answer an assertion.
type candidate struct {
	id  []byte
	key *credKey
	res *resident // nil for a non-discoverable credential
}

// nextAssertion is the state authenticatorGetNextAssertion continues
// (CTAP 2.1 §6.2.2 step 12, §6.3).
type nextAssertion struct {
	hash           []byte
	clientDataHash []byte
	flags          byte
	uv             bool
	left           []candidate
	hmac           *hmacSecretIn
	expires        time.Time
}

// hmacSecretIn is the hmac-secret extension input of getAssertion
// (CTAP 2.1 §12.5): keyAgreement, saltEnc, saltAuth, pinUvAuthProtocol.
type hmacSecretIn struct {
	KeyAgreement *cose.Key `cbor:"1,keyasint"`
	SaltEnc      []byte    `cbor:"2,keyasint"`
	SaltAuth     []byte    `cbor:"3,keyasint"`
	Protocol     uint      `cbor:"4,keyasint,omitempty"`
}

func parseHMACSecretIn(m map[string]any) (*hmacSecretIn, error) {
	v, ok := m[extHMACSecret]
	if !ok {
		return nil, nil
	}
	b, err := ctap.Marshal(v)
	if err != nil {
		return nil, ctap.ErrInvalidCBOR
	}
	var in hmacSecretIn
	if err := decodeRequest(b, &in); err != nil {
		return nil, err
	}
	if in.KeyAgreement == nil || in.SaltEnc == nil || in.SaltAuth == nil {
		return nil, ctap.ErrMissingParameter
	}
	if in.Protocol == 0 {
		in.Protocol = 1
	}
	return &in, nil
}

// hmacSecretOut computes the hmac-secret output for one credential: the
// salts decrypted with the shared secret, HMAC-SHA-256 under CredRandom,
// encrypted back (CTAP 2.1 §12.5 "Authenticator extension processing").
func (a *Authenticator) hmacSecretOut(in *hmacSecretIn, credID []byte, uv bool) ([]byte, error) {
	p := pinuv.ByVersion(int(in.Protocol))
	if p == nil {
		return nil, ctap.ErrInvalidParameter
	}
	shared, err := pinuv.Decapsulate(p, a.kaKey, in.KeyAgreement)
	if err != nil {
		return nil, ctap.ErrInvalidParameter
	}
	if !p.Verify(shared, in.SaltEnc, in.SaltAuth) {
		return nil, ctap.ErrPINAuthInvalid
	}
	salts, err := p.Decrypt(shared, in.SaltEnc)
	if err != nil || (len(salts) != 32 && len(salts) != 64) {
		return nil, ctap.ErrInvalidLength
	}
	cr := a.credRandom(credID, uv)
	var out []byte
	for i := 0; i < len(salts); i += 32 {
		m := hmac.New(sha256.New, cr)
		m.Write(salts[i : i+32])
		out = m.Sum(out)
	}
	enc, err := p.Encrypt(a.rng, shared, out)
	if err != nil {
		return nil, ctap.ErrOther
	}
	return enc, nil
}

// getAssertion is authenticatorGetAssertion (CTAP 2.1 §6.2.2).
func (a *Authenticator) getAssertion(ctx context.Context, body []byte, status func(ctaphid.KeepaliveStatus)) (any, error) {
	var req ctap.GetAssertionRequest
	if err := decodeRequest(body, &req); err != nil {
		return nil, err
	}
	if req.PinUvAuthParam != nil && len(req.PinUvAuthParam) == 0 {
		return nil, a.pinUvAuthParamProbe(ctx, status, "getAssertion")
	}
	if req.RPID == "" || req.ClientDataHash == nil {
		return nil, ctap.ErrMissingParameter
	}
	var proto pinuv.Protocol
	if req.PinUvAuthParam != nil {
		var err error
		if proto, err = checkProtocol(req.PinUvAuthProtocol); err != nil {
			return nil, err
		}
	}
	up := true
	if o := req.Options; o != nil {
		if o.RK != nil {
			return nil, ctap.ErrUnsupportedOption // §6.2.2 step 5: rk is not an assertion option
		}
		if o.UV != nil && *o.UV && req.PinUvAuthParam == nil {
			return nil, ctap.ErrInvalidOption // no built-in user verification
		}
		if o.UP != nil {
			up = *o.UP
		}
	}
	hmacIn, err := parseHMACSecretIn(req.Extensions)
	if err != nil {
		return nil, err
	}
	uv := false
	if req.PinUvAuthParam != nil {
		if err := a.verifyToken(proto, req.PinUvAuthParam, req.ClientDataHash, pinuv.PermGetAssertion, req.RPID); err != nil {
			return nil, err
		}
		uv = true
	}
	hash := rpIDHash(req.RPID)
	// Step 7: locate the credentials.
	var cands []candidate
	if len(req.AllowList) > 0 {
		for _, d := range req.AllowList {
			if d.Type != ctap.CredentialTypePublicKey {
				continue
			}
			k, err := a.openCredential(d.ID, hash)
			if err != nil || (k.credProtect == credProtectRequired && !uv) {
				continue
			}
			c := candidate{id: d.ID, key: k}
			if i := a.residentByID(d.ID); i >= 0 {
				r := a.st.Resident[i]
				c.res = &r
			}
			cands = append(cands, c)
			break // one credential from an allow list answers
		}
	} else {
		for _, i := range a.residentsFor(hash) {
			r := a.st.Resident[i]
			// §12.1: without UV, levels 2 and 3 are not discoverable.
			if r.CredProtect >= credProtectOptionalWithID && !uv {
				continue
			}
			k, err := a.open(r.ID, hash)
			if err != nil {
				continue
			}
			cands = append(cands, candidate{id: r.ID, key: k, res: &r})
		}
	}
	if len(cands) == 0 {
		return nil, ctap.ErrNoCredentials
	}
	// Step 8: user presence.
	var flags byte
	if up {
		user := ""
		if cands[0].res != nil && len(cands) == 1 {
			user = cands[0].res.UserName
		}
		if err := a.userPresence(ctx, status, PresenceRequest{Op: "getAssertion", RPID: req.RPID, User: user}); err != nil {
			return nil, err
		}
		flags |= flagUP
	}
	if uv {
		flags |= flagUV
	}
	st := &nextAssertion{hash: hash, clientDataHash: req.ClientDataHash, flags: flags, uv: uv,
		left: cands[1:], hmac: hmacIn, expires: a.clock.Now().Add(nextAssertionTimeout)}
	resp, err := a.assert(st, cands[0])
	if err != nil {
		return nil, err
	}
	if len(cands) > 1 {
		resp.NumberOfCredentials = uint(len(cands))
		a.next = st
	}
	return resp, nil
}

// assert signs one assertion: authData || clientDataHash (WebAuthn §6.3.3).
func (a *Authenticator) assert(st *nextAssertion, c candidate) (*ctap.GetAssertionResponse, error) {
	var ext []byte
	if st.hmac != nil && c.key.hmacSecret {
		out, err := a.hmacSecretOut(st.hmac, c.id, st.uv)
		if err != nil {
			return nil, err
		}
		ext, _ = ctap.Marshal(map[string]any{extHMACSecret: out})
	}
	ctr, err := a.nextCounter()
	if err != nil {
		return nil, ctap.ErrOther
	}
	ad := authData(st.hash, st.flags, ctr, nil, ext)
	msg := make([]byte, 0, len(ad)+len(st.clientDataHash))
	msg = append(append(msg, ad...), st.clientDataHash...)
	sig, err := c.key.sign(a.rng, msg)
	if err != nil {
		return nil, ctap.ErrOther
	}
	resp := &ctap.GetAssertionResponse{
		Credential: &ctap.CredentialDescriptor{Type: ctap.CredentialTypePublicKey, ID: c.id},
		AuthData:   ad,
		Signature:  sig,
	}
	if c.res != nil {
		// §6.2.2 step 12: user identifiable information only after UV.
		u := &ctap.UserEntity{ID: c.res.UserID}
		if st.uv {
			u.Name, u.DisplayName = c.res.UserName, c.res.DisplayName
		}
		resp.User = u
	}
	return resp, nil
}

// getNextAssertion is authenticatorGetNextAssertion (CTAP 2.1 §6.3).
func (a *Authenticator) getNextAssertion(body []byte) (any, error) {
	st := a.next
	if st == nil || len(st.left) == 0 || a.clock.Now().After(st.expires) {
		a.next = nil
		return nil, ctap.ErrNotAllowed
	}
	c := st.left[0]
	st.left = st.left[1:]
	st.expires = a.clock.Now().Add(nextAssertionTimeout)
	return a.assert(st, c)
}
