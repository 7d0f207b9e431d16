package iamapi_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify"
)

// fake is a small in-memory verify.Verifier with the rules that the IAM
// endpoint's tests exercise (two consecutive codes, replay, 8 devices). It
// stands in until the real service is available; see newVerifier.
type fake struct {
	mu      sync.Mutex
	now     func() time.Time
	users   map[string]verify.User
	devs    map[string]*fakeDev
	keys    map[string]verify.AccessKey
	counter int
}

type fakeDev struct {
	verify.Device
	seed token.Seed
}

func newFake(now func() time.Time) *fake {
	return &fake{now: now, users: map[string]verify.User{}, devs: map[string]*fakeDev{}, keys: map[string]verify.AccessKey{}}
}

func notFound(f string, a ...any) error { return verify.Errorf(verify.ENOTFOUND, f, a...) }

func (f *fake) id(prefix string, n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return prefix + strings.ToUpper(hex.EncodeToString(b))
}

func (f *fake) CreateUser(ctx context.Context, name string, opt verify.UserOptions) (verify.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.users[name]; ok {
		return verify.User{}, verify.Errorf(verify.ECONFLICT, "User with name %s already exists.", name)
	}
	p := opt.Path
	if p == "" {
		p = "/"
	}
	u := verify.User{ID: f.id("AIDA", 8), Name: name, Path: p, Arn: "arn:aws:iam::" + token.DefaultAccount + ":user" + p + name,
		Admin: opt.Admin, RequireMFA: opt.RequireMFA, CreatedAt: f.now().UTC().Truncate(time.Second)}
	f.users[name] = u
	return u, nil
}

func (f *fake) GetUser(ctx context.Context, name string) (verify.User, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users[name]
	if !ok {
		return u, notFound("The user with name %s cannot be found.", name)
	}
	return u, nil
}

func (f *fake) ListUsers(ctx context.Context, prefix string, p verify.Page) ([]verify.User, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for n, u := range f.users {
		if strings.HasPrefix(u.Path, prefix) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var out []verify.User
	for _, n := range names {
		out = append(out, f.users[n])
	}
	return out, "", nil
}

func (f *fake) DeleteUser(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.users[name]; !ok {
		return notFound("The user with name %s cannot be found.", name)
	}
	for _, d := range f.devs {
		if d.User == name {
			return &verify.Error{Code: verify.ECONFLICT, Message: "must delete MFA device first", IAMCode: "DeleteConflict"}
		}
	}
	delete(f.users, name)
	return nil
}

func (f *fake) SetPassword(ctx context.Context, name, password string) error { return nil }
func (f *fake) CheckPassword(ctx context.Context, name, password string) (verify.User, error) {
	return verify.User{}, verify.Errorf(verify.EUNAUTHORIZED, "no")
}

func (f *fake) SetRequireMFA(ctx context.Context, name string, require bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	u, ok := f.users[name]
	if !ok {
		return notFound("no user %s", name)
	}
	u.RequireMFA = require
	f.users[name] = u
	return nil
}

func (f *fake) ImportTokens(ctx context.Context, next func() (verify.TokenRecord, error)) (verify.ImportResult, error) {
	var r verify.ImportResult
	for {
		rec, err := next()
		if err == io.EOF {
			return r, nil
		}
		if err != nil {
			return r, err
		}
		f.mu.Lock()
		if _, ok := f.devs[string(rec.Serial)]; ok {
			r.Existing++
		} else {
			f.devs[string(rec.Serial)] = &fakeDev{Device: verify.Device{ID: string(rec.Serial), Kind: verify.KindHardware, State: verify.StateAvailable, Spec: rec.Spec, CreatedAt: f.now()}, seed: rec.Seed}
			r.Added++
		}
		f.mu.Unlock()
	}
}

func (f *fake) ListInventory(ctx context.Context, s verify.State, p verify.Page) ([]verify.Device, string, error) {
	return nil, "", nil
}

func (f *fake) CreateVirtual(ctx context.Context, name, path string, tags map[string]string) (verify.VirtualDevice, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	arn := token.MFAARN{Account: token.DefaultAccount, Path: path, Name: name}.String()
	if _, ok := f.devs[arn]; ok {
		return verify.VirtualDevice{}, verify.Errorf(verify.ECONFLICT, "exists")
	}
	seed, _ := token.GenerateSeed(rand.Reader, token.SHA1)
	d := &fakeDev{Device: verify.Device{ID: arn, Kind: verify.KindVirtual, State: verify.StateAvailable, Spec: token.DefaultSpec, CreatedAt: f.now(), Tags: tags}, seed: seed}
	f.devs[arn] = d
	return verify.VirtualDevice{Device: d.Device, Seed: seed}, nil
}

func (f *fake) DeleteVirtual(ctx context.Context, arn string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.devs[arn]
	if !ok || d.Kind != verify.KindVirtual {
		return notFound("no device")
	}
	if d.User != "" {
		return verify.Errorf(verify.ECONFLICT, "in use")
	}
	delete(f.devs, arn)
	return nil
}

func (f *fake) ListVirtual(ctx context.Context, a verify.Assignment, p verify.Page) ([]verify.Device, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []verify.Device
	for _, d := range f.devs {
		if d.Kind != verify.KindVirtual || (a == verify.AssignmentAssigned && d.User == "") || (a == verify.AssignmentUnassigned && d.User != "") {
			continue
		}
		out = append(out, d.Device)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, "", nil
}

// match finds the step in [from, to] whose code is code.
func (d *fakeDev) match(code string, from, to int64) (int64, bool) {
	for s := from; s <= to; s++ {
		if s >= 0 && d.Spec.HOTP(d.seed, uint64(s)) == code {
			return s, true
		}
	}
	return 0, false
}

func (f *fake) Enable(ctx context.Context, user, dev, code1, code2 string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.users[user]; !ok {
		return notFound("no user")
	}
	d, ok := f.devs[dev]
	if !ok || d.Kind == verify.KindFIDO {
		return notFound("no device")
	}
	if d.User != "" {
		return verify.Errorf(verify.ECONFLICT, "in use")
	}
	n := 0
	for _, o := range f.devs {
		if o.User == user {
			n++
		}
	}
	if n >= verify.MaxDevicesPerUser {
		return verify.Errorf(verify.ELIMIT, "too many")
	}
	now := int64(d.Spec.Step(f.now()))
	s, ok := d.match(code1, now-2, now+1)
	if !ok || d.Spec.HOTP(d.seed, uint64(s+1)) != code2 {
		return &verify.Error{Code: verify.ECODE, Message: "bad codes", Reason: verify.ReasonWrong}
	}
	d.User, d.State, d.EnabledAt, d.LastStep, d.Drift = user, verify.StateAssigned, f.now().UTC().Truncate(time.Second), uint64(s+1), s+1-now
	return nil
}

func (f *fake) check(user, dev, code string) (verify.Decision, error) {
	d, ok := f.devs[dev]
	if !ok || d.User != user {
		return verify.Decision{Reason: verify.ReasonNotEnabled}, notFound("not enabled")
	}
	now := int64(d.Spec.Step(f.now())) + d.Drift
	s, ok := d.match(code, now-1, now+1)
	if !ok {
		return verify.Decision{Reason: verify.ReasonWrong}, &verify.Error{Code: verify.ECODE, Reason: verify.ReasonWrong, Message: "wrong"}
	}
	if uint64(s) <= d.LastStep {
		return verify.Decision{Reason: verify.ReasonReplayed}, &verify.Error{Code: verify.ECODE, Reason: verify.ReasonReplayed, Message: "replayed"}
	}
	d.LastStep = uint64(s)
	return verify.Decision{Accepted: true, Step: uint64(s)}, nil
}

func (f *fake) Check(ctx context.Context, user, dev, code string) (verify.Decision, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	dec, err := f.check(user, dev, code)
	if verify.CodeOf(err) == verify.ECODE {
		err = nil
	}
	return dec, err
}

func (f *fake) Resync(ctx context.Context, user, dev, code1, code2 string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.devs[dev]
	if !ok || d.User != user {
		return notFound("no device")
	}
	now := int64(d.Spec.Step(f.now()))
	s, ok := d.match(code1, now-100, now+100)
	if !ok || d.Spec.HOTP(d.seed, uint64(s+1)) != code2 || uint64(s) <= d.LastStep {
		return &verify.Error{Code: verify.ECODE, Message: "bad codes", Reason: verify.ReasonWrong}
	}
	d.Drift, d.LastStep = s+1-now, uint64(s+1)
	return nil
}

func (f *fake) Deactivate(ctx context.Context, user, dev string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.devs[dev]
	if !ok || d.User != user {
		return notFound("no device")
	}
	d.User, d.State, d.EnabledAt = "", verify.StateAvailable, time.Time{}
	return nil
}

func (f *fake) MarkLost(ctx context.Context, serial string) ([]string, error) { return nil, nil }
func (f *fake) Unlock(ctx context.Context, dev string) error                  { return nil }

func (f *fake) GetDevice(ctx context.Context, dev string) (verify.Device, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.devs[dev]
	if !ok {
		return verify.Device{}, notFound("no device")
	}
	return d.Device, nil
}

func (f *fake) ListDevices(ctx context.Context, user string, p verify.Page) ([]verify.Device, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.users[user]; !ok {
		return nil, "", notFound("no user")
	}
	var out []verify.Device
	for _, d := range f.devs {
		if d.User == user {
			out = append(out, d.Device)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, "", nil
}

func (f *fake) TagDevice(ctx context.Context, dev string, tags map[string]string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.devs[dev]
	if !ok {
		return notFound("no device")
	}
	m := map[string]string{}
	for k, v := range d.Tags {
		m[k] = v
	}
	for k, v := range tags {
		m[k] = v
	}
	d.Tags = m
	return nil
}

func (f *fake) UntagDevice(ctx context.Context, dev string, keys []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.devs[dev]
	if !ok {
		return notFound("no device")
	}
	m := map[string]string{}
	for k, v := range d.Tags {
		m[k] = v
	}
	for _, k := range keys {
		delete(m, k)
	}
	d.Tags = m
	return nil
}

func (f *fake) CreateAccessKey(ctx context.Context, user string) (verify.AccessKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.users[user]; !ok {
		return verify.AccessKey{}, notFound("no user")
	}
	n := 0
	for _, k := range f.keys {
		if k.User == user && k.SessionToken == "" {
			n++
		}
	}
	if n >= 2 {
		return verify.AccessKey{}, verify.Errorf(verify.ELIMIT, "Cannot exceed quota for AccessKeysPerUser: 2")
	}
	k := verify.AccessKey{ID: f.id("AKIA", 8), Secret: f.id("", 20), User: user, Status: "Active", CreatedAt: f.now().UTC().Truncate(time.Second)}
	f.keys[k.ID] = k
	return k, nil
}

func (f *fake) DeleteAccessKey(ctx context.Context, user, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if k, ok := f.keys[id]; !ok || k.User != user {
		return notFound("no key")
	}
	delete(f.keys, id)
	return nil
}

func (f *fake) ListAccessKeys(ctx context.Context, user string) ([]verify.AccessKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []verify.AccessKey
	for _, k := range f.keys {
		if k.User == user {
			k.Secret = ""
			out = append(out, k)
		}
	}
	return out, nil
}

func (f *fake) LookupAccessKey(ctx context.Context, id string) (verify.AccessKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k, ok := f.keys[id]
	if !ok || (!k.Expires.IsZero() && !f.now().Before(k.Expires)) {
		return verify.AccessKey{}, notFound("no key")
	}
	return k, nil
}

func (f *fake) CreateSession(ctx context.Context, user, dev, code string, dur time.Duration) (verify.AccessKey, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	mfa := dev != ""
	if mfa {
		if _, err := f.check(user, dev, code); err != nil {
			return verify.AccessKey{}, err
		}
	}
	k := verify.AccessKey{ID: f.id("ASIA", 8), Secret: f.id("", 20), User: user, Status: "Active", CreatedAt: f.now(),
		SessionToken: f.id("FQoG", 32), Expires: f.now().Add(dur), MFA: mfa, MFADevice: dev}
	f.keys[k.ID] = k
	return k, nil
}

func (f *fake) CreateAPIToken(ctx context.Context, name string) (string, error) { return "", nil }
func (f *fake) CheckAPIToken(ctx context.Context, secret string) (string, error) {
	return "", verify.Errorf(verify.EUNAUTHORIZED, "no")
}
func (f *fake) Audit(ctx context.Context, fl verify.AuditFilter) ([]verify.AuditEvent, error) {
	return nil, nil
}

var _ verify.Verifier = (*fake)(nil)
