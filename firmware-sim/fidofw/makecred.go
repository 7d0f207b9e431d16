package fidofw

import (
	"bytes"
	"context"
	"sort"

	"github.com/tokenlab/tokenlab/ctap"
	"github.com/tokenlab/tokenlab/ctap/cose"
	"github.com/tokenlab/tokenlab/ctap/ctaphid"
	"github.com/tokenlab/tokenlab/ctap/pinuv"
)

// maxUserIDLength is the longest user handle (WebAuthn §5.4.3: 64 bytes).
const maxUserIDLength = 64

// credProtect levels (CTAP 2.1 §12.1).
const (
	credProtectOptional       = 1 // userVerificationOptional
	credProtectOptionalWithID = 2 // userVerificationOptionalWithCredentialIDList
	credProtectRequired       = 3 // userVerificationRequired
)

// pinUvAuthParamProbe handles a zero-length pinUvAuthParam, which platforms
// send to make the user pick a key (CTAP 2.1 §6.1.2 step 1, §6.2.2 step 1):
// after a touch, CTAP2_ERR_PIN_INVALID if a PIN is set, else
// CTAP2_ERR_PIN_NOT_SET.
func (a *Authenticator) pinUvAuthParamProbe(ctx context.Context, status func(ctaphid.KeepaliveStatus), op string) error {
	if err := a.userPresence(ctx, status, PresenceRequest{Op: op}); err != nil {
		return err
	}
	if a.st.PINHash != nil {
		return ctap.ErrPINInvalid
	}
	return ctap.ErrPINNotSet
}

// checkProtocol validates pinUvAuthProtocol when pinUvAuthParam is present.
func checkProtocol(v uint) (pinuv.Protocol, error) {
	if v == 0 {
		return nil, ctap.ErrMissingParameter
	}
	p := pinuv.ByVersion(int(v))
	if p == nil {
		return nil, ctap.ErrInvalidParameter
	}
	return p, nil
}

// verifyToken checks pinUvAuthParam = authenticate(pinUvAuthToken, msg) and
// that the token has perm for rpID, binding an unbound token to rpID
// (CTAP 2.1 §6.5.5.7, §6.1.2 step 11, §6.2.2 step 6).
func (a *Authenticator) verifyToken(p pinuv.Protocol, param, msg []byte, perm pinuv.Permission, rpID string) error {
	if !a.token.valid || !p.Verify(a.token.value, msg, param) {
		return ctap.ErrPINAuthInvalid
	}
	if a.token.perms&perm == 0 {
		return ctap.ErrPINAuthInvalid
	}
	if rpID != "" {
		if a.token.rpID != "" && a.token.rpID != rpID {
			return ctap.ErrPINAuthInvalid
		}
		a.token.rpID = rpID
	}
	return nil
}

// extensionsIn are the extension inputs this key understands.
type extensionsIn struct {
	credProtect int
	hmacSecret  bool
}

func parseMakeCredExtensions(m map[string]any) (extensionsIn, error) {
	var e extensionsIn
	if v, ok := m[extCredProtect]; ok {
		n, ok := v.(int64)
		if !ok {
			if u, isU := v.(uint64); isU && u <= 3 {
				n, ok = int64(u), true
			}
		}
		if !ok {
			return e, ctap.ErrCBORUnexpectedType
		}
		if n < credProtectOptional || n > credProtectRequired {
			return e, ctap.ErrInvalidParameter
		}
		e.credProtect = int(n)
	}
	if v, ok := m[extHMACSecret]; ok {
		b, ok := v.(bool)
		if !ok {
			return e, ctap.ErrCBORUnexpectedType
		}
		e.hmacSecret = b
	}
	return e, nil
}

// makeCredential is authenticatorMakeCredential (CTAP 2.1 §6.1.2).
func (a *Authenticator) makeCredential(ctx context.Context, body []byte, status func(ctaphid.KeepaliveStatus)) (any, error) {
	var req ctap.MakeCredentialRequest
	if err := decodeRequest(body, &req); err != nil {
		return nil, err
	}
	// Step 1: the zero-length pinUvAuthParam probe.
	if req.PinUvAuthParam != nil && len(req.PinUvAuthParam) == 0 {
		return nil, a.pinUvAuthParamProbe(ctx, status, "makeCredential")
	}
	// Step 2: required parameters.
	if req.ClientDataHash == nil || req.RP.ID == "" || req.User.ID == nil || req.PubKeyCredParams == nil {
		return nil, ctap.ErrMissingParameter
	}
	if len(req.User.ID) > maxUserIDLength {
		return nil, ctap.ErrInvalidParameter
	}
	var proto pinuv.Protocol
	if req.PinUvAuthParam != nil {
		var err error
		if proto, err = checkProtocol(req.PinUvAuthProtocol); err != nil {
			return nil, err
		}
	}
	// Step 3: the first supported algorithm wins.
	alg := 0
	for _, p := range req.PubKeyCredParams {
		if p.Type != ctap.CredentialTypePublicKey {
			continue
		}
		if p.Alg == cose.AlgES256 || p.Alg == cose.AlgEdDSA {
			alg = int(p.Alg)
			break
		}
	}
	if alg == 0 {
		return nil, ctap.ErrUnsupportedAlgorithm
	}
	// Step 5: options. This key has no built-in UV: uv=true is invalid;
	// up=false makes no sense for a new credential.
	rk := false
	if o := req.Options; o != nil {
		if o.UP != nil && !*o.UP {
			return nil, ctap.ErrInvalidOption
		}
		if o.UV != nil && *o.UV && req.PinUvAuthParam == nil {
			return nil, ctap.ErrInvalidOption
		}
		rk = o.RK != nil && *o.RK
	}
	// Step 6: no enterprise attestation on this model.
	if req.EnterpriseAttestation != 0 {
		return nil, ctap.ErrInvalidParameter
	}
	ext, err := parseMakeCredExtensions(req.Extensions)
	if err != nil {
		return nil, err
	}
	// Steps 10-11: PIN protection. With makeCredUvNotRqd only a
	// discoverable credential needs the token.
	uv := false
	if req.PinUvAuthParam != nil {
		if err := a.verifyToken(proto, req.PinUvAuthParam, req.ClientDataHash, pinuv.PermMakeCredential, req.RP.ID); err != nil {
			return nil, err
		}
		uv = true
	} else if a.st.PINHash != nil && rk {
		return nil, ctap.ErrPUATRequired
	}
	hash := rpIDHash(req.RP.ID)
	// Step 12: excludeList. A credential of ours for this RP refuses the
	// request after a touch (so a silent probe learns nothing).
	for _, d := range req.ExcludeList {
		if d.Type != ctap.CredentialTypePublicKey {
			continue
		}
		k, err := a.openCredential(d.ID, hash)
		if err != nil {
			continue
		}
		if k.credProtect == credProtectRequired && !uv {
			continue
		}
		if err := a.userPresence(ctx, status, PresenceRequest{Op: "makeCredential", RPID: req.RP.ID, User: req.User.Name}); err != nil {
			return nil, err
		}
		return nil, ctap.ErrCredentialExcluded
	}
	if rk && a.residentIndex(hash, req.User.ID) < 0 && len(a.st.Resident) >= maxResident {
		return nil, ctap.ErrKeyStoreFull
	}
	// Step 14: user presence.
	if err := a.userPresence(ctx, status, PresenceRequest{Op: "makeCredential", RPID: req.RP.ID, User: req.User.Name}); err != nil {
		return nil, err
	}
	// Step 15: the credential.
	k, err := newCredKey(a.rng, alg)
	if err != nil {
		return nil, ctap.ErrOther
	}
	k.credProtect, k.resident, k.hmacSecret = ext.credProtect, rk, ext.hmacSecret
	id, err := a.seal(k, hash)
	if err != nil {
		return nil, ctap.ErrOther
	}
	pub := k.coseKey()
	if rk {
		a.seq++
		r := resident{ID: id, RPID: req.RP.ID, RPName: req.RP.Name, RPIDHash: hash,
			UserID: req.User.ID, UserName: req.User.Name, DisplayName: req.User.DisplayName,
			Alg: alg, CredProtect: ext.credProtect, HMACSecret: ext.hmacSecret, PublicKey: pub, Seq: a.seq}
		if i := a.residentIndex(hash, req.User.ID); i >= 0 {
			a.st.Resident[i] = r // same RP and user: the old credential is replaced
		} else {
			a.st.Resident = append(a.st.Resident, r)
		}
		if err := a.persist(); err != nil {
			return nil, ctap.ErrOther
		}
	}
	var extOut []byte
	if ext.credProtect != 0 || ext.hmacSecret {
		m := map[string]any{}
		if ext.credProtect != 0 {
			m[extCredProtect] = ext.credProtect
		}
		if ext.hmacSecret {
			m[extHMACSecret] = true
		}
		extOut, _ = ctap.Marshal(m)
	}
	ctr, err := a.nextCounter()
	if err != nil {
		return nil, ctap.ErrOther
	}
	flags := byte(flagUP)
	if uv {
		flags |= flagUV
	}
	ad := authData(hash, flags, ctr, attestedCredentialData(a.st.AAGUID, id, pub), extOut)
	// Step 19: packed attestation under the batch key (WebAuthn §8.2).
	bk, err := a.batchKey()
	if err != nil {
		return nil, ctap.ErrOther
	}
	sig, err := (&credKey{alg: AlgES256, ec: bk}).sign(a.rng, append(append([]byte(nil), ad...), req.ClientDataHash...))
	if err != nil {
		return nil, ctap.ErrOther
	}
	return &ctap.MakeCredentialResponse{
		Fmt:      ctap.FmtPacked,
		AuthData: ad,
		AttStmt:  map[string]any{"alg": AlgES256, "sig": sig, "x5c": [][]byte{a.st.BatchCert}},
	}, nil
}

// residentIndex finds the discoverable credential of (rpIdHash, user ID).
func (a *Authenticator) residentIndex(hash, userID []byte) int {
	for i, r := range a.st.Resident {
		if bytes.Equal(r.RPIDHash, hash) && bytes.Equal(r.UserID, userID) {
			return i
		}
	}
	return -1
}

// residentByID finds a discoverable credential by its ID.
func (a *Authenticator) residentByID(id []byte) int {
	for i, r := range a.st.Resident {
		if bytes.Equal(r.ID, id) {
			return i
		}
	}
	return -1
}

// residentsFor returns the indexes of the discoverable credentials of an
// RP, newest first (CTAP 2.1 §6.2.2 step 9: most recently created first).
func (a *Authenticator) residentsFor(hash []byte) []int {
	var out []int
	for i, r := range a.st.Resident {
		if bytes.Equal(r.RPIDHash, hash) {
			out = append(out, i)
		}
	}
	sort.Slice(out, func(x, y int) bool { return a.st.Resident[out[x]].Seq > a.st.Resident[out[y]].Seq })
	return out
}
