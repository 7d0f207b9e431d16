// Package verify is the verifier service: it enrolls hardware-token serials,
// virtual MFA devices (ARNs) and FIDO credentials against users and decides,
// exactly and durably, whether a one-time code is good, under the IAM rules
// of ../shared/DESIGN.md ("Verifier rules"):
//
//   - at most [MaxDevicesPerUser] devices per user, any mix of kinds;
//   - a TOTP device is enabled with two consecutive codes, which fix its drift;
//   - a code is accepted at most once (compare-and-set on the last accepted step);
//   - checks look at the expected step (now + drift) ± [Config.Window]; an
//     accepted code nudges the drift by at most one step towards it, and
//     only if the previous accepted code belongs to an earlier real step,
//     so codes from the future cannot walk the window forward (the full
//     rule and its reasoning are in drift.go);
//   - resync searches ± [Config.ResyncWindow] for two consecutive codes;
//   - [Config.LockAfter] consecutive failures lock a device with growing back-off;
//   - every decision lands in the audit log, never a code or a seed.
//
// This file holds the domain types and the [Verifier] interface that the
// front ends (JSON API in httpapi, IAM/STS endpoint in iamapi, web console)
// consume; [Service] implements it over a [Store] (sqlite, postgres).
package verify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tokenlab/tokenlab/token"
)

// MaxDevicesPerUser is IAM's limit: 8 MFA devices of any combination.
const MaxDevicesPerUser = 8

// Kind is the kind of an MFA device.
type Kind string

const (
	KindHardware Kind = "hardware" // a hardware TOTP token, named by its serial
	KindVirtual  Kind = "virtual"  // a virtual MFA app, named by its ARN
	KindFIDO     Kind = "fido"     // a FIDO security key, named by its u2f ARN
)

// State is where a hardware token or virtual device stands.
type State string

const (
	StateAvailable State = "available" // in the inventory (or created), not assigned
	StateAssigned  State = "assigned"  // enabled for a user
	StateLost      State = "lost"      // reported lost or stolen; never usable again
)

// User is a principal that holds MFA devices.
type User struct {
	ID         string    `json:"id"`   // AIDA… style id, stable
	Name       string    `json:"name"` // IAM userNameType
	Path       string    `json:"path"` // "/" by default
	Arn        string    `json:"arn"`  // arn:aws:iam::ACCOUNT:user/PATH/NAME
	Admin      bool      `json:"admin"`
	RequireMFA bool      `json:"require_mfa"` // IAM actions only with an MFA session
	CreatedAt  time.Time `json:"created_at"`
}

// Device is an MFA device as the verifier knows it. It never carries a seed.
type Device struct {
	ID          string            `json:"id"` // serial or ARN
	Kind        Kind              `json:"kind"`
	State       State             `json:"state"`
	User        string            `json:"user,omitempty"` // user name when assigned
	Spec        token.Spec        `json:"-"`
	EnabledAt   time.Time         `json:"enabled_at,omitzero"`
	CreatedAt   time.Time         `json:"created_at"`
	Drift       int64             `json:"drift_steps"`        // device clock offset, in steps
	LastStep    uint64            `json:"last_step,omitzero"` // last accepted time step
	Failures    int               `json:"failures"`           // consecutive failures
	LockedUntil time.Time         `json:"locked_until,omitzero"`
	Tags        map[string]string `json:"tags,omitempty"`
}

// Reason says why a code was refused.
type Reason string

const (
	ReasonWrong      Reason = "wrong"       // no code in the window matches
	ReasonReplayed   Reason = "replayed"    // the code's step was already used
	ReasonLocked     Reason = "locked"      // too many failures; wait or unlock
	ReasonNotEnabled Reason = "not-enabled" // the device is not enabled for this user
	ReasonLost       Reason = "lost"        // the device was reported lost
	// ReasonExpired goes with EUNAUTHORIZED from LookupAccessKey: the
	// key is a session key past its expiry (STS's ExpiredToken).
	ReasonExpired Reason = "expired"
)

// Decision is the outcome of a code check.
type Decision struct {
	Accepted    bool      `json:"accepted"`
	Reason      Reason    `json:"reason,omitempty"` // when refused
	Step        uint64    `json:"step,omitzero"`    // the accepted step
	LockedUntil time.Time `json:"locked_until,omitzero"`
}

// TokenRecord is one hardware token to import into the inventory, as a
// seed file (PSKC, CSV) carries it.
type TokenRecord struct {
	Serial token.Serial
	Spec   token.Spec
	Seed   token.Seed
}

// ImportResult counts what an import did.
type ImportResult struct {
	Added    int      `json:"added"`
	Existing int      `json:"existing"` // same serial already in the inventory
	Serials  []string `json:"-"`
}

// VirtualDevice is a freshly created virtual MFA device with its one-time
// bootstrap: the only time its seed leaves the verifier.
type VirtualDevice struct {
	Device
	Seed token.Seed
	URI  string // otpauth URI for the QR code
}

// Assignment filters ListVirtual (IAM AssignmentStatus).
type Assignment string

const (
	AssignmentAny        Assignment = "Any"
	AssignmentAssigned   Assignment = "Assigned"
	AssignmentUnassigned Assignment = "Unassigned"
)

// Page asks for one page of a list: Max items after Marker (opaque).
type Page struct {
	Marker string
	Max    int // 0 means 100
}

// AccessKey is an access key pair for SigV4 (IAM endpoint). Secret is set
// only when the key is created or looked up for signature checking.
type AccessKey struct {
	ID        string    `json:"access_key_id"`
	Secret    string    `json:"-"`
	User      string    `json:"user"`
	Status    string    `json:"status"` // Active | Inactive
	CreatedAt time.Time `json:"created_at"`
	// Session keys (STS GetSessionToken) carry a token, an expiry and
	// whether MFA was present.
	SessionToken string    `json:"-"`
	Expires      time.Time `json:"expires,omitzero"`
	MFA          bool      `json:"mfa,omitempty"`
	MFADevice    string    `json:"mfa_device,omitempty"`
}

// AuditEvent is one decision in the audit log. It never holds a code or seed.
type AuditEvent struct {
	ID      int64     `json:"id"`
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`  // who asked (admin token name, access key user, console user)
	Action  string    `json:"action"` // enable, check, resync, deactivate, lost, unlock, …
	User    string    `json:"user,omitempty"`
	Device  string    `json:"device,omitempty"`
	Outcome string    `json:"outcome"` // ok, refused, error
	Reason  string    `json:"reason,omitempty"`
	Source  string    `json:"source,omitempty"` // api, iam, sts, console, cli
}

// AuditFilter selects audit events; zero fields match everything.
type AuditFilter struct {
	User   string
	Device string
	Action string
	Since  time.Time
	Limit  int
}

// Verifier is the service the front ends use. Every method records its
// decision in the audit log with the actor from the context (see [WithActor]).
type Verifier interface {
	CreateUser(ctx context.Context, name string, opt UserOptions) (User, error)
	GetUser(ctx context.Context, name string) (User, error)
	ListUsers(ctx context.Context, pathPrefix string, p Page) (users []User, next string, err error)
	DeleteUser(ctx context.Context, name string) error // ECONFLICT while devices are attached
	SetPassword(ctx context.Context, name, password string) error
	CheckPassword(ctx context.Context, name, password string) (User, error) // EUNAUTHORIZED on mismatch
	SetRequireMFA(ctx context.Context, name string, require bool) error

	ImportTokens(ctx context.Context, next func() (TokenRecord, error)) (ImportResult, error) // next returns io.EOF at the end
	ListInventory(ctx context.Context, state State, p Page) (devs []Device, next string, err error)

	CreateVirtual(ctx context.Context, name, path string, tags map[string]string) (VirtualDevice, error)
	DeleteVirtual(ctx context.Context, arn string) error // ECONFLICT while assigned
	ListVirtual(ctx context.Context, a Assignment, p Page) (devs []Device, next string, err error)

	Enable(ctx context.Context, user, device, code1, code2 string) error
	Check(ctx context.Context, user, device, code string) (Decision, error)
	Resync(ctx context.Context, user, device, code1, code2 string) error
	Deactivate(ctx context.Context, user, device string) error
	MarkLost(ctx context.Context, serial string) (detachedFrom []string, err error)
	Unlock(ctx context.Context, device string) error
	GetDevice(ctx context.Context, device string) (Device, error)
	ListDevices(ctx context.Context, user string, p Page) (devs []Device, next string, err error)
	TagDevice(ctx context.Context, device string, tags map[string]string) error
	UntagDevice(ctx context.Context, device string, keys []string) error

	CreateAccessKey(ctx context.Context, user string) (AccessKey, error)
	DeleteAccessKey(ctx context.Context, user, id string) error
	ListAccessKeys(ctx context.Context, user string) ([]AccessKey, error)
	LookupAccessKey(ctx context.Context, id string) (AccessKey, error) // with Secret; ENOTFOUND if unknown, EUNAUTHORIZED with ReasonExpired if an expired session key
	// CreateSession checks code on device (all the rules, replay included)
	// and issues temporary credentials carrying "MFA present".
	CreateSession(ctx context.Context, user, device, code string, d time.Duration) (AccessKey, error)

	CreateAPIToken(ctx context.Context, name string) (secret string, err error)
	CheckAPIToken(ctx context.Context, secret string) (name string, err error)

	Audit(ctx context.Context, f AuditFilter) ([]AuditEvent, error)
}

// UserOptions are the optional fields of a new user.
type UserOptions struct {
	Path       string
	Password   string
	Admin      bool
	RequireMFA bool
}

// ErrorCode classifies errors; each front end maps a code to its wire form
// (HTTP status, IAM error code) in exactly one function.
type ErrorCode string

const (
	EINVALID      ErrorCode = "invalid"      // bad input: 400, IAM ValidationError/InvalidInput
	ENOTFOUND     ErrorCode = "not_found"    // 404, NoSuchEntity
	ECONFLICT     ErrorCode = "conflict"     // 409, EntityAlreadyExists / DeleteConflict
	ELIMIT        ErrorCode = "limit"        // 409, LimitExceeded (9th device)
	ECODE         ErrorCode = "invalid_code" // 403, InvalidAuthenticationCode
	ELOCKED       ErrorCode = "locked"       // 429, too many failures
	EUNAUTHORIZED ErrorCode = "unauthorized" // 401
	EFORBIDDEN    ErrorCode = "forbidden"    // 403
	EINTERNAL     ErrorCode = "internal"     // 500: never for bad input
)

// Error is the verifier's error type.
type Error struct {
	Code    ErrorCode
	Message string // safe to show: never a code or seed
	Reason  Reason // for ECODE/ELOCKED: why
	// IAMCode overrides the IAM error code where IAM is more specific than
	// Code (DeleteConflict vs EntityAlreadyExists).
	IAMCode string
}

func (e *Error) Error() string { return "verify: " + e.Message }

// Is lets errors.Is(err, &Error{Code: ENOTFOUND}) match by code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code && (t.Reason == "" || t.Reason == e.Reason)
}

// Errorf returns an *Error with code and a formatted message.
func Errorf(code ErrorCode, format string, a ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, a...)}
}

// CodeOf returns err's ErrorCode: EINTERNAL for errors that are not *Error.
func CodeOf(err error) ErrorCode {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ReasonOf returns the refusal reason carried by err, if any.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

type actorKey struct{}

// Actor is who makes a request, for the audit log.
type Actor struct {
	Name   string // admin token name, user name, access key owner
	Source string // api, iam, sts, console, cli
}

// WithActor attaches the acting principal to ctx.
func WithActor(ctx context.Context, a Actor) context.Context {
	return &actorCtx{Context: ctx, a: a}
}

// ActorFrom returns the actor attached to ctx, or a zero Actor.
func ActorFrom(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorKey{}).(*Actor); ok {
		return *a
	}
	return Actor{}
}

// actorCtx is context.WithValue(ctx, actorKey{}, a) in one allocation
// instead of two (the context, and the Actor boxed in an interface): every
// request makes one. Value answers a pointer to a, which boxes for free.
type actorCtx struct {
	context.Context
	a Actor
}

func (c *actorCtx) Value(key any) any {
	if key == (actorKey{}) {
		return &c.a
	}
	return c.Context.Value(key)
}
