package httpapi_test

import (
	"context"
	"io"
	"sort"
	"sync"
	"time"

	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify"
)

// fake is an in-memory verifier with just enough of the rules for the API
// tests: users, devices, codes checked against a fixed "good" code.
type fake struct {
	mu      sync.Mutex
	users   map[string]verify.User
	devices map[string]*verify.Device
	calls   []string
	actors  []verify.Actor
}

const (
	fakeToken = "tl_test_token"
	goodCode  = "123456"
	usedCode  = "654321"
	lockCode  = "000000"
)

func newFake() *fake {
	return &fake{users: map[string]verify.User{}, devices: map[string]*verify.Device{}}
}

func (f *fake) note(ctx context.Context, call string) {
	f.calls = append(f.calls, call)
	f.actors = append(f.actors, verify.ActorFrom(ctx))
}

func notFound(what, name string) error {
	return verify.Errorf(verify.ENOTFOUND, "%s %s not found", what, name)
}

func (f *fake) CreateUser(ctx context.Context, name string, opt verify.UserOptions) (verify.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.note(ctx, "CreateUser")
	if _, ok := f.users[name]; ok {
		return verify.User{}, verify.Errorf(verify.ECONFLICT, "user %s already exists", name)
	}
	p := opt.Path
	if p == "" {
		p = "/"
	}
	u := verify.User{ID: "AIDA" + name, Name: name, Path: p, Arn: "arn:aws:iam::123456789012:user" + p + name, Admin: opt.Admin, RequireMFA: opt.RequireMFA, CreatedAt: time.Unix(1700000000, 0).UTC()}
	f.users[name] = u
	return u, nil
}

func (f *fake) GetUser(ctx context.Context, name string) (verify.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users[name]
	if !ok {
		return u, notFound("user", name)
	}
	return u, nil
}

func (f *fake) ListUsers(ctx context.Context, prefix string, p verify.Page) ([]verify.User, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []verify.User
	for _, u := range f.users {
		out = append(out, u)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, "", nil
}

func (f *fake) DeleteUser(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.users[name]; !ok {
		return notFound("user", name)
	}
	for _, d := range f.devices {
		if d.User == name {
			return verify.Errorf(verify.ECONFLICT, "user %s still has MFA devices", name)
		}
	}
	delete(f.users, name)
	return nil
}

func (f *fake) SetPassword(ctx context.Context, name, password string) error {
	_, err := f.GetUser(ctx, name)
	return err
}

func (f *fake) CheckPassword(ctx context.Context, name, password string) (verify.User, error) {
	return f.GetUser(ctx, name)
}

func (f *fake) SetRequireMFA(ctx context.Context, name string, require bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users[name]
	if !ok {
		return notFound("user", name)
	}
	u.RequireMFA = require
	f.users[name] = u
	return nil
}

func (f *fake) ImportTokens(ctx context.Context, next func() (verify.TokenRecord, error)) (verify.ImportResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var res verify.ImportResult
	for {
		rec, err := next()
		if err == io.EOF {
			return res, nil
		}
		if err != nil {
			return verify.ImportResult{}, err
		}
		if _, ok := f.devices[string(rec.Serial)]; ok {
			res.Existing++
			continue
		}
		f.devices[string(rec.Serial)] = &verify.Device{ID: string(rec.Serial), Kind: verify.KindHardware, State: verify.StateAvailable, Spec: rec.Spec}
		res.Added++
	}
}

func (f *fake) list(match func(d *verify.Device) bool) []verify.Device {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []verify.Device
	for _, d := range f.devices {
		if match(d) {
			out = append(out, *d)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (f *fake) ListInventory(ctx context.Context, st verify.State, p verify.Page) ([]verify.Device, string, error) {
	return f.list(func(d *verify.Device) bool { return d.Kind == verify.KindHardware && (st == "" || d.State == st) }), "", nil
}

func (f *fake) CreateVirtual(ctx context.Context, name, path string, tags map[string]string) (verify.VirtualDevice, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if path == "" {
		path = "/"
	}
	arn := token.MFAARN{Account: token.DefaultAccount, Path: path, Name: name}.String()
	if _, ok := f.devices[arn]; ok {
		return verify.VirtualDevice{}, verify.Errorf(verify.ECONFLICT, "device %s already exists", arn)
	}
	d := verify.Device{ID: arn, Kind: verify.KindVirtual, State: verify.StateAvailable, Tags: tags}
	f.devices[arn] = &d
	seed := token.Seed([]byte("0123456789abcdefghij"))
	key := token.Key{Type: token.TOTP, Account: name, Seed: seed, Spec: token.DefaultSpec}
	return verify.VirtualDevice{Device: d, Seed: seed, URI: key.URI()}, nil
}

func (f *fake) DeleteVirtual(ctx context.Context, arn string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.devices[arn]
	if !ok {
		return notFound("device", arn)
	}
	if d.User != "" {
		return verify.Errorf(verify.ECONFLICT, "device %s is assigned", arn)
	}
	delete(f.devices, arn)
	return nil
}

func (f *fake) ListVirtual(ctx context.Context, a verify.Assignment, p verify.Page) ([]verify.Device, string, error) {
	return f.list(func(d *verify.Device) bool { return d.Kind == verify.KindVirtual }), "", nil
}

func (f *fake) userDevice(user, device string) (*verify.Device, error) {
	if _, ok := f.users[user]; !ok {
		return nil, notFound("user", user)
	}
	d, ok := f.devices[device]
	if !ok {
		return nil, notFound("device", device)
	}
	return d, nil
}

func (f *fake) Enable(ctx context.Context, user, device, code1, code2 string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.userDevice(user, device)
	if err != nil {
		return err
	}
	if code1 != goodCode || code2 != goodCode {
		return &verify.Error{Code: verify.ECODE, Message: "authentication codes are not valid", Reason: verify.ReasonWrong}
	}
	if d.User != "" {
		return verify.Errorf(verify.ECONFLICT, "device %s is already enabled", device)
	}
	n := 0
	for _, o := range f.devices {
		if o.User == user {
			n++
		}
	}
	if n >= verify.MaxDevicesPerUser {
		return verify.Errorf(verify.ELIMIT, "user %s already has %d MFA devices", user, n)
	}
	d.User, d.State = user, verify.StateAssigned
	return nil
}

func (f *fake) Check(ctx context.Context, user, device, code string) (verify.Decision, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.userDevice(user, device)
	if err != nil {
		return verify.Decision{}, err
	}
	switch {
	case d.User != user:
		return verify.Decision{Reason: verify.ReasonNotEnabled}, nil
	case code == goodCode:
		return verify.Decision{Accepted: true, Step: 1}, nil
	case code == usedCode:
		return verify.Decision{Reason: verify.ReasonReplayed}, nil
	case code == lockCode:
		return verify.Decision{}, &verify.Error{Code: verify.ELOCKED, Message: "device is locked", Reason: verify.ReasonLocked}
	}
	return verify.Decision{Reason: verify.ReasonWrong}, nil
}

func (f *fake) Resync(ctx context.Context, user, device, code1, code2 string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, err := f.userDevice(user, device); err != nil {
		return err
	}
	if code1 == lockCode {
		return &verify.Error{Code: verify.ELOCKED, Message: "device is locked", Reason: verify.ReasonLocked}
	}
	if code1 != goodCode {
		return &verify.Error{Code: verify.ECODE, Message: "authentication codes are not valid", Reason: verify.ReasonWrong}
	}
	return nil
}

func (f *fake) Deactivate(ctx context.Context, user, device string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.userDevice(user, device)
	if err != nil {
		return err
	}
	if d.User != user {
		return notFound("device for user", user)
	}
	d.User, d.State = "", verify.StateAvailable
	return nil
}

func (f *fake) MarkLost(ctx context.Context, serial string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.devices[serial]
	if !ok {
		return nil, notFound("device", serial)
	}
	var users []string
	if d.User != "" {
		users = append(users, d.User)
	}
	d.User, d.State = "", verify.StateLost
	return users, nil
}

func (f *fake) Unlock(ctx context.Context, device string) error {
	_, err := f.GetDevice(ctx, device)
	return err
}

func (f *fake) GetDevice(ctx context.Context, device string) (verify.Device, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.devices[device]
	if !ok {
		return verify.Device{}, notFound("device", device)
	}
	return *d, nil
}

func (f *fake) ListDevices(ctx context.Context, user string, p verify.Page) ([]verify.Device, string, error) {
	if _, err := f.GetUser(ctx, user); err != nil {
		return nil, "", err
	}
	return f.list(func(d *verify.Device) bool { return d.User == user }), "", nil
}

func (f *fake) TagDevice(ctx context.Context, device string, tags map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.devices[device]
	if !ok {
		return notFound("device", device)
	}
	if d.Tags == nil {
		d.Tags = map[string]string{}
	}
	for k, v := range tags {
		d.Tags[k] = v
	}
	return nil
}

func (f *fake) UntagDevice(ctx context.Context, device string, keys []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.devices[device]
	if !ok {
		return notFound("device", device)
	}
	for _, k := range keys {
		delete(d.Tags, k)
	}
	return nil
}

func (f *fake) CreateAccessKey(ctx context.Context, user string) (verify.AccessKey, error) {
	return verify.AccessKey{}, verify.Errorf(verify.EINVALID, "not in the fake")
}
func (f *fake) DeleteAccessKey(ctx context.Context, user, id string) error {
	return verify.Errorf(verify.EINVALID, "not in the fake")
}
func (f *fake) ListAccessKeys(ctx context.Context, user string) ([]verify.AccessKey, error) {
	return nil, nil
}
func (f *fake) LookupAccessKey(ctx context.Context, id string) (verify.AccessKey, error) {
	return verify.AccessKey{}, notFound("access key", id)
}
func (f *fake) CreateSession(ctx context.Context, user, device, code string, d time.Duration) (verify.AccessKey, error) {
	return verify.AccessKey{}, verify.Errorf(verify.EINVALID, "not in the fake")
}
func (f *fake) CreateAPIToken(ctx context.Context, name string) (string, error) {
	return fakeToken, nil
}
func (f *fake) CheckAPIToken(ctx context.Context, secret string) (string, error) {
	if secret != fakeToken {
		return "", verify.Errorf(verify.EUNAUTHORIZED, "bad token")
	}
	return "tester", nil
}
func (f *fake) Audit(ctx context.Context, flt verify.AuditFilter) ([]verify.AuditEvent, error) {
	return []verify.AuditEvent{{ID: 1, Time: time.Unix(1700000000, 0).UTC(), Actor: "tester", Action: "check", User: "alice", Outcome: "ok", Source: "api"}}, nil
}

var _ verify.Verifier = (*fake)(nil)

// boom is a verifier whose GetUser panics, to test the recover middleware.
type boom struct{ *fake }

func (boom) GetUser(ctx context.Context, name string) (verify.User, error) { panic("boom") }
