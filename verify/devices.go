package verify

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tokenlab/tokenlab/token"
)

// IAM's messages.
const (
	msgInUse     = "MFA Device is already in use."
	msgBadCode   = "Authentication code for device is not valid."
	msgLimit     = "Cannot exceed quota for MFADevicesPerUser: 8"
	msgSTSCode   = "MultiFactorAuthentication failed with invalid MFA one time pass code."
	msgSTSDevice = "MultiFactorAuthentication failed, unable to validate MFA code.  Please verify your MFA serial number is valid and associated with this user."
)

func codeErr(r Reason, msg string) *Error {
	return &Error{Code: ECODE, Message: msg, Reason: r, IAMCode: "InvalidAuthenticationCode"}
}

func lockedErr(until time.Time) *Error {
	return &Error{Code: ELOCKED, Message: fmt.Sprintf("MFA device is locked after repeated failures until %s", until.UTC().Format(time.RFC3339)), Reason: ReasonLocked}
}

// stepAt returns the time step of t for spec as a signed number.
func stepAt(spec token.Spec, t time.Time) int64 { return int64(spec.Step(t)) }

// seedOf opens a device's sealed seed.
func (s *Service) seedOf(d *DeviceRecord) (token.Seed, error) {
	return openSeed(s.getSealer(), d)
}

// openSeed unseals d's seed with sealer.
func openSeed(sealer Sealer, d *DeviceRecord) (token.Seed, error) {
	if len(d.SealedSeed) == 0 {
		return nil, fmt.Errorf("device %s has no seed", d.ID)
	}
	b, err := sealer.Open(d.KeyID, d.SealedSeed, SealAAD(SealedSeed, d.ID))
	if err != nil {
		return nil, fmt.Errorf("device %s: opening seed: %w", d.ID, err)
	}
	return token.Seed(b), nil
}

// matcher compares codes of one seed in constant time. It holds its
// HOTPer by value, so that a matcher on the caller's stack costs no
// allocation; the caller wipes it with the seed.
type matcher struct {
	h    token.HOTPer
	spec token.Spec
	buf  [10]byte
}

// init sets m up for seed under spec.
func (m *matcher) init(spec token.Spec, seed token.Seed) {
	m.spec = spec
	m.h.Init(spec.Algorithm, spec.Digits, seed)
}

func (m *matcher) is(code string, step int64) bool {
	if step < 0 || len(code) != m.spec.Digits {
		return false
	}
	c := m.h.Append(m.buf[:0], uint64(step))
	return subtle.ConstantTimeCompare(c, []byte(code)) == 1
}

// matchOne looks for code in [center-w, center+w]. Every candidate is
// computed (no early exit), nearest to center preferred; among matches, one
// above last is preferred over a replayed one.
func (m *matcher) matchOne(code string, center int64, w int, last uint64) (step int64, ok bool) {
	best := int64(-1)
	for i := range 2*w + 1 {
		st := center + offset(i)
		if m.is(code, st) {
			if best < 0 || (uint64(best) <= last && uint64(st) > last) {
				best = st
			}
		}
	}
	return best, best >= 0
}

// matchPair looks for code1 at some step t and code2 at t+1 with t in
// [lo, hi], nearest to prefer first, the later pair winning ties.
func (m *matcher) matchPair(code1, code2 string, lo, hi, prefer int64) (int64, bool) {
	best, found := int64(0), false
	for t := lo; t <= hi; t++ {
		if m.is(code1, t) && m.is(code2, t+1) {
			if !found || abs(t-prefer) < abs(best-prefer) || (abs(t-prefer) == abs(best-prefer) && t > best) {
				best, found = t, true
			}
		}
	}
	return best, found
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// offset is the i-th offset of a window scan: 0, -1, 1, -2, 2, … for i =
// 0, 1, 2, 3, 4, …
func offset(i int) int64 {
	k := int64(i+1) / 2
	if i%2 == 1 {
		return -k
	}
	return k
}

// lockFunc is the back-off: LockAfter failures lock for LockBackoff, each
// further one doubles it, up to LockMax.
func (s *Service) lockFunc(now time.Time) func(int) time.Time {
	return func(failures int) time.Time {
		if failures < s.cfg.LockAfter {
			return time.Time{}
		}
		d := s.cfg.LockBackoff
		for i := s.cfg.LockAfter; i < failures && d < s.cfg.LockMax; i++ {
			d *= 2
		}
		return now.Add(min(d, s.cfg.LockMax))
	}
}

// ---- inventory

// TokenList returns an ImportTokens source that yields recs in order.
func TokenList(recs ...TokenRecord) func() (TokenRecord, error) {
	i := 0
	return func() (TokenRecord, error) {
		if i == len(recs) {
			return TokenRecord{}, io.EOF
		}
		i++
		return recs[i-1], nil
	}
}

// ImportTokens adds hardware tokens to the inventory in one transaction:
// all of them, or none if a record is bad. Serials already present are
// counted as Existing and left unchanged.
func (s *Service) ImportTokens(ctx context.Context, next func() (TokenRecord, error)) (ImportResult, error) {
	var res ImportResult
	now := s.now()
	sealer := s.getSealer()
	err := s.update(ctx, "import", "", "", func(tx Tx, _ *error) error {
		res = ImportResult{}
		for i := 1; ; i++ {
			r, err := next()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return &Error{Code: EINVALID, Message: fmt.Sprintf("token record %d: %v", i, err)}
			}
			if _, err := token.ParseSerial(string(r.Serial)); err != nil {
				return &Error{Code: EINVALID, Message: fmt.Sprintf("token record %d: %v", i, err)}
			}
			if err := r.Spec.Validate(); err != nil {
				return &Error{Code: EINVALID, Message: fmt.Sprintf("token record %d (%s): %v", i, r.Serial, err)}
			}
			if _, err := token.NewSeed(r.Seed); err != nil {
				return &Error{Code: EINVALID, Message: fmt.Sprintf("token record %d (%s): %v", i, r.Serial, err)}
			}
			id := string(r.Serial)
			kid, ct, err := sealer.Seal(r.Seed, SealAAD(SealedSeed, id))
			if err != nil {
				return err
			}
			d := &DeviceRecord{Device: Device{ID: id, Kind: KindHardware, State: StateAvailable, Spec: r.Spec, CreatedAt: now}, SealedSeed: ct, KeyID: kid}
			err = tx.CreateDevice(ctx, d)
			switch {
			case err == nil:
				res.Added++
				res.Serials = append(res.Serials, id)
			case CodeOf(err) == ECONFLICT:
				res.Existing++
			default:
				return err
			}
		}
	})
	if err != nil {
		return ImportResult{}, err
	}
	s.log.Info("verify: tokens imported", "added", res.Added, "existing", res.Existing)
	return res, nil
}

// ListInventory lists hardware tokens in state ("" for every state).
func (s *Service) ListInventory(ctx context.Context, state State, p Page) ([]Device, string, error) {
	switch state {
	case "", StateAvailable, StateAssigned, StateLost:
	default:
		return nil, "", &Error{Code: EINVALID, Message: fmt.Sprintf("unknown state %q (want available, assigned or lost)", trunc(string(state)))}
	}
	return s.listDevices(ctx, DeviceFilter{Kind: KindHardware, State: state}, p)
}

func (s *Service) listDevices(ctx context.Context, f DeviceFilter, p Page) ([]Device, string, error) {
	n, err := pageSize(p)
	if err != nil {
		return nil, "", err
	}
	after, err := decodeMarker(p.Marker)
	if err != nil {
		return nil, "", err
	}
	var recs []*DeviceRecord
	err = s.store.View(ctx, func(tx Tx) error {
		if f.User != "" {
			u, err := tx.User(ctx, f.User)
			if err != nil {
				return err
			}
			f.User = u.Name
		}
		recs, err = tx.Devices(ctx, f, after, n+1)
		return err
	})
	if err != nil {
		return nil, "", s.internal("list-devices", err)
	}
	next := ""
	if len(recs) > n {
		recs = recs[:n]
		next = encodeMarker(recs[n-1].ID)
	}
	out := make([]Device, len(recs))
	for i, r := range recs {
		out[i] = r.Device
	}
	return out, next, nil
}

// ---- virtual devices

// CreateVirtual creates an unassigned virtual MFA device and returns its
// seed and otpauth URI: the only time they leave the verifier.
func (s *Service) CreateVirtual(ctx context.Context, name, path string, tags map[string]string) (VirtualDevice, error) {
	if path == "" {
		path = "/"
	}
	if err := token.ValidMFAName(name); err != nil {
		err = &Error{Code: EINVALID, Message: strings.TrimPrefix(err.Error(), "token: "), IAMCode: "ValidationError"}
		s.audit(ctx, "create-virtual", "", name, err)
		return VirtualDevice{}, err
	}
	if err := first(validPath(path), validTags(tags)); err != nil {
		s.audit(ctx, "create-virtual", "", name, err)
		return VirtualDevice{}, err
	}
	arn := token.MFAARN{Account: s.cfg.Account, Path: path, Name: name}.String()
	seed, err := token.GenerateSeed(s.cfg.Rand, token.SHA1) // 20 bytes
	if err != nil {
		return VirtualDevice{}, s.internal("create-virtual", err)
	}
	kid, ct, err := s.getSealer().Seal(seed, SealAAD(SealedSeed, arn))
	if err != nil {
		return VirtualDevice{}, s.internal("create-virtual", err)
	}
	d := &DeviceRecord{Device: Device{ID: arn, Kind: KindVirtual, State: StateAvailable, Spec: token.DefaultSpec, CreatedAt: s.now(), Tags: tags}, SealedSeed: ct, KeyID: kid}
	err = s.update(ctx, "create-virtual", "", arn, func(tx Tx, _ *error) error {
		return tx.CreateDevice(ctx, d)
	})
	if err != nil {
		return VirtualDevice{}, err
	}
	key := token.Key{Type: token.TOTP, Account: name + "@" + s.cfg.Account, Seed: seed, Spec: token.DefaultSpec}
	return VirtualDevice{Device: d.Device, Seed: seed, URI: key.URI()}, nil
}

// DeleteVirtual deletes an unassigned virtual device.
func (s *Service) DeleteVirtual(ctx context.Context, arn string) error {
	if err := validDevice(arn); err != nil {
		return err
	}
	return s.update(ctx, "delete-virtual", "", arn, func(tx Tx, _ *error) error {
		d, err := tx.Device(ctx, arn)
		if err != nil {
			return err
		}
		if d.Kind != KindVirtual {
			return &Error{Code: EINVALID, Message: fmt.Sprintf("%s is not a virtual MFA device", arn)}
		}
		if d.State == StateAssigned {
			return &Error{Code: ECONFLICT, Message: "MFA VirtualDevice in use. Must deactivate first.", IAMCode: "DeleteConflict"}
		}
		return tx.DeleteDevice(ctx, arn)
	})
}

// ListVirtual lists virtual devices by assignment status.
func (s *Service) ListVirtual(ctx context.Context, a Assignment, p Page) ([]Device, string, error) {
	switch a {
	case "", AssignmentAny, AssignmentAssigned, AssignmentUnassigned:
	default:
		return nil, "", &Error{Code: EINVALID, Message: fmt.Sprintf("AssignmentStatus %q: want Assigned, Unassigned or Any", trunc(string(a))), IAMCode: "ValidationError"}
	}
	if a == AssignmentAny {
		a = ""
	}
	return s.listDevices(ctx, DeviceFilter{Kind: KindVirtual, Assigned: a}, p)
}

func validTags(tags map[string]string) error {
	if len(tags) > 50 {
		return &Error{Code: ELIMIT, Message: "Cannot exceed quota for TagsPerMFADevice: 50", IAMCode: "LimitExceeded"}
	}
	for k, v := range tags {
		if len(k) < 1 || len(k) > 128 || len(v) > 256 {
			return &Error{Code: EINVALID, Message: "tag keys must be 1 to 128 characters and values at most 256", IAMCode: "InvalidInput"}
		}
	}
	return nil
}

// ---- enable, check, resync

func (s *Service) checkArgs(user, device string, codes ...string) error {
	if err := first(validUserName(user, 128), validDevice(device)); err != nil {
		return err
	}
	for _, c := range codes {
		if err := validCode(c); err != nil {
			return err
		}
	}
	return nil
}

// Enable assigns device to user after two consecutive codes. The codes are
// looked for with the first at a step within [now-Window-1, now+Window]
// (one more step late than early: codes are often typed late); the second
// code's step fixes the drift and is recorded as used.
func (s *Service) Enable(ctx context.Context, user, device, code1, code2 string) error {
	if strings.Contains(device, ":u2f/") {
		err := consoleOnly()
		s.audit(ctx, "enable", user, device, err)
		return err
	}
	if err := s.checkArgs(user, device, code1, code2); err != nil {
		s.audit(ctx, "enable", user, device, err)
		return err
	}
	now := s.now()
	sealer := s.getSealer()
	return s.updateGrouped(ctx, "enable", user, device, func(tx Tx, refusal *error) error {
		u, err := tx.LockUser(ctx, user)
		if err != nil {
			return err
		}
		d, err := tx.Device(ctx, device)
		if err != nil {
			return err
		}
		switch {
		case d.Kind == KindFIDO:
			return consoleOnly()
		case d.State == StateLost:
			return &Error{Code: EFORBIDDEN, Message: fmt.Sprintf("MFA device %s was reported lost and cannot be enabled.", device), Reason: ReasonLost}
		case d.State == StateAssigned:
			return &Error{Code: ECONFLICT, Message: msgInUse, IAMCode: "EntityAlreadyExists"}
		}
		n, err := tx.CountDevices(ctx, u.Name)
		if err != nil {
			return err
		}
		if n >= MaxDevicesPerUser {
			return &Error{Code: ELIMIT, Message: msgLimit, IAMCode: "LimitExceeded"}
		}
		seed, err := openSeed(sealer, d)
		if err != nil {
			return err
		}
		defer seed.Wipe()
		var m matcher
		m.init(d.Spec, seed)
		defer m.h.Wipe()
		cur := stepAt(d.Spec, now)
		w := int64(s.cfg.Window)
		t, ok := m.matchPair(code1, code2, cur-w-1, cur+w, cur-1)
		if !ok {
			*refusal = codeErr(ReasonWrong, msgBadCode)
			return nil
		}
		if uint64(t) <= d.LastStep {
			*refusal = codeErr(ReasonReplayed, msgBadCode)
			return nil
		}
		won, err := tx.Assign(ctx, StepUpdate{ID: d.ID, User: u.Name, Above: uint64(t), Step: uint64(t + 1), Drift: t + 1 - cur, Now: now})
		if err != nil {
			return err
		}
		if !won { // changed since we read it (another process)
			*refusal = codeErr(ReasonReplayed, msgBadCode)
		}
		return nil
	})
}

// verdict is what a code check decided before writing it.
type verdict struct {
	user     string // canonical name
	dev      *DeviceRecord
	accepted bool
	step     int64
	drift    int64
	reason   Reason
	err      error // bad input, unknown entity, FIDO
}

// judge reads user and device (Peek) into v, which must be zero, and
// evaluates code without writing.
func (s *Service) judge(ctx context.Context, v *verdict, user, device, code string, now time.Time) {
	err := s.peek(ctx, func(tx Tx) (err error) {
		v.user, v.dev, err = tx.UserDevice(ctx, user, device)
		return err
	})
	if err != nil {
		v.err = s.internal("check", err)
		return
	}
	s.assess(v, s.getSealer(), code, now)
}

// assess evaluates code against the device v has read.
func (s *Service) assess(v *verdict, sealer Sealer, code string, now time.Time) {
	d := v.dev
	switch {
	case d.State == StateLost:
		v.reason = ReasonLost
		return
	case d.State != StateAssigned || d.User != v.user:
		v.reason = ReasonNotEnabled
		return
	case d.Kind == KindFIDO:
		v.err = &Error{Code: EINVALID, Message: "FIDO security keys do not produce one-time codes", IAMCode: "ValidationError"}
		return
	case now.Before(d.LockedUntil):
		v.reason = ReasonLocked
		return
	}
	seed, err := openSeed(sealer, d)
	if err != nil {
		v.err = s.internal("check", err)
		return
	}
	defer seed.Wipe()
	var m matcher
	m.init(d.Spec, seed)
	defer m.h.Wipe()
	cur := stepAt(d.Spec, now)
	st, ok := m.matchOne(code, cur+d.Drift, s.cfg.Window, d.LastStep)
	switch {
	case !ok:
		v.reason = ReasonWrong
	case uint64(st) <= d.LastStep:
		v.reason = ReasonReplayed
	default:
		v.accepted, v.step, v.drift = true, st, nudge(d, cur, st)
	}
}

// decide checks code and writes the decision through the store's group
// commit: on a match, the compare-and-set of the last step (and onAccept,
// in the same transaction); on a wrong code, one more failure. Either way
// the audit event. Refusals come back as a Decision, not an error.
//
// The user and device are read before the batch (Peek), or, when the
// store says that is cheaper (BatchReader), inside it. Either way the
// compare-and-set decides: a read that another writer overtook loses it.
func (s *Service) decide(ctx context.Context, action, user, device, code string, onAccept func(tx Tx, user string) error) (Decision, error) {
	if err := s.checkArgs(user, device, code); err != nil {
		s.audit(ctx, action, user, device, err)
		return Decision{}, err
	}
	now := s.now()
	if br, ok := s.store.(BatchReader); ok && br.ReadsInBatch() {
		return s.decideInBatch(ctx, action, user, device, code, now, onAccept)
	}
	// The verdict and the decision in one variable: the closures that
	// set them would make each an allocation of its own.
	var r struct {
		v   verdict
		dec Decision
	}
	s.judge(ctx, &r.v, user, device, code, now)
	if r.v.err != nil {
		s.audit(ctx, action, user, device, r.v.err)
		return Decision{}, r.v.err
	}
	if r.v.user != "" {
		user = r.v.user
	}
	err := s.store.Batch(ctx, func(tx Tx) (err error) {
		r.dec, err = s.record(ctx, tx, action, user, device, &r.v, now, onAccept)
		return err
	})
	return s.decided(ctx, action, user, device, r.dec, err)
}

// decideInBatch is decide with the read, the judgement and the write in
// one run of the group commit.
func (s *Service) decideInBatch(ctx context.Context, action, user, device, code string, now time.Time, onAccept func(tx Tx, user string) error) (Decision, error) {
	// The sealer is taken now: inside the batch, RotateKEK (which holds
	// s.mu while it waits for the writer) would deadlock with it.
	sealer := s.getSealer()
	// The closure's results, in one variable: each variable it sets
	// would be an allocation of its own.
	var r struct {
		dec     Decision
		refused error // bad input or unknown entity found in the batch
		name    string
	}
	err := s.store.Batch(ctx, func(tx Tx) (err error) {
		r.dec, r.refused, r.name = Decision{}, nil, user
		var v verdict
		v.user, v.dev, err = tx.UserDevice(ctx, user, device)
		if err == nil {
			s.assess(&v, sealer, code, now)
			err = v.err
		}
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Code == EINTERNAL {
				return err
			}
			r.refused = err
			out, reason := outcomeOf(err)
			return tx.AppendAudit(ctx, s.event(ctx, action, user, device, out, reason))
		}
		r.name = v.user
		r.dec, err = s.record(ctx, tx, action, r.name, device, &v, now, onAccept)
		return err
	})
	if err == nil && r.refused != nil {
		return Decision{}, r.refused
	}
	return s.decided(ctx, action, r.name, device, r.dec, err)
}

// record writes the decision on v in tx, with its audit event.
func (s *Service) record(ctx context.Context, tx Tx, action, user, device string, v *verdict, now time.Time, onAccept func(tx Tx, user string) error) (Decision, error) {
	var dec Decision
	switch {
	case v.accepted:
		won, err := tx.AdvanceStep(ctx, StepUpdate{ID: v.dev.ID, User: user, Above: uint64(v.step), Step: uint64(v.step), Drift: v.drift, Now: now})
		if err != nil {
			return dec, err
		}
		if won {
			dec = Decision{Accepted: true, Step: uint64(v.step)}
			if onAccept != nil {
				if err := onAccept(tx, user); err != nil {
					return dec, err
				}
			}
			break
		}
		// Lost the compare-and-set: see why.
		d, err := tx.Device(ctx, v.dev.ID)
		if err != nil {
			return dec, err
		}
		switch {
		case d.State == StateLost:
			dec.Reason = ReasonLost
		case d.State != StateAssigned || d.User != user:
			dec.Reason = ReasonNotEnabled
		case now.Before(d.LockedUntil):
			dec.Reason, dec.LockedUntil = ReasonLocked, d.LockedUntil
		default:
			dec.Reason = ReasonReplayed
		}
	case v.reason == ReasonWrong:
		_, until, err := tx.RecordFailure(ctx, v.dev.ID, s.lockFunc(now))
		if err != nil {
			return dec, err
		}
		dec = Decision{Reason: ReasonWrong, LockedUntil: until}
	default:
		dec.Reason = v.reason
		if v.reason == ReasonLocked {
			dec.LockedUntil = v.dev.LockedUntil
		}
	}
	out := "ok"
	if !dec.Accepted {
		out = "refused"
	}
	return dec, tx.AppendAudit(ctx, s.event(ctx, action, user, device, out, string(dec.Reason)))
}

// decided finishes decide: a failed write is an internal error, audited
// on its own; a lockout is logged.
func (s *Service) decided(ctx context.Context, action, user, device string, dec Decision, err error) (Decision, error) {
	if err != nil {
		err = s.internal(action, err)
		s.audit(ctx, action, user, device, err)
		return Decision{}, err
	}
	if !dec.LockedUntil.IsZero() && dec.Reason == ReasonWrong {
		s.log.Warn("verify: device locked after repeated failures", "device", device, "until", dec.LockedUntil)
	}
	return dec, nil
}

// Check decides whether code is good for user's device now. A refused code
// is a Decision with a Reason and a nil error; errors are for bad input
// (EINVALID), unknown users or devices (ENOTFOUND) and failures.
func (s *Service) Check(ctx context.Context, user, device, code string) (Decision, error) {
	return s.decide(ctx, "check", user, device, code, nil)
}

// Resync searches ± ResyncWindow steps around now for two consecutive
// codes and resets the device's drift to where they are.
func (s *Service) Resync(ctx context.Context, user, device, code1, code2 string) error {
	if err := s.checkArgs(user, device, code1, code2); err != nil {
		s.audit(ctx, "resync", user, device, err)
		return err
	}
	now := s.now()
	return s.update(ctx, "resync", user, device, func(tx Tx, refusal *error) error {
		u, d, err := ownedDevice(ctx, tx, user, device)
		if err != nil {
			return err
		}
		if d.State != StateAssigned {
			return noSuchDevice(device)
		}
		if d.Kind == KindFIDO {
			return &Error{Code: EINVALID, Message: "FIDO security keys never need a resync", IAMCode: "InvalidInput"}
		}
		if now.Before(d.LockedUntil) {
			*refusal = lockedErr(d.LockedUntil)
			return nil
		}
		seed, err := s.seedOf(d)
		if err != nil {
			return err
		}
		defer seed.Wipe()
		var m matcher
		m.init(d.Spec, seed)
		defer m.h.Wipe()
		cur := stepAt(d.Spec, now)
		r := int64(s.cfg.ResyncWindow)
		t, ok := m.matchPair(code1, code2, cur-r, cur+r-1, cur)
		if !ok {
			if _, _, err := tx.RecordFailure(ctx, d.ID, s.lockFunc(now)); err != nil {
				return err
			}
			*refusal = codeErr(ReasonWrong, msgBadCode)
			return nil
		}
		if uint64(t) <= d.LastStep {
			*refusal = codeErr(ReasonReplayed, msgBadCode)
			return nil
		}
		won, err := tx.AdvanceStep(ctx, StepUpdate{ID: d.ID, User: u.Name, Above: uint64(t), Step: uint64(t + 1), Drift: t + 1 - cur, Now: now})
		if err != nil {
			return err
		}
		if !won {
			*refusal = codeErr(ReasonReplayed, msgBadCode)
		}
		return nil
	})
}

// ownedDevice reads user and device in tx: ENOTFOUND for an unknown user
// (first, as IAM reports it), an unknown device, or a device that is not
// the user's.
func ownedDevice(ctx context.Context, tx Tx, user, device string) (*UserRecord, *DeviceRecord, error) {
	u, err := tx.User(ctx, user)
	if err != nil {
		return nil, nil, err
	}
	d, err := tx.Device(ctx, device)
	if err != nil {
		return nil, nil, err
	}
	if d.User != u.Name {
		return nil, nil, noSuchDevice(device)
	}
	return u, d, nil
}

func noSuchDevice(id string) *Error {
	return &Error{Code: ENOTFOUND, Message: fmt.Sprintf("MFA Device with serial number %s does not exist.", id), IAMCode: "NoSuchEntity"}
}

// Deactivate takes device from user: a hardware token goes back to the
// inventory, a virtual device becomes unassigned. Its last accepted step
// stays, so codes used before cannot be used after a re-enable.
func (s *Service) Deactivate(ctx context.Context, user, device string) error {
	if err := first(validUserName(user, 128), validDevice(device)); err != nil {
		return err
	}
	return s.update(ctx, "deactivate", user, device, func(tx Tx, _ *error) error {
		_, d, err := ownedDevice(ctx, tx, user, device)
		if err != nil {
			return err
		}
		if d.State != StateAssigned {
			return noSuchDevice(device)
		}
		_, err = tx.Detach(ctx, d.ID, StateAvailable)
		return err
	})
}

// MarkLost reports a device lost or stolen: in one transaction it is
// detached from every user it was attached to and can never be enabled
// again. It returns those users.
func (s *Service) MarkLost(ctx context.Context, serial string) ([]string, error) {
	if err := validDevice(serial); err != nil {
		return nil, err
	}
	var from []string
	err := s.update(ctx, "lost", "", serial, func(tx Tx, _ *error) error {
		from = nil
		u, err := tx.Detach(ctx, serial, StateLost)
		if err != nil {
			return err
		}
		if u != "" {
			from = append(from, u)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.log.Info("verify: device reported lost", "device", serial, "detached_from", len(from))
	return from, nil
}

// Unlock clears a device's failures and lock (an administrator's call).
func (s *Service) Unlock(ctx context.Context, device string) error {
	if err := validDevice(device); err != nil {
		return err
	}
	return s.update(ctx, "unlock", "", device, func(tx Tx, _ *error) error {
		return tx.Unlock(ctx, device)
	})
}

// GetDevice returns a device (never its seed).
func (s *Service) GetDevice(ctx context.Context, device string) (Device, error) {
	if err := validDevice(device); err != nil {
		return Device{}, err
	}
	var d *DeviceRecord
	err := s.store.View(ctx, func(tx Tx) (err error) {
		d, err = tx.Device(ctx, device)
		return err
	})
	if err != nil {
		return Device{}, s.internal("get-device", err)
	}
	return d.Device, nil
}

// ListDevices lists the devices assigned to user.
func (s *Service) ListDevices(ctx context.Context, user string, p Page) ([]Device, string, error) {
	if err := validUserName(user, 128); err != nil {
		return nil, "", err
	}
	return s.listDevices(ctx, DeviceFilter{User: user}, p)
}

// TagDevice adds or replaces tags on a device (at most 50).
func (s *Service) TagDevice(ctx context.Context, device string, tags map[string]string) error {
	if err := first(validDevice(device), validTags(tags)); err != nil {
		return err
	}
	return s.update(ctx, "tag", "", device, func(tx Tx, _ *error) error {
		d, err := tx.Device(ctx, device)
		if err != nil {
			return err
		}
		merged := make(map[string]string, len(d.Tags)+len(tags))
		for k, v := range d.Tags {
			merged[k] = v
		}
		for k, v := range tags {
			merged[k] = v
		}
		if err := validTags(merged); err != nil {
			return err
		}
		return tx.SetTags(ctx, device, merged)
	})
}

// UntagDevice removes tags by key.
func (s *Service) UntagDevice(ctx context.Context, device string, keys []string) error {
	if err := validDevice(device); err != nil {
		return err
	}
	return s.update(ctx, "untag", "", device, func(tx Tx, _ *error) error {
		d, err := tx.Device(ctx, device)
		if err != nil {
			return err
		}
		for _, k := range keys {
			delete(d.Tags, k)
		}
		return tx.SetTags(ctx, device, d.Tags)
	})
}
