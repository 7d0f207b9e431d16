// Package consoleclient signs in to the tokenlab web console from a
// program and performs its WebAuthn ceremonies with a CTAP2 authenticator
// (a USB security key or the simulated one, through package ctap), as a
// browser would: it builds the client data with the console's origin,
// hashes it for the authenticator and sends the console the attestation or
// assertion in the JSON form navigator.credentials gives a page. This is
// what "tokenlab fido enroll" and "tokenlab fido login" run.
//
//	c, _ := consoleclient.New("http://localhost:8080")
//	st, _ := c.SignIn(ctx, "alice", password)      // st.NeedMFA: a second factor is due
//	dev, _ := c.Enroll(ctx, key, "yubikey-1")        // key: *ctap.Client
//	_ = c.Login(ctx, key)                            // the second factor with the key
package consoleclient

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"

	"github.com/tokenlab/tokenlab/ctap"
	"github.com/tokenlab/tokenlab/ctap/cose"
)

// Authenticator is the part of a CTAP2 client the ceremonies need;
// *ctap.Client is one.
type Authenticator interface {
	MakeCredential(ctx context.Context, req *ctap.MakeCredentialRequest) (*ctap.MakeCredentialResponse, error)
	GetAssertion(ctx context.Context, req *ctap.GetAssertionRequest) (*ctap.GetAssertionResponse, error)
}

// Client is one console session.
type Client struct {
	base   *url.URL // the console's origin, after redirects (127.0.0.1 → localhost)
	http   *http.Client
	csrf   string
	origin string

	// PINUV, when set, returns pinUvAuthParam and the protocol version for
	// a clientDataHash (a key with a PIN); nil sends none.
	PINUV func(ctx context.Context, clientDataHash []byte, perm ctap.Permission, rpID string) (param []byte, protocol uint, err error)
}

// Error is the console's refusal: its message and, for ceremonies, the
// audit reason (wrong-challenge, counter-rollback, …).
type Error struct {
	Status  int
	Message string
	Reason  string
}

func (e *Error) Error() string { return "console: " + e.Message }

// New returns a client of the console at server (http://HOST:PORT, with or
// without /console).
func New(server string) (*Client, error) {
	u, err := url.Parse(strings.TrimSuffix(strings.TrimSuffix(server, "/"), "/console"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("consoleclient: server %q: want http(s)://HOST[:PORT]", server)
	}
	jar, _ := cookiejar.New(nil)
	return &Client{base: u, http: &http.Client{Jar: jar, Timeout: 2 * time.Minute}}, nil
}

// Origin returns the console's origin, known after the first request.
func (c *Client) Origin() string { return c.origin }

var (
	csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]*)">`)
	errorP   = regexp.MustCompile(`(?s)<p class="error" role="alert" id="error">(.*?)</p>`)
)

// page GETs or POSTs a console page, following redirects, and keeps its
// CSRF token and the origin it ended at.
func (c *Client) page(ctx context.Context, method, path string, form url.Values) (*http.Response, string, error) {
	var body io.Reader
	if form != nil {
		form.Set("csrf", c.csrf)
		body = strings.NewReader(form.Encode())
	}
	r, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, body)
	if err != nil {
		return nil, "", err
	}
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.http.Do(r)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, "", err
	}
	final := resp.Request.URL
	c.base = &url.URL{Scheme: final.Scheme, Host: final.Host}
	c.origin = final.Scheme + "://" + final.Host
	if m := csrfMeta.FindSubmatch(b); m != nil {
		c.csrf = html.UnescapeString(string(m[1]))
	}
	return resp, string(b), nil
}

func pageError(resp *http.Response, body string) error {
	msg := fmt.Sprintf("HTTP %d from %s", resp.StatusCode, resp.Request.URL.Path)
	if m := errorP.FindStringSubmatch(body); m != nil {
		msg = html.UnescapeString(strings.TrimSpace(m[1]))
	}
	return &Error{Status: resp.StatusCode, Message: msg}
}

// State is where a sign-in stands.
type State struct {
	NeedMFA bool // a second factor is due (Login, or Code)
}

// SignIn signs in with a password.
func (c *Client) SignIn(ctx context.Context, user, password string) (State, error) {
	if _, _, err := c.page(ctx, http.MethodGet, "/console/signin", nil); err != nil {
		return State{}, err
	}
	resp, body, err := c.page(ctx, http.MethodPost, "/console/signin", url.Values{"user": {user}, "password": {password}})
	if err != nil {
		return State{}, err
	}
	switch resp.Request.URL.Path {
	case "/console/mfa":
		return State{NeedMFA: true}, nil
	case "/console/security-credentials":
		return State{}, nil
	}
	return State{}, pageError(resp, body)
}

// Code gives the second factor as a TOTP code of device (serial or ARN).
func (c *Client) Code(ctx context.Context, device, code string) error {
	resp, body, err := c.page(ctx, http.MethodPost, "/console/mfa", url.Values{"device": {device}, "code": {code}})
	if err != nil {
		return err
	}
	if resp.Request.URL.Path != "/console/security-credentials" {
		return pageError(resp, body)
	}
	return nil
}

// SignOut ends the session.
func (c *Client) SignOut(ctx context.Context) error {
	_, _, err := c.page(ctx, http.MethodPost, "/console/signout", url.Values{})
	return err
}

// call POSTs JSON to a ceremony endpoint and decodes the answer into out.
func (c *Client) call(ctx context.Context, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base.String()+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Accept", "application/json")
	r.Header.Set("X-CSRF-Token", c.csrf)
	resp, err := c.http.Do(r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error  string `json:"error"`
			Reason string `json:"reason"`
		}
		if json.Unmarshal(body, &e) != nil || e.Error == "" {
			e.Error = fmt.Sprintf("HTTP %d from %s", resp.StatusCode, path)
		}
		return &Error{Status: resp.StatusCode, Message: e.Error, Reason: e.Reason}
	}
	return json.Unmarshal(body, out)
}

// Result is what a finished ceremony answers.
type Result struct {
	Device   string `json:"device"`
	Redirect string `json:"redirect"`
}

// ---- registration

// BeginRegistration asks the console for creation options for a new key
// named name.
func (c *Client) BeginRegistration(ctx context.Context, name string) (*protocol.CredentialCreation, error) {
	var cc protocol.CredentialCreation
	if err := c.call(ctx, "/console/webauthn/register/begin", map[string]string{"name": name}, &cc); err != nil {
		return nil, err
	}
	return &cc, nil
}

// ClientData is CollectedClientData (WebAuthn Level 3 §5.8.1).
type ClientData struct {
	Type        string `json:"type"` // webauthn.create | webauthn.get
	Challenge   string `json:"challenge"`
	Origin      string `json:"origin"`
	CrossOrigin bool   `json:"crossOrigin"`
}

// AttestationResponse is a registration's PublicKeyCredential in JSON
// (RegistrationResponseJSON, §5.1).
type AttestationResponse struct {
	ID       string `json:"id"`
	RawID    string `json:"rawId"`
	Type     string `json:"type"`
	Response struct {
		ClientDataJSON    string   `json:"clientDataJSON"`
		AttestationObject string   `json:"attestationObject"`
		Transports        []string `json:"transports,omitempty"`
	} `json:"response"`
	AuthenticatorAttachment string         `json:"authenticatorAttachment,omitempty"`
	ClientExtensionResults  map[string]any `json:"clientExtensionResults"`
}

// attestationObject is the WebAuthn attestation object (§6.5.4): the
// CTAP response under text keys.
type attestationObject struct {
	Fmt      string         `cbor:"fmt"`
	AttStmt  map[string]any `cbor:"attStmt"`
	AuthData []byte         `cbor:"authData"`
}

var b64 = base64.RawURLEncoding

// MakeCredential runs authenticatorMakeCredential for cc at origin and
// returns the response as a browser hands it to the page.
func (c *Client) MakeCredential(ctx context.Context, a Authenticator, cc *protocol.CredentialCreation, origin string) (*AttestationResponse, error) {
	pk := cc.Response
	cd, err := json.Marshal(ClientData{Type: "webauthn.create", Challenge: b64.EncodeToString(pk.Challenge), Origin: origin})
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(cd)
	req := &ctap.MakeCredentialRequest{
		ClientDataHash: h[:],
		RP:             ctap.RPEntity{ID: pk.RelyingParty.ID, Name: pk.RelyingParty.Name},
		User:           ctap.UserEntity{ID: userID(pk.User.ID), Name: pk.User.Name, DisplayName: pk.User.DisplayName},
	}
	for _, p := range pk.Parameters {
		req.PubKeyCredParams = append(req.PubKeyCredParams, ctap.CredentialParam{Type: string(p.Type), Alg: cose.Alg(p.Algorithm)})
	}
	for _, e := range pk.CredentialExcludeList {
		req.ExcludeList = append(req.ExcludeList, ctap.CredentialDescriptor{Type: string(e.Type), ID: e.CredentialID})
	}
	if sel := pk.AuthenticatorSelection; sel.ResidentKey == protocol.ResidentKeyRequirementRequired {
		req.Options = &ctap.Options{RK: ctap.Bool(true)}
	}
	if c.PINUV != nil {
		if req.PinUvAuthParam, req.PinUvAuthProtocol, err = c.PINUV(ctx, h[:], ctap.Permission(0x01), pk.RelyingParty.ID); err != nil {
			return nil, err
		}
	}
	resp, err := a.MakeCredential(ctx, req)
	if err != nil {
		return nil, err
	}
	ad, err := ctap.ParseAuthData(resp.AuthData)
	if err != nil {
		return nil, err
	}
	if ad.Attested == nil {
		return nil, errors.New("consoleclient: the key's response has no credential")
	}
	st := resp.AttStmt
	if st == nil {
		st = map[string]any{}
	}
	obj, err := ctap.Marshal(attestationObject{Fmt: resp.Fmt, AttStmt: st, AuthData: resp.AuthData})
	if err != nil {
		return nil, err
	}
	out := &AttestationResponse{ID: b64.EncodeToString(ad.Attested.CredentialID), Type: "public-key",
		AuthenticatorAttachment: "cross-platform", ClientExtensionResults: map[string]any{}}
	out.RawID = out.ID
	out.Response.ClientDataJSON = b64.EncodeToString(cd)
	out.Response.AttestationObject = b64.EncodeToString(obj)
	out.Response.Transports = []string{"usb"}
	return out, nil
}

// userID is the user handle of the options: go-webauthn sends it as
// base64url (protocol.URLEncodedBase64) unless configured otherwise.
func userID(v any) []byte {
	switch x := v.(type) {
	case string:
		if b, err := b64.DecodeString(x); err == nil {
			return b
		}
		return []byte(x)
	case []byte:
		return x
	case protocol.URLEncodedBase64:
		return x
	}
	return nil
}

// FinishRegistration sends the attestation to the console.
func (c *Client) FinishRegistration(ctx context.Context, r *AttestationResponse) (Result, error) {
	var res Result
	err := c.call(ctx, "/console/webauthn/register/finish", r, &res)
	return res, err
}

// Enroll registers the key a as a new MFA device named name, with the
// console's origin; it returns the device's ARN.
func (c *Client) Enroll(ctx context.Context, a Authenticator, name string) (string, error) {
	cc, err := c.BeginRegistration(ctx, name)
	if err != nil {
		return "", err
	}
	r, err := c.MakeCredential(ctx, a, cc, c.origin)
	if err != nil {
		return "", err
	}
	res, err := c.FinishRegistration(ctx, r)
	return res.Device, err
}

// ---- authentication

// BeginLogin asks the console for request options (the MFA step).
func (c *Client) BeginLogin(ctx context.Context) (*protocol.CredentialAssertion, error) {
	var ca protocol.CredentialAssertion
	if err := c.call(ctx, "/console/webauthn/login/begin", struct{}{}, &ca); err != nil {
		return nil, err
	}
	return &ca, nil
}

// AssertionResponse is an authentication's PublicKeyCredential in JSON
// (AuthenticationResponseJSON, §5.1).
type AssertionResponse struct {
	ID       string `json:"id"`
	RawID    string `json:"rawId"`
	Type     string `json:"type"`
	Response struct {
		ClientDataJSON    string `json:"clientDataJSON"`
		AuthenticatorData string `json:"authenticatorData"`
		Signature         string `json:"signature"`
		UserHandle        string `json:"userHandle,omitempty"`
	} `json:"response"`
	AuthenticatorAttachment string         `json:"authenticatorAttachment,omitempty"`
	ClientExtensionResults  map[string]any `json:"clientExtensionResults"`
}

// GetAssertion runs authenticatorGetAssertion for ca at origin.
func (c *Client) GetAssertion(ctx context.Context, a Authenticator, ca *protocol.CredentialAssertion, origin string) (*AssertionResponse, error) {
	pk := ca.Response
	cd, err := json.Marshal(ClientData{Type: "webauthn.get", Challenge: b64.EncodeToString(pk.Challenge), Origin: origin})
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256(cd)
	req := &ctap.GetAssertionRequest{RPID: pk.RelyingPartyID, ClientDataHash: h[:]}
	for _, d := range pk.AllowedCredentials {
		req.AllowList = append(req.AllowList, ctap.CredentialDescriptor{Type: string(d.Type), ID: d.CredentialID})
	}
	if c.PINUV != nil {
		if req.PinUvAuthParam, req.PinUvAuthProtocol, err = c.PINUV(ctx, h[:], ctap.Permission(0x02), pk.RelyingPartyID); err != nil {
			return nil, err
		}
	}
	resp, err := a.GetAssertion(ctx, req)
	if err != nil {
		return nil, err
	}
	var id []byte
	switch {
	case resp.Credential != nil:
		id = resp.Credential.ID
	case len(req.AllowList) == 1:
		id = req.AllowList[0].ID // CTAP 2.1 §6.2.2: may be omitted then
	default:
		return nil, errors.New("consoleclient: the key did not say which credential it used")
	}
	out := &AssertionResponse{ID: b64.EncodeToString(id), Type: "public-key",
		AuthenticatorAttachment: "cross-platform", ClientExtensionResults: map[string]any{}}
	out.RawID = out.ID
	out.Response.ClientDataJSON = b64.EncodeToString(cd)
	out.Response.AuthenticatorData = b64.EncodeToString(resp.AuthData)
	out.Response.Signature = b64.EncodeToString(resp.Signature)
	if resp.User != nil && len(resp.User.ID) > 0 {
		out.Response.UserHandle = b64.EncodeToString(resp.User.ID)
	}
	return out, nil
}

// FinishLogin sends the assertion to the console.
func (c *Client) FinishLogin(ctx context.Context, r *AssertionResponse) (Result, error) {
	var res Result
	err := c.call(ctx, "/console/webauthn/login/finish", r, &res)
	return res, err
}

// Login gives the second factor with the key a; it returns the device used.
func (c *Client) Login(ctx context.Context, a Authenticator) (string, error) {
	ca, err := c.BeginLogin(ctx)
	if err != nil {
		return "", err
	}
	r, err := c.GetAssertion(ctx, a, ca, c.origin)
	if err != nil {
		return "", err
	}
	res, err := c.FinishLogin(ctx, r)
	if err != nil {
		return "", err
	}
	// Signing in starts a new session with a new CSRF token: load the page
	// the console sends the browser to, as a browser would.
	if _, _, err := c.page(ctx, http.MethodGet, "/console/security-credentials", nil); err != nil {
		return "", err
	}
	return res.Device, nil
}
