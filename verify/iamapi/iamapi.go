// Package iamapi serves the MFA part of the AWS IAM and STS Query APIs over
// a [verify.Verifier], so that the AWS CLI and SDKs pointed at tokenlab
// (aws --endpoint-url, BaseEndpoint) enroll and check MFA devices under the
// same rules as the JSON API. ../../../shared/IAM-SPEC.md has the wire
// format this follows.
//
// Every request is a form-encoded POST carrying Action and Version
// (2010-05-08 for IAM, 2011-06-15 for STS), signed with SigV4 by an access
// key the verifier issued (see package sigv4). Answers are XML: the
// ActionResponse/ActionResult envelope on success, ErrorResponse/Error on
// failure, with the HTTP status the SDKs' deserializers expect.
//
// A server mounts one [Handler] and, once at start, calls [Bootstrap] to
// make sure an administrator key exists in its data directory:
//
//	if err := iamapi.Bootstrap(ctx, v, dataDir); err != nil { … }
//	mux.Handle("POST /", iamapi.New(v, iamapi.Config{}))
//
// Who may do what: an administrator (verify.User.Admin) may call every
// action; any other user may manage only their own MFA devices and access
// keys (the self-service policy of the IAM User Guide). A user marked
// RequireMFA may call IAM actions only with session credentials obtained
// from STS GetSessionToken with an MFA code.
package iamapi

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"time"

	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/iamapi/sigv4"
)

// DefaultMaxBody bounds a request body. The largest legitimate request,
// TagMFADevice with 50 tags of maximum size, stays well below it.
const DefaultMaxBody = 256 << 10

// Config tunes a [Handler]; the zero value is the default.
type Config struct {
	// Account is the 12-digit account id in ARNs; default token.DefaultAccount.
	Account string
	// Now is the clock for the SigV4 time check; default time.Now.
	Now func() time.Time
	// Skew is how far a request's time may be from Now; default 15 minutes.
	Skew time.Duration
	// MaxBody bounds request bodies; default DefaultMaxBody.
	MaxBody int64
	// Log receives server faults (never a secret); default slog.Default().
	Log *slog.Logger
	// Observe, when set, is told of every answered request: the service
	// ("iam" or "sts"), the action (empty when the request was refused
	// before a known action was found: authentication, a malformed or
	// unknown action), the outcome ("ok" or the AWS error code sent) and
	// how long the answer took. httpapi.Metrics.QueryRequest fits it.
	Observe func(service, action, outcome string, d time.Duration)
}

// Handler serves IAM and STS on one URL.
type Handler struct {
	v    verify.Verifier
	cfg  Config
	keys sigv4.KeyCache // signing keys derived from the verifier's secrets
}

// New returns a Handler over v.
func New(v verify.Verifier, cfg Config) *Handler {
	if cfg.Account == "" {
		cfg.Account = token.DefaultAccount
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Skew == 0 {
		cfg.Skew = sigv4.DefaultSkew
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Handler{v: v, cfg: cfg}
}

// call is one authenticated request on its way through an action.
type call struct {
	ctx    context.Context
	h      *Handler
	svc    *service
	action string
	p      *params
	caller verify.User
	key    verify.AccessKey // the credentials that signed the request
}

type actionFunc func(c *call) (result any, err error)

// ServeHTTP answers one Query API request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	reqID := newRequestID()
	w.Header().Set("x-amzn-RequestId", reqID)
	// The SDKs correct their clock from Date after a skew error, so it
	// must come from the clock the time check uses.
	w.Header().Set("Date", h.cfg.Now().UTC().Format(http.TimeFormat))

	svc, action, res, err := h.serveSafely(r)
	if err != nil {
		var ae *apiError
		if !errors.As(err, &ae) {
			h.cfg.Log.Error("iamapi: server fault", "action", action, "err", err)
			ae = errf(500, "ServiceFailure", "Request processing has failed due to some unknown error, exception or failure.")
		}
		writeError(w, svc, reqID, ae)
		h.observe(svc, action, ae.Code, start)
		return
	}
	if code := writeResult(w, svc, action, reqID, res); code != "" {
		h.observe(svc, action, code, start)
		return
	}
	h.observe(svc, action, "ok", start)
}

func (h *Handler) observe(svc *service, action, outcome string, start time.Time) {
	if h.cfg.Observe != nil {
		h.cfg.Observe(svc.name, action, outcome, time.Since(start))
	}
}

// serveSafely is serve with a panic turned into a server fault: the client
// gets IAM's ServiceFailure in XML, as for any internal error, not a
// dropped connection, and the log gets the panic and its stack (never the
// request's parameters).
func (h *Handler) serveSafely(r *http.Request) (svc *service, action string, res any, err error) {
	svc = iamService
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			h.cfg.Log.Error("iamapi: panic", "action", action, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			res, err = nil, fmt.Errorf("panic in %s", action)
		}
	}()
	return h.serve(r)
}

// serve authenticates r, decodes its parameters and runs its action. It
// returns the service (for the XML namespace, also of errors) and action.
func (h *Handler) serve(r *http.Request) (svc *service, action string, res any, err error) {
	svc = iamService
	// The Query protocol takes GET as well as POST: a presigned STS URL
	// (GetCallerIdentity for Kubernetes authentication, for one) is a GET
	// with everything in its query string.
	if r.Method != http.MethodPost && r.Method != http.MethodGet {
		return svc, "", nil, errf(405, "InvalidAction", "Only GET and POST requests are supported.")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, h.cfg.MaxBody+1))
	if err != nil {
		return svc, "", nil, errf(400, "MalformedQueryString", "The request body could not be read.")
	}
	if int64(len(body)) > h.cfg.MaxBody {
		return svc, "", nil, errf(413, "RequestEntityTooLarge", "Request body must be at most %d bytes.", h.cfg.MaxBody)
	}
	// The form decides the namespace of early errors; auth comes first.
	values, formErr := url.ParseQuery(string(body))
	if r.URL.RawQuery != "" {
		// The Query protocol takes parameters from the URL too (a
		// presigned request may carry them all there); the query's
		// authentication parameters are not the action's.
		qv, err := url.ParseQuery(r.URL.RawQuery)
		for k, vs := range qv {
			if !sigv4.IsAuthParam(k) {
				values[k] = append(values[k], vs...)
			}
		}
		if formErr == nil {
			formErr = err
		}
	}
	if values.Get("Version") == stsService.version {
		svc = stsService
	}

	q, err := sigv4.Parse(r)
	if err != nil {
		return svc, "", nil, sigError(err)
	}
	switch q.Scope.Service {
	case "iam":
		svc = iamService
	case "sts":
		svc = stsService
	default:
		return svc, "", nil, errf(403, sigv4.CodeSignatureMismatch, "Credential should be scoped to correct service: '%s'. ", svc.name)
	}
	if err := q.CheckTime(h.cfg.Now(), h.cfg.Skew); err != nil {
		return svc, "", nil, sigError(err)
	}
	ctx := r.Context()
	key, err := h.authenticate(ctx, r, q, body)
	if err != nil {
		return svc, "", nil, err
	}

	if formErr != nil {
		return svc, "", nil, errf(400, "MalformedQueryString", "The request body is not a valid form: %s", clip(formErr.Error()))
	}
	form := make(map[string]string, len(values))
	for k, vs := range values {
		if len(vs) > 1 {
			return svc, "", nil, errf(400, "InvalidQueryParameter", "The AWS query string is malformed or does not adhere to AWS standards: parameter '%s' is given %d times.", clip(k), len(vs))
		}
		form[k] = vs[0]
	}
	action = form["Action"]
	if action == "" {
		return svc, "", nil, errf(400, "MissingAction", "Missing Action")
	}
	version := form["Version"]
	fn := actionsOf(svc)[action]
	if fn == nil || version != svc.version {
		return svc, "", nil, errf(400, "InvalidAction", "Could not find operation %s for version %s", clip(action), clip(version))
	}

	ctx = verify.WithActor(ctx, verify.Actor{Name: key.User, Source: svc.name})
	c := &call{ctx: ctx, h: h, svc: svc, action: action, p: &params{form: form}, caller: verify.User{Name: key.User}, key: key}
	// Who the caller is matters to IAM's rules and to GetCallerIdentity;
	// GetSessionToken, the hot path, needs only the name.
	if svc == iamService || action == "GetCallerIdentity" {
		u, err := h.v.GetUser(ctx, key.User)
		if verify.CodeOf(err) == verify.ENOTFOUND {
			return svc, action, nil, errInvalidToken
		}
		if err != nil {
			return svc, action, nil, err
		}
		c.caller = u
	}
	if svc == iamService {
		if err := c.iamAllowed(); err != nil {
			return svc, action, nil, err
		}
	}
	res, err = fn(c)
	return svc, action, res, err
}

func actionsOf(svc *service) map[string]actionFunc {
	if svc == stsService {
		return stsActions
	}
	return iamActions
}

// sigError turns a sigv4 error into its wire form.
func sigError(err error) error {
	var e *sigv4.Error
	if !errors.As(err, &e) {
		return err
	}
	status := 403
	if e.Code == sigv4.CodeIncomplete {
		status = 400
	}
	return errf(status, e.Code, "%s", e.Message)
}

var (
	errInvalidToken = errf(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
	errExpiredToken = errf(403, "ExpiredToken", "The security token included in the request is expired")
	// errKeyExpired matches LookupAccessKey's error for an expired session key.
	errKeyExpired = &verify.Error{Code: verify.EUNAUTHORIZED, Reason: verify.ReasonExpired}
)

// authenticate finds the key that signed the request, checks the
// signature over the raw body and returns the key, without its secret.
func (h *Handler) authenticate(ctx context.Context, r *http.Request, q *sigv4.Request, body []byte) (verify.AccessKey, error) {
	key, err := h.v.LookupAccessKey(ctx, q.AccessKeyID)
	switch {
	case errors.Is(err, errKeyExpired):
		return key, errExpiredToken
	case verify.CodeOf(err) == verify.ENOTFOUND || verify.CodeOf(err) == verify.EINVALID:
		return key, errInvalidToken
	case err != nil:
		return key, err
	case key.Status != "" && key.Status != "Active":
		return key, errInvalidToken
	}
	if key.SessionToken != "" || q.SecurityToken != "" {
		if subtle.ConstantTimeCompare([]byte(key.SessionToken), []byte(q.SecurityToken)) != 1 {
			return key, errInvalidToken
		}
		if !key.Expires.IsZero() && !h.cfg.Now().Before(key.Expires) {
			return key, errExpiredToken
		}
	}
	if err := q.VerifyKey(r, body, h.keys.SigningKey(key.Secret, q.Scope)); err != nil {
		return key, sigError(err)
	}
	key.Secret = ""
	return key, nil
}

// isSession reports whether the request was signed with temporary
// credentials from STS.
func (c *call) isSession() bool { return c.key.SessionToken != "" }

// iamAllowed applies the rules that hold for every IAM action: session
// credentials only with MFA (as IAM does), and for a user marked
// RequireMFA, nothing without an MFA session.
func (c *call) iamAllowed() error {
	if c.key.MFA {
		return nil
	}
	if c.isSession() {
		return c.denied("", "because no MFA authentication information is included in the request")
	}
	if c.caller.RequireMFA {
		return c.denied("", "with an explicit deny in an identity-based policy")
	}
	return nil
}

// denied is IAM's AccessDenied for the current action on resource.
func (c *call) denied(resource, why string) *apiError {
	if resource == "" {
		resource = c.caller.Arn
	}
	return errf(403, "AccessDenied", "User: %s is not authorized to perform: %s:%s on resource: %s %s",
		c.caller.Arn, c.svc.name, c.action, resource, why)
}

// adminOnly refuses callers that are not administrators.
func (c *call) adminOnly(resource string) error {
	if c.caller.Admin {
		return nil
	}
	return c.denied(resource, "because no identity-based policy allows the "+c.svc.name+":"+c.action+" action")
}

// self returns the user an action is about: the UserName parameter, or
// the caller when it is absent. Users who are not administrators may name
// only themselves.
func (c *call) self(required bool) (string, error) {
	name := c.p.get("UserName", required, ruleExistingUser)
	if _, given := c.p.form["UserName"]; !given {
		name = c.caller.Name
	}
	if err := c.p.err(); err != nil {
		return "", err
	}
	if name != c.caller.Name {
		if err := c.adminOnly(c.userArn(name)); err != nil {
			return "", err
		}
	}
	return name, nil
}

func (c *call) userArn(name string) string {
	return "arn:aws:iam::" + c.h.cfg.Account + ":user/" + name
}

// iamError maps a verifier error to IAM's error for action: the one place
// where verify.ErrorCode meets IAM error codes.
func iamError(action string, err error) error {
	var ve *verify.Error
	if !errors.As(err, &ve) {
		return err // a server fault
	}
	code := ve.IAMCode
	if code == "" {
		switch ve.Code {
		case verify.EINVALID:
			code = "ValidationError"
		case verify.ENOTFOUND:
			code = "NoSuchEntity"
		case verify.ECONFLICT:
			code = "EntityAlreadyExists"
			if strings.HasPrefix(action, "Delete") {
				code = "DeleteConflict"
			}
		case verify.ELIMIT:
			code = "LimitExceeded"
		case verify.ECODE:
			code = "InvalidAuthenticationCode"
		case verify.ELOCKED:
			code = "EntityTemporarilyUnmodifiable"
		case verify.EUNAUTHORIZED, verify.EFORBIDDEN:
			code = "AccessDenied"
		default:
			return err
		}
	}
	msg := ve.Message
	if code == "InvalidAuthenticationCode" {
		msg = "Authentication code for device is not valid."
	}
	return errf(iamStatus(code), code, "%s", msg)
}

// iamStatus is the HTTP status of an IAM error code (the service model's
// error traits; IAM-SPEC.md §1).
func iamStatus(code string) int {
	switch code {
	case "NoSuchEntity":
		return 404
	case "EntityAlreadyExists", "LimitExceeded", "DeleteConflict", "ConcurrentModification", "EntityTemporarilyUnmodifiable":
		return 409
	case "InvalidAuthenticationCode", "AccessDenied":
		return 403
	case "ServiceFailure":
		return 500
	}
	return 400
}
