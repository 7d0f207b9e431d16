package fidofw

import (
	"context"
	"errors"
	"time"

	"github.com/tokenlab/tokenlab/ctap/u2f"
)

// U2FPresenceWait is how long a CTAP1 request waits for a touch before
// answering SW_CONDITIONS_NOT_SATISFIED. U2F has no KEEPALIVE: the host
// polls, repeating the request until the user touches the key (U2F Raw
// Message Formats §4.3, §5.4), so the key must not block for long.
const U2FPresenceWait = 250 * time.Millisecond

// HandleAPDU processes one CTAP1/U2F command APDU (CTAPHID_MSG) and returns
// the response APDU, data then status word.
func (a *Authenticator) HandleAPDU(ctx context.Context, apdu []byte) (resp []byte) {
	a.mu.Lock()
	defer a.mu.Unlock()
	defer func() {
		if r := recover(); r != nil {
			resp = u2f.Response(nil, u2f.SWConditionsNotSatisfied)
		}
	}()
	a.next, a.rpEnum, a.credEnum = nil, nil, nil
	cmd, err := u2f.ParseCommand(normalizeAPDU(apdu))
	if err != nil {
		return u2f.Response(nil, u2f.SWWrongLength)
	}
	if cmd.CLA != 0 {
		return u2f.Response(nil, u2f.SWClaNotSupported)
	}
	var data []byte
	switch cmd.INS {
	case u2f.InsRegister:
		data, err = a.u2fRegister(ctx, cmd)
	case u2f.InsAuthenticate:
		data, err = a.u2fAuthenticate(ctx, cmd)
	case u2f.InsVersion:
		if len(cmd.Data) != 0 {
			err = u2f.SWWrongLength
		} else {
			data = []byte(u2f.Version)
		}
	default:
		err = u2f.SWInsNotSupported
	}
	if err != nil {
		var sw u2f.StatusWord
		if !errors.As(err, &sw) {
			sw = u2f.SWConditionsNotSatisfied
		}
		return u2f.Response(nil, sw)
	}
	return u2f.Response(data, u2f.SWNoError)
}

// u2fPresence waits briefly for a touch.
func (a *Authenticator) u2fPresence(ctx context.Context, req PresenceRequest) error {
	ctx, cancel := context.WithTimeout(ctx, U2FPresenceWait)
	defer cancel()
	if err := (*a.presence.Load()).Confirm(ctx, req); err != nil {
		return u2f.SWConditionsNotSatisfied
	}
	return nil
}

// u2fRegister is U2F_REGISTER (U2F Raw Message Formats §4): a new ES256
// key whose key handle is sealed to the application parameter, attested by
// the batch key.
func (a *Authenticator) u2fRegister(ctx context.Context, cmd *u2f.Command) ([]byte, error) {
	if len(cmd.Data) != 64 {
		return nil, u2f.SWWrongLength
	}
	var chal, app [32]byte
	copy(chal[:], cmd.Data[:32])
	copy(app[:], cmd.Data[32:])
	if err := a.u2fPresence(ctx, PresenceRequest{Op: "register"}); err != nil {
		return nil, err
	}
	k, err := newCredKey(a.rng, AlgES256)
	if err != nil {
		return nil, u2f.SWConditionsNotSatisfied
	}
	kh, err := a.seal(k, app[:])
	if err != nil {
		return nil, u2f.SWConditionsNotSatisfied
	}
	r := &u2f.RegisterResponse{KeyHandle: kh, Certificate: a.st.BatchCert}
	copy(r.PublicKey[:], k.u2fPublicKey())
	bk, err := a.batchKey()
	if err != nil {
		return nil, u2f.SWConditionsNotSatisfied
	}
	if r.Signature, err = (&credKey{alg: AlgES256, ec: bk}).sign(a.rng, r.SignedData(chal, app)); err != nil {
		return nil, u2f.SWConditionsNotSatisfied
	}
	return r.Marshal(), nil
}

// u2fAuthenticate is U2F_AUTHENTICATE (U2F Raw Message Formats §5).
func (a *Authenticator) u2fAuthenticate(ctx context.Context, cmd *u2f.Command) ([]byte, error) {
	d := cmd.Data
	if len(d) < 65 || len(d) != 65+int(d[64]) {
		return nil, u2f.SWWrongLength
	}
	var chal, app [32]byte
	copy(chal[:], d[:32])
	copy(app[:], d[32:64])
	kh := d[65:]
	k, err := a.openCredential(kh, app[:])
	// A credential that needs user verification (credProtect 3) cannot
	// be used over CTAP1, which has none; neither can an Ed25519 one.
	if err != nil || k.alg != AlgES256 || k.credProtect == credProtectRequired {
		return nil, u2f.SWWrongData
	}
	var up byte
	switch cmd.P1 {
	case u2f.AuthCheckOnly:
		// §5.1: "check-only": the key handle is ours, say so this way.
		return nil, u2f.SWConditionsNotSatisfied
	case u2f.AuthEnforce:
		if err := a.u2fPresence(ctx, PresenceRequest{Op: "authenticate"}); err != nil {
			return nil, err
		}
		up = 0x01
	case u2f.AuthDontEnforce:
	default:
		return nil, u2f.SWWrongData
	}
	ctr, err := a.nextCounter()
	if err != nil {
		return nil, u2f.SWConditionsNotSatisfied
	}
	r := &u2f.AuthenticateResponse{UserPresence: up, Counter: ctr}
	if r.Signature, err = k.sign(a.rng, r.SignedData(chal, app)); err != nil {
		return nil, u2f.SWConditionsNotSatisfied
	}
	return r.Marshal(), nil
}

// normalizeAPDU rewrites the extended-length form with an explicit zero Lc
// and no data — CLA INS P1 P2 00 00 00 Le(2), which python-fido2 sends for
// U2F_VERSION — to the equivalent "extended Le only" form that
// u2f.ParseCommand accepts (ISO 7816-4 §5.1 encodes "no data" by leaving
// Lc out).
func normalizeAPDU(b []byte) []byte {
	if len(b) == 9 && b[4] == 0 && b[5] == 0 && b[6] == 0 {
		return append(b[:4:4], 0, b[7], b[8])
	}
	return b
}
