package httpapi

import (
	"time"

	"github.com/tokenlab/tokenlab/verify"
)

// The request and response bodies of the JSON API. Field names are
// snake_case; docs/api.md shows each with an example. The client package
// (verify/client) uses these same types.

// CreateUserRequest is the body of POST /api/v1/users.
type CreateUserRequest struct {
	Name       string `json:"name"`
	Path       string `json:"path,omitempty"`
	Password   string `json:"password,omitempty"`
	Admin      bool   `json:"admin,omitempty"`
	RequireMFA bool   `json:"require_mfa,omitempty"`
}

// UserList is the answer of GET /api/v1/users.
type UserList struct {
	Users      []verify.User `json:"users"`
	NextMarker string        `json:"next_marker,omitempty"`
}

// PasswordRequest is the body of PUT /api/v1/users/{name}/password.
type PasswordRequest struct {
	Password string `json:"password"`
}

// RequireMFARequest is the body of PUT /api/v1/users/{name}/require-mfa.
type RequireMFARequest struct {
	RequireMFA bool `json:"require_mfa"`
}

// TokenLine is one line of an inventory import (POST /api/v1/inventory,
// Content-Type application/x-ndjson): a hardware token and its seed.
type TokenLine struct {
	Serial    string `json:"serial"`
	Seed      string `json:"seed"`                // base32
	Algorithm string `json:"algorithm,omitempty"` // SHA1 (default), SHA256, SHA512
	Digits    int    `json:"digits,omitempty"`    // 6 (default) or 8
	Period    int    `json:"period,omitempty"`    // seconds: 30 (default) or 60
}

// DeviceList is the answer of the device lists.
type DeviceList struct {
	Devices    []verify.Device `json:"devices"`
	NextMarker string          `json:"next_marker,omitempty"`
}

// CreateVirtualRequest is the body of POST /api/v1/virtual-devices.
type CreateVirtualRequest struct {
	Name string            `json:"name"`
	Path string            `json:"path,omitempty"`
	Tags map[string]string `json:"tags,omitempty"`
}

// VirtualBootstrap is the one-time answer of POST /api/v1/virtual-devices:
// the only time the device's seed leaves the verifier.
type VirtualBootstrap struct {
	Device     verify.Device `json:"device"`
	SeedBase32 string        `json:"seed_base32"`
	URI        string        `json:"uri"`    // otpauth://totp/…
	QRPNG      []byte        `json:"qr_png"` // base64 in JSON
}

// TwoCodesRequest is the body of enable and resync.
type TwoCodesRequest struct {
	User   string `json:"user"`
	Device string `json:"device"` // serial or ARN
	Code1  string `json:"code1"`
	Code2  string `json:"code2"`
}

// CheckRequest is the body of POST /api/v1/mfa/check.
type CheckRequest struct {
	User   string `json:"user"`
	Device string `json:"device"`
	Code   string `json:"code"`
}

// UserDeviceRequest is the body of POST /api/v1/mfa/deactivate.
type UserDeviceRequest struct {
	User   string `json:"user"`
	Device string `json:"device"`
}

// DeviceRequest is the body of lost and unlock.
type DeviceRequest struct {
	Device string `json:"device"`
}

// LostResult is the answer of POST /api/v1/mfa/lost.
type LostResult struct {
	Device       string   `json:"device"`
	DetachedFrom []string `json:"detached_from"`
}

// TagRequest is the body of POST /api/v1/mfa/tags.
type TagRequest struct {
	Device string            `json:"device"`
	Tags   map[string]string `json:"tags"`
}

// UntagRequest is the body of POST /api/v1/mfa/untag.
type UntagRequest struct {
	Device string   `json:"device"`
	Keys   []string `json:"keys"`
}

// AuditList is the answer of GET /api/v1/audit.
type AuditList struct {
	Events []verify.AuditEvent `json:"events"`
}

// Health is the answer of GET /healthz.
type Health struct {
	Status string    `json:"status"`
	Time   time.Time `json:"time"`
}
