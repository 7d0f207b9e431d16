// Package client talks to a tokenlab verifier over its JSON API
// (verify/httpapi, documented in docs/api.md). The tokenlab client commands
// and the load generator use it.
//
//	c, err := client.New("http://127.0.0.1:8080", token, nil)
//	d, err := c.Check(ctx, "alice", "GAHT00000017", "123456")
//	if d.Accepted { … }
//
// Errors the server answers come back as *[Error], which wraps the
// *verify.Error the server described: verify.CodeOf(err) and
// verify.ReasonOf(err) work on them as on the verifier's own errors.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/httpapi"
)

// Client is a JSON API client. It is safe for concurrent use.
type Client struct {
	base  *url.URL
	token string
	hc    *http.Client
}

// New returns a client for the server at baseURL (http or https) that
// authenticates with the bearer token. hc nil means a client with a 30 s
// timeout.
func New(baseURL, token string, hc *http.Client) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("client: server %q: want http://HOST:PORT", baseURL)
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{base: u, token: token, hc: hc}, nil
}

// BaseURL returns the server's URL.
func (c *Client) BaseURL() string { return c.base.String() }

// Error is an error answer from the server.
type Error struct {
	Status int           // HTTP status
	Err    *verify.Error // code, message, reason as the server gave them
}

func (e *Error) Error() string {
	return fmt.Sprintf("server: %s (%d %s)", e.Err.Message, e.Status, http.StatusText(e.Status))
}

// Unwrap returns the *verify.Error.
func (e *Error) Unwrap() error { return e.Err }

// do sends a request; body (if not nil) is JSON-encoded unless it is an
// io.Reader; out (if not nil) receives the JSON answer.
func (c *Client) do(ctx context.Context, method, path string, q url.Values, body, out any) error {
	u := *c.base
	u.Path += path
	if q != nil {
		u.RawQuery = q.Encode()
	}
	var rd io.Reader
	ctype := "application/json"
	switch b := body.(type) {
	case nil:
	case io.Reader:
		rd, ctype = b, "application/x-ndjson"
	default:
		data, err := json.Marshal(b)
		if err != nil {
			return fmt.Errorf("client: %v", err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return fmt.Errorf("client: %v", err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("cannot reach the tokenlab server at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("reading the answer of %s: %w", c.base, err)
	}
	if resp.StatusCode >= 300 {
		var eb httpapi.ErrorBody
		if json.Unmarshal(data, &eb) != nil || eb.Error.Code == "" {
			return &Error{Status: resp.StatusCode, Err: &verify.Error{Code: codeForStatus(resp.StatusCode), Message: fmt.Sprintf("%s %s answered %s", method, path, resp.Status)}}
		}
		return &Error{Status: resp.StatusCode, Err: &verify.Error{Code: eb.Error.Code, Message: eb.Error.Message, Reason: eb.Error.Reason}}
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("client: the answer of %s %s is not what the API documents: %v", method, path, err)
		}
	}
	return nil
}

func codeForStatus(s int) verify.ErrorCode {
	switch s {
	case 400, 405, 413, 415:
		return verify.EINVALID
	case 401:
		return verify.EUNAUTHORIZED
	case 403:
		return verify.EFORBIDDEN
	case 404:
		return verify.ENOTFOUND
	case 409:
		return verify.ECONFLICT
	case 429:
		return verify.ELOCKED
	}
	return verify.EINTERNAL
}

func pageQuery(p verify.Page) url.Values {
	q := url.Values{}
	if p.Marker != "" {
		q.Set("marker", p.Marker)
	}
	if p.Max > 0 {
		q.Set("max", strconv.Itoa(p.Max))
	}
	return q
}

const v1 = "/api/v1/"

// CreateUser creates a user.
func (c *Client) CreateUser(ctx context.Context, req httpapi.CreateUserRequest) (verify.User, error) {
	var u verify.User
	err := c.do(ctx, "POST", v1+"users", nil, req, &u)
	return u, err
}

// ListUsers lists one page of users under pathPrefix ("" for all).
func (c *Client) ListUsers(ctx context.Context, pathPrefix string, p verify.Page) (httpapi.UserList, error) {
	q := pageQuery(p)
	if pathPrefix != "" {
		q.Set("path_prefix", pathPrefix)
	}
	var l httpapi.UserList
	err := c.do(ctx, "GET", v1+"users", q, nil, &l)
	return l, err
}

// GetUser returns one user.
func (c *Client) GetUser(ctx context.Context, name string) (verify.User, error) {
	var u verify.User
	err := c.do(ctx, "GET", v1+"users/"+url.PathEscape(name), nil, nil, &u)
	return u, err
}

// DeleteUser deletes a user that holds no devices.
func (c *Client) DeleteUser(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", v1+"users/"+url.PathEscape(name), nil, nil, nil)
}

// SetPassword sets a user's console password.
func (c *Client) SetPassword(ctx context.Context, name, password string) error {
	return c.do(ctx, "PUT", v1+"users/"+url.PathEscape(name)+"/password", nil, httpapi.PasswordRequest{Password: password}, nil)
}

// SetRequireMFA sets whether a user's IAM calls need an MFA session.
func (c *Client) SetRequireMFA(ctx context.Context, name string, require bool) error {
	return c.do(ctx, "PUT", v1+"users/"+url.PathEscape(name)+"/require-mfa", nil, httpapi.RequireMFARequest{RequireMFA: require}, nil)
}

// ListUserDevices lists one page of a user's MFA devices.
func (c *Client) ListUserDevices(ctx context.Context, user string, p verify.Page) (httpapi.DeviceList, error) {
	var l httpapi.DeviceList
	err := c.do(ctx, "GET", v1+"users/"+url.PathEscape(user)+"/devices", pageQuery(p), nil, &l)
	return l, err
}

// ImportTokens sends hardware tokens to the inventory in one request: the
// server checks every record before it imports any.
func (c *Client) ImportTokens(ctx context.Context, recs []verify.TokenRecord) (verify.ImportResult, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, r := range recs {
		tl := httpapi.TokenLine{Serial: string(r.Serial), Seed: r.Seed.Base32(), Algorithm: r.Spec.Algorithm.String(), Digits: r.Spec.Digits, Period: int(r.Spec.Period / time.Second)}
		if err := enc.Encode(tl); err != nil {
			return verify.ImportResult{}, fmt.Errorf("client: %v", err)
		}
	}
	defer clear(buf.Bytes()[:buf.Cap()])
	var res verify.ImportResult
	err := c.do(ctx, "POST", v1+"inventory", nil, bytes.NewReader(buf.Bytes()), &res)
	return res, err
}

// ListInventory lists one page of hardware tokens in state ("" for all).
func (c *Client) ListInventory(ctx context.Context, state verify.State, p verify.Page) (httpapi.DeviceList, error) {
	q := pageQuery(p)
	if state != "" {
		q.Set("state", string(state))
	}
	var l httpapi.DeviceList
	err := c.do(ctx, "GET", v1+"inventory", q, nil, &l)
	return l, err
}

// CreateVirtual creates a virtual MFA device and returns its one-time
// bootstrap (seed, otpauth URI, QR PNG).
func (c *Client) CreateVirtual(ctx context.Context, req httpapi.CreateVirtualRequest) (httpapi.VirtualBootstrap, error) {
	var b httpapi.VirtualBootstrap
	err := c.do(ctx, "POST", v1+"virtual-devices", nil, req, &b)
	return b, err
}

// ListVirtual lists one page of virtual devices.
func (c *Client) ListVirtual(ctx context.Context, a verify.Assignment, p verify.Page) (httpapi.DeviceList, error) {
	q := pageQuery(p)
	if a != "" {
		q.Set("assignment", string(a))
	}
	var l httpapi.DeviceList
	err := c.do(ctx, "GET", v1+"virtual-devices", q, nil, &l)
	return l, err
}

// DeleteVirtual deletes an unassigned virtual device.
func (c *Client) DeleteVirtual(ctx context.Context, arn string) error {
	return c.do(ctx, "DELETE", v1+"virtual-devices", url.Values{"id": {arn}}, nil, nil)
}

// Enable enables device for user with two consecutive codes.
func (c *Client) Enable(ctx context.Context, user, device, code1, code2 string) error {
	return c.do(ctx, "POST", v1+"mfa/enable", nil, httpapi.TwoCodesRequest{User: user, Device: device, Code1: code1, Code2: code2}, nil)
}

// Resync resynchronises device with two consecutive codes.
func (c *Client) Resync(ctx context.Context, user, device, code1, code2 string) error {
	return c.do(ctx, "POST", v1+"mfa/resync", nil, httpapi.TwoCodesRequest{User: user, Device: device, Code1: code1, Code2: code2}, nil)
}

// Check asks whether code is good for user's device now. A refused code
// is a Decision with Accepted false and a Reason, not an error.
func (c *Client) Check(ctx context.Context, user, device, code string) (verify.Decision, error) {
	var d verify.Decision
	err := c.do(ctx, "POST", v1+"mfa/check", nil, httpapi.CheckRequest{User: user, Device: device, Code: code}, &d)
	return d, err
}

// Deactivate detaches device from user.
func (c *Client) Deactivate(ctx context.Context, user, device string) error {
	return c.do(ctx, "POST", v1+"mfa/deactivate", nil, httpapi.UserDeviceRequest{User: user, Device: device}, nil)
}

// MarkLost reports device lost and returns the users it was detached from.
func (c *Client) MarkLost(ctx context.Context, device string) (httpapi.LostResult, error) {
	var r httpapi.LostResult
	err := c.do(ctx, "POST", v1+"mfa/lost", nil, httpapi.DeviceRequest{Device: device}, &r)
	return r, err
}

// Unlock clears a device's failure count and lock.
func (c *Client) Unlock(ctx context.Context, device string) error {
	return c.do(ctx, "POST", v1+"mfa/unlock", nil, httpapi.DeviceRequest{Device: device}, nil)
}

// GetDevice returns one device.
func (c *Client) GetDevice(ctx context.Context, device string) (verify.Device, error) {
	var d verify.Device
	err := c.do(ctx, "GET", v1+"mfa/device", url.Values{"id": {device}}, nil, &d)
	return d, err
}

// TagDevice adds or replaces tags on a device.
func (c *Client) TagDevice(ctx context.Context, device string, tags map[string]string) error {
	return c.do(ctx, "POST", v1+"mfa/tags", nil, httpapi.TagRequest{Device: device, Tags: tags}, nil)
}

// UntagDevice removes tags from a device.
func (c *Client) UntagDevice(ctx context.Context, device string, keys []string) error {
	return c.do(ctx, "POST", v1+"mfa/untag", nil, httpapi.UntagRequest{Device: device, Keys: keys}, nil)
}

// Audit returns audit events matching f.
func (c *Client) Audit(ctx context.Context, f verify.AuditFilter) ([]verify.AuditEvent, error) {
	q := url.Values{}
	if f.User != "" {
		q.Set("user", f.User)
	}
	if f.Device != "" {
		q.Set("device", f.Device)
	}
	if f.Action != "" {
		q.Set("action", f.Action)
	}
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var l httpapi.AuditList
	err := c.do(ctx, "GET", v1+"audit", q, nil, &l)
	return l.Events, err
}

// Health returns nil when GET /healthz answers 200.
func (c *Client) Health(ctx context.Context) error {
	var h httpapi.Health
	return c.do(ctx, "GET", "/healthz", nil, nil, &h)
}
