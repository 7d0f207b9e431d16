package ctap

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/tokenlab/tokenlab/ctap/pinuv"
	"github.com/tokenlab/tokenlab/ctap/u2f"
)

// Transport carries CTAP2 requests (CTAPHID_CBOR) and CTAP1/U2F APDUs
// (CTAPHID_MSG); *ctaphid.Channel is one.
type Transport interface {
	CBOR(ctx context.Context, req []byte) ([]byte, error)
	Msg(ctx context.Context, apdu []byte) ([]byte, error)
}

// Client speaks CTAP2 and CTAP1/U2F to one authenticator.
type Client struct {
	T Transport
	// Rand is the source of ephemeral keys and IVs; nil means crypto/rand.
	Rand io.Reader
	// OnUserPresence, if set, is called when a CTAP1/U2F request waits for
	// a touch (SW_CONDITIONS_NOT_SATISFIED). CTAP2 requests report it
	// through the channel's KEEPALIVE callback instead.
	OnUserPresence func()
	// U2FPoll is the interval between CTAP1 retries while waiting for a
	// touch; zero means 100 ms.
	U2FPoll time.Duration
	// CredMgmtPreview sends credential management as the CTAP 2.1
	// preview's command 0x41; see UseInfo.
	CredMgmtPreview bool
}

// UseInfo adapts the client to what getInfo announced: keys that offer
// only "credentialMgmtPreview" get credential management as command 0x41.
func (c *Client) UseInfo(info *GetInfoResponse) {
	c.CredMgmtPreview = !info.Options[OptCredMgmt] && info.Options[OptCredMgmtPre]
}

// NewClient returns a client on t.
func NewClient(t Transport) *Client { return &Client{T: t} }

// ErrMalformed is returned for a response the client cannot decode.
var ErrMalformed = errors.New("ctap: malformed response")

func (c *Client) rand() io.Reader {
	if c.Rand != nil {
		return c.Rand
	}
	return rand.Reader
}

// Raw sends a command byte and an already encoded body; it returns the
// status and the response body.
func (c *Client) Raw(ctx context.Context, cmd Command, body []byte) (Status, []byte, error) {
	req := append([]byte{byte(cmd)}, body...)
	resp, err := c.T.CBOR(ctx, req)
	if err != nil {
		return 0, nil, err
	}
	if len(resp) == 0 {
		return 0, nil, fmt.Errorf("%w: empty %v response", ErrMalformed, cmd)
	}
	return Status(resp[0]), resp[1:], nil
}

// Do encodes req (nil for no parameters), sends cmd, and decodes the
// response into resp (nil to ignore it). A non-zero status is a
// *StatusError.
func (c *Client) Do(ctx context.Context, cmd Command, req, resp any) error {
	var body []byte
	if req != nil {
		var err error
		if body, err = Marshal(req); err != nil {
			return err
		}
	}
	st, out, err := c.Raw(ctx, cmd, body)
	if err != nil {
		return err
	}
	if st != StatusOK {
		return &StatusError{Command: cmd, Status: st}
	}
	if resp != nil && len(out) > 0 { // an empty body leaves resp zero
		if err := Unmarshal(out, resp); err != nil {
			return fmt.Errorf("%w: %v: %v", ErrMalformed, cmd, err)
		}
	}
	return nil
}

// GetInfo runs authenticatorGetInfo (CTAP 2.1 §6.4).
func (c *Client) GetInfo(ctx context.Context) (*GetInfoResponse, error) {
	var r GetInfoResponse
	if err := c.Do(ctx, CmdGetInfo, nil, &r); err != nil {
		return nil, err
	}
	if len(r.Versions) == 0 {
		return nil, fmt.Errorf("%w: getInfo lacks versions", ErrMalformed)
	}
	return &r, nil
}

// MakeCredential runs authenticatorMakeCredential (CTAP 2.1 §6.1).
func (c *Client) MakeCredential(ctx context.Context, req *MakeCredentialRequest) (*MakeCredentialResponse, error) {
	var r MakeCredentialResponse
	if err := c.Do(ctx, CmdMakeCredential, req, &r); err != nil {
		return nil, err
	}
	if r.Fmt == "" || len(r.AuthData) == 0 {
		return nil, fmt.Errorf("%w: makeCredential without fmt or authData", ErrMalformed)
	}
	return &r, nil
}

// GetAssertion runs authenticatorGetAssertion (CTAP 2.1 §6.2).
func (c *Client) GetAssertion(ctx context.Context, req *GetAssertionRequest) (*GetAssertionResponse, error) {
	var r GetAssertionResponse
	if err := c.Do(ctx, CmdGetAssertion, req, &r); err != nil {
		return nil, err
	}
	if len(r.AuthData) == 0 || len(r.Signature) == 0 {
		return nil, fmt.Errorf("%w: assertion without authData or signature", ErrMalformed)
	}
	return &r, nil
}

// GetNextAssertion runs authenticatorGetNextAssertion (CTAP 2.1 §6.3).
func (c *Client) GetNextAssertion(ctx context.Context) (*GetAssertionResponse, error) {
	var r GetAssertionResponse
	if err := c.Do(ctx, CmdGetNextAssertion, nil, &r); err != nil {
		return nil, err
	}
	if len(r.AuthData) == 0 || len(r.Signature) == 0 {
		return nil, fmt.Errorf("%w: assertion without authData or signature", ErrMalformed)
	}
	return &r, nil
}

// Reset runs authenticatorReset (CTAP 2.1 §6.6): every credential and the
// PIN are erased. Keys accept it only within seconds of power-up, with a touch.
func (c *Client) Reset(ctx context.Context) error { return c.Do(ctx, CmdReset, nil, nil) }

// Selection runs authenticatorSelection (CTAP 2.1 §6.9): it returns once
// the user touched the key.
func (c *Client) Selection(ctx context.Context) error { return c.Do(ctx, CmdSelection, nil, nil) }

// --- ClientPIN (CTAP 2.1 §6.5) ---

func (c *Client) clientPIN(ctx context.Context, req *ClientPINRequest) (*ClientPINResponse, error) {
	var r ClientPINResponse
	if err := c.Do(ctx, CmdClientPIN, req, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// PINRetries returns the PIN retries left and whether a power cycle is
// needed before the next attempt (getPINRetries, §6.5.5.3).
func (c *Client) PINRetries(ctx context.Context) (retries int, powerCycle bool, err error) {
	r, err := c.clientPIN(ctx, &ClientPINRequest{SubCommand: PINGetRetries})
	if err != nil {
		return 0, false, err
	}
	if r.PINRetries == nil {
		return 0, false, fmt.Errorf("%w: no pinRetries", ErrMalformed)
	}
	return int(*r.PINRetries), r.PowerCycleState != nil && *r.PowerCycleState, nil
}

// UVRetries returns the built-in UV retries left (getUVRetries, §6.5.5.6).
func (c *Client) UVRetries(ctx context.Context) (int, error) {
	r, err := c.clientPIN(ctx, &ClientPINRequest{SubCommand: PINGetUVRetries})
	if err != nil {
		return 0, err
	}
	if r.UVRetries == nil {
		return 0, fmt.Errorf("%w: no uvRetries", ErrMalformed)
	}
	return int(*r.UVRetries), nil
}

// KeyAgreement gets the authenticator's key agreement key (getKeyAgreement,
// §6.5.5.4) and encapsulates: it returns the platform's key to send and the
// shared secret.
func (c *Client) KeyAgreement(ctx context.Context, p pinuv.Protocol) (*COSEKey, []byte, error) {
	r, err := c.clientPIN(ctx, &ClientPINRequest{PinUvAuthProtocol: uint(p.Version()), SubCommand: PINGetKeyAgreement})
	if err != nil {
		return nil, nil, err
	}
	if r.KeyAgreement == nil {
		return nil, nil, fmt.Errorf("%w: no keyAgreement", ErrMalformed)
	}
	return p.Encapsulate(c.rand(), r.KeyAgreement)
}

// SetPIN sets the first PIN (setPIN, §6.5.5.5).
func (c *Client) SetPIN(ctx context.Context, p pinuv.Protocol, pin string) error {
	padded, err := pinuv.PadPIN(pin)
	if err != nil {
		return err
	}
	key, secret, err := c.KeyAgreement(ctx, p)
	if err != nil {
		return err
	}
	newPinEnc, err := p.Encrypt(c.rand(), secret, padded)
	if err != nil {
		return err
	}
	_, err = c.clientPIN(ctx, &ClientPINRequest{
		PinUvAuthProtocol: uint(p.Version()), SubCommand: PINSet, KeyAgreement: key,
		NewPINEnc: newPinEnc, PinUvAuthParam: p.Authenticate(secret, newPinEnc),
	})
	return err
}

// ChangePIN replaces the PIN (changePIN, §6.5.5.6).
func (c *Client) ChangePIN(ctx context.Context, p pinuv.Protocol, oldPIN, newPIN string) error {
	padded, err := pinuv.PadPIN(newPIN)
	if err != nil {
		return err
	}
	key, secret, err := c.KeyAgreement(ctx, p)
	if err != nil {
		return err
	}
	pinHashEnc, err := p.Encrypt(c.rand(), secret, pinuv.PINHash(oldPIN))
	if err != nil {
		return err
	}
	newPinEnc, err := p.Encrypt(c.rand(), secret, padded)
	if err != nil {
		return err
	}
	msg := append(append([]byte(nil), newPinEnc...), pinHashEnc...)
	_, err = c.clientPIN(ctx, &ClientPINRequest{
		PinUvAuthProtocol: uint(p.Version()), SubCommand: PINChange, KeyAgreement: key,
		PINHashEnc: pinHashEnc, NewPINEnc: newPinEnc, PinUvAuthParam: p.Authenticate(secret, msg),
	})
	return err
}

// Token is a pinUvAuthToken and the protocol it belongs to.
type Token struct {
	Protocol pinuv.Protocol
	Token    []byte
}

// Param returns pinUvAuthParam = authenticate(token, msg).
func (t *Token) Param(msg []byte) []byte { return t.Protocol.Authenticate(t.Token, msg) }

// PINToken gets a pinUvAuthToken with the PIN: with permissions
// (getPinUvAuthTokenUsingPinWithPermissions, §6.5.5.7.2) when perms is
// non-zero, else with the legacy getPINToken (§6.5.5.7.1).
func (c *Client) PINToken(ctx context.Context, p pinuv.Protocol, pin string, perms Permission, rpID string) (*Token, error) {
	key, secret, err := c.KeyAgreement(ctx, p)
	if err != nil {
		return nil, err
	}
	pinHashEnc, err := p.Encrypt(c.rand(), secret, pinuv.PINHash(pin))
	if err != nil {
		return nil, err
	}
	req := &ClientPINRequest{PinUvAuthProtocol: uint(p.Version()), SubCommand: PINGetToken, KeyAgreement: key, PINHashEnc: pinHashEnc}
	if perms != 0 {
		req.SubCommand, req.Permissions, req.RPID = PINGetUVTokenUsingPINWithPermissions, perms, rpID
	}
	return c.token(ctx, p, secret, req)
}

// UVToken gets a pinUvAuthToken with the authenticator's built-in user
// verification (getPinUvAuthTokenUsingUvWithPermissions, §6.5.5.7.3).
func (c *Client) UVToken(ctx context.Context, p pinuv.Protocol, perms Permission, rpID string) (*Token, error) {
	key, secret, err := c.KeyAgreement(ctx, p)
	if err != nil {
		return nil, err
	}
	return c.token(ctx, p, secret, &ClientPINRequest{PinUvAuthProtocol: uint(p.Version()),
		SubCommand: PINGetUVTokenUsingUvWithPermissions, KeyAgreement: key, Permissions: perms, RPID: rpID})
}

func (c *Client) token(ctx context.Context, p pinuv.Protocol, secret []byte, req *ClientPINRequest) (*Token, error) {
	r, err := c.clientPIN(ctx, req)
	if err != nil {
		return nil, err
	}
	if len(r.PinUvAuthToken) == 0 {
		return nil, fmt.Errorf("%w: no pinUvAuthToken", ErrMalformed)
	}
	tok, err := p.Decrypt(secret, r.PinUvAuthToken)
	if err != nil {
		return nil, fmt.Errorf("%w: pinUvAuthToken: %v", ErrMalformed, err)
	}
	if len(tok) != 16 && len(tok) != 32 {
		return nil, fmt.Errorf("%w: pinUvAuthToken of %d bytes", ErrMalformed, len(tok))
	}
	return &Token{Protocol: p, Token: tok}, nil
}

// PreferredProtocol returns the first PIN/UV protocol of info this package
// implements (2 before 1), or nil.
func PreferredProtocol(info *GetInfoResponse) pinuv.Protocol {
	for _, want := range []uint{2, 1} {
		for _, v := range info.PinUvAuthProtocols {
			if v == want {
				return pinuv.ByVersion(int(v))
			}
		}
	}
	if len(info.PinUvAuthProtocols) == 0 && info.Options[OptClientPIN] {
		return pinuv.Protocol1{} // CTAP 2.0 keys that omit the list
	}
	return nil
}

// --- CredentialManagement (CTAP 2.1 §6.8) ---

// CredMgmt runs one credential management subcommand, authenticated with
// tok when the subcommand needs it (not for the GetNext ones).
func (c *Client) CredMgmt(ctx context.Context, tok *Token, sub CredMgmtSubcommand, params *CredMgmtParams) (*CredMgmtResponse, error) {
	req := &CredMgmtRequest{SubCommand: sub, SubCommandParams: params}
	if tok != nil && sub != CredMgmtEnumerateRPsGetNextRP && sub != CredMgmtEnumerateCredentialsGetNextCredential {
		msg := []byte{byte(sub)}
		if params != nil {
			b, err := Marshal(params)
			if err != nil {
				return nil, err
			}
			msg = append(msg, b...)
		}
		req.PinUvAuthProtocol = uint(tok.Protocol.Version())
		req.PinUvAuthParam = tok.Param(msg)
	}
	cmd := CmdCredentialManagement
	if c.CredMgmtPreview {
		cmd = CmdCredentialManagementPreview
	}
	var r CredMgmtResponse
	if err := c.Do(ctx, cmd, req, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// CredsMetadata returns the number of discoverable credentials and the
// room left (getCredsMetadata).
func (c *Client) CredsMetadata(ctx context.Context, tok *Token) (existing, remaining int, err error) {
	r, err := c.CredMgmt(ctx, tok, CredMgmtGetCredsMetadata, nil)
	if err != nil {
		return 0, 0, err
	}
	if r.ExistingResidentCredentialsCount == nil || r.MaxPossibleRemainingResidentCredentialsCount == nil {
		return 0, 0, fmt.Errorf("%w: incomplete credential metadata", ErrMalformed)
	}
	return int(*r.ExistingResidentCredentialsCount), int(*r.MaxPossibleRemainingResidentCredentialsCount), nil
}

// RP is a relying party holding discoverable credentials.
type RP struct {
	RP       RPEntity `json:"rp"`
	RPIDHash []byte   `json:"rp_id_hash"`
}

// RPs enumerates the relying parties with discoverable credentials.
func (c *Client) RPs(ctx context.Context, tok *Token) ([]RP, error) {
	r, err := c.CredMgmt(ctx, tok, CredMgmtEnumerateRPsBegin, nil)
	if errors.Is(err, ErrNoCredentials) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	total := int(r.TotalRPs)
	if total > MaxArrayElements {
		return nil, fmt.Errorf("%w: %d RPs", ErrMalformed, total)
	}
	var out []RP
	for i := 0; ; i++ {
		if r.RP == nil || len(r.RPIDHash) != 32 {
			return nil, fmt.Errorf("%w: RP without id or hash", ErrMalformed)
		}
		out = append(out, RP{RP: *r.RP, RPIDHash: r.RPIDHash})
		if i+1 >= total {
			return out, nil
		}
		if r, err = c.CredMgmt(ctx, nil, CredMgmtEnumerateRPsGetNextRP, nil); err != nil {
			return nil, err
		}
	}
}

// Credential is a discoverable credential.
type Credential struct {
	User        UserEntity           `json:"user"`
	ID          CredentialDescriptor `json:"id"`
	PublicKey   *COSEKey             `json:"public_key,omitempty"`
	CredProtect uint                 `json:"cred_protect,omitempty"`
}

// Credentials enumerates the discoverable credentials of one RP.
func (c *Client) Credentials(ctx context.Context, tok *Token, rpIDHash []byte) ([]Credential, error) {
	r, err := c.CredMgmt(ctx, tok, CredMgmtEnumerateCredentialsBegin, &CredMgmtParams{RPIDHash: rpIDHash})
	if errors.Is(err, ErrNoCredentials) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	total := int(r.TotalCredentials)
	if total > MaxArrayElements {
		return nil, fmt.Errorf("%w: %d credentials", ErrMalformed, total)
	}
	var out []Credential
	for i := 0; ; i++ {
		if r.User == nil || r.CredentialID == nil {
			return nil, fmt.Errorf("%w: credential without user or id", ErrMalformed)
		}
		out = append(out, Credential{User: *r.User, ID: *r.CredentialID, PublicKey: r.PublicKey, CredProtect: r.CredProtect})
		if i+1 >= total {
			return out, nil
		}
		if r, err = c.CredMgmt(ctx, nil, CredMgmtEnumerateCredentialsGetNextCredential, nil); err != nil {
			return nil, err
		}
	}
}

// DeleteCredential deletes a discoverable credential.
func (c *Client) DeleteCredential(ctx context.Context, tok *Token, credID []byte) error {
	_, err := c.CredMgmt(ctx, tok, CredMgmtDeleteCredential, &CredMgmtParams{
		CredentialID: &CredentialDescriptor{Type: CredentialTypePublicKey, ID: credID}})
	return err
}

// --- CTAP1/U2F (CTAP 2.1 §11.2.9.1.1, U2F Raw Message Formats) ---

// APDU sends one command APDU and splits the answer.
func (c *Client) APDU(ctx context.Context, cmd *u2f.Command) ([]byte, u2f.StatusWord, error) {
	resp, err := c.T.Msg(ctx, cmd.Marshal())
	if err != nil {
		return nil, 0, err
	}
	return u2f.SplitResponse(resp)
}

// apduWaitingForTouch repeats cmd while the key answers
// SW_CONDITIONS_NOT_SATISFIED (no touch yet), until ctx ends.
func (c *Client) apduWaitingForTouch(ctx context.Context, cmd *u2f.Command) ([]byte, error) {
	prompted := false
	poll := c.U2FPoll
	if poll == 0 {
		poll = 100 * time.Millisecond
	}
	for {
		data, sw, err := c.APDU(ctx, cmd)
		if err != nil {
			return nil, err
		}
		switch sw {
		case u2f.SWNoError:
			return data, nil
		case u2f.SWConditionsNotSatisfied:
			if !prompted && c.OnUserPresence != nil {
				c.OnUserPresence()
			}
			prompted = true
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(poll):
			}
		default:
			return nil, sw
		}
	}
}

// U2FVersion returns the U2F_VERSION answer ("U2F_V2").
func (c *Client) U2FVersion(ctx context.Context) (string, error) {
	data, sw, err := c.APDU(ctx, &u2f.Command{INS: u2f.InsVersion})
	if err != nil {
		return "", err
	}
	if sw != u2f.SWNoError {
		return "", sw
	}
	return string(data), nil
}

// U2FRegister registers a key handle for application, waiting for a touch.
func (c *Client) U2FRegister(ctx context.Context, challenge, application [32]byte) (*u2f.RegisterResponse, error) {
	data, err := c.apduWaitingForTouch(ctx, u2f.RegisterRequest(challenge, application))
	if err != nil {
		return nil, err
	}
	return u2f.ParseRegisterResponse(data)
}

// U2FAuthenticate signs with a key handle. With u2f.AuthCheckOnly a known
// handle answers SW_CONDITIONS_NOT_SATISFIED, returned as the error.
func (c *Client) U2FAuthenticate(ctx context.Context, ctrl byte, challenge, application [32]byte, keyHandle []byte) (*u2f.AuthenticateResponse, error) {
	cmd := u2f.AuthenticateRequest(ctrl, challenge, application, keyHandle)
	if ctrl == u2f.AuthCheckOnly {
		_, sw, err := c.APDU(ctx, cmd)
		if err != nil {
			return nil, err
		}
		return nil, sw
	}
	data, err := c.apduWaitingForTouch(ctx, cmd)
	if err != nil {
		return nil, err
	}
	return u2f.ParseAuthenticateResponse(data)
}
