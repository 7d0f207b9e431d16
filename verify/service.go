package verify

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/tokenlab/tokenlab/token"
)

// Config tunes a [Service]. Zero values take the defaults named below.
type Config struct {
	Account string           // IAM account id in ARNs; default token.DefaultAccount
	Now     func() time.Time // default time.Now
	Rand    io.Reader        // default crypto/rand.Reader

	// Window is how many steps either side of the expected step (now +
	// drift) a check searches. Default 1 (RFC 6238 §5.2's one step of
	// network delay either way). Enable searches the same window around
	// now, and one more step late, since people type codes a bit late.
	// Whatever the window, an accepted code moves the drift by at most
	// one step, at most once per real step (see drift.go).
	Window int
	// ResyncWindow is how many steps either side of now a resync searches
	// for two consecutive codes. Default 100 (±50 minutes at 30 s): a fob
	// drifting 20 ppm loses that much only after about 8 years.
	ResyncWindow int
	// LockAfter consecutive wrong codes lock a device. Default 5.
	LockAfter int
	// LockBackoff is the first lock's length; each further failure while
	// over the limit doubles it, up to LockMax. Defaults 30 s and 1 h.
	LockBackoff time.Duration
	LockMax     time.Duration

	// AccessKeyCacheTTL is how long LookupAccessKey keeps a key it found,
	// secret unsealed, in memory: a key deleted by another process sharing
	// the database stays usable here that long (one deleted through this
	// Service is forgotten at once). Default 5 s; negative turns the cache
	// off.
	AccessKeyCacheTTL time.Duration

	// Logger receives operational messages; never a code, seed or secret.
	// Default: discard.
	Logger *slog.Logger
}

// Service implements [Verifier] over a [Store], with seeds and secrets
// sealed by a [Sealer].
type Service struct {
	store Store
	cfg   Config
	log   *slog.Logger

	mu     sync.RWMutex
	sealer Sealer

	keys keyCache // LookupAccessKey's
}

var _ Verifier = (*Service)(nil)

// New returns a Service. store and sealer must not be nil.
func New(store Store, sealer Sealer, cfg Config) *Service {
	if cfg.Account == "" {
		cfg.Account = token.DefaultAccount
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	if cfg.Window <= 0 {
		cfg.Window = 1
	}
	if cfg.ResyncWindow <= 0 {
		cfg.ResyncWindow = 100
	}
	if cfg.LockAfter <= 0 {
		cfg.LockAfter = 5
	}
	if cfg.LockBackoff <= 0 {
		cfg.LockBackoff = 30 * time.Second
	}
	if cfg.LockMax <= 0 {
		cfg.LockMax = time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.AccessKeyCacheTTL == 0 {
		cfg.AccessKeyCacheTTL = 5 * time.Second
	}
	return &Service{store: store, sealer: sealer, cfg: cfg, log: cfg.Logger, keys: keyCache{ttl: cfg.AccessKeyCacheTTL}}
}

// Config returns the configuration in effect, defaults filled in.
func (s *Service) Config() Config { return s.cfg }

// StoreStats returns the counts of the store's work, and false if the
// store keeps none (see [StatsReporter]).
func (s *Service) StoreStats() (StoreStats, bool) {
	if r, ok := s.store.(StatsReporter); ok {
		return r.Stats(), true
	}
	return StoreStats{}, false
}

func (s *Service) now() time.Time { return s.cfg.Now().UTC() }

func (s *Service) getSealer() Sealer {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.sealer
}

// peek runs fn through the store's Peek when it has one (a read of one
// statement outside a transaction), else through View.
func (s *Service) peek(ctx context.Context, fn func(Tx) error) error {
	if p, ok := s.store.(Peeker); ok {
		return p.Peek(ctx, fn)
	}
	return s.store.View(ctx, fn)
}

// ---- errors and audit

// internal turns an unexpected error into an EINTERNAL *Error after logging
// it; *Error values pass through.
func (s *Service) internal(op string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return &Error{Code: EINTERNAL, Message: op + ": " + err.Error()}
	}
	s.log.Error("verify: internal error", "op", op, "err", err.Error())
	return &Error{Code: EINTERNAL, Message: op + ": internal error"}
}

func (s *Service) event(ctx context.Context, action, user, device, outcome string, reason string) *AuditEvent {
	a := ActorFrom(ctx)
	return &AuditEvent{Time: s.now(), Actor: a.Name, Source: a.Source, Action: action, User: user, Device: device, Outcome: outcome, Reason: reason}
}

// outcomeOf maps an operation's error to the audit outcome and reason.
func outcomeOf(err error) (string, string) {
	if err == nil {
		return "ok", ""
	}
	var e *Error
	if errors.As(err, &e) {
		switch e.Code {
		case ECODE, ELOCKED, EUNAUTHORIZED, EFORBIDDEN:
			r := string(e.Reason)
			if r == "" {
				r = string(e.Code)
			}
			return "refused", r
		}
		return "error", string(e.Code)
	}
	return "error", string(EINTERNAL)
}

// audit records the outcome of an operation that failed before or outside
// its own transaction, in a transaction of its own.
func (s *Service) audit(ctx context.Context, action, user, device string, err error) {
	out, reason := outcomeOf(err)
	ev := s.event(ctx, action, user, device, out, reason)
	if aerr := s.store.Update(context.WithoutCancel(ctx), func(tx Tx) error { return tx.AppendAudit(ctx, ev) }); aerr != nil {
		s.log.Error("verify: audit write failed", "action", action, "err", aerr.Error())
	}
}

// update runs fn in a write transaction that also records the audit event
// for action. fn may return a refusal through *refusal: the transaction is
// then committed (with the refusal audited) and the refusal returned.
func (s *Service) update(ctx context.Context, action, user, device string, fn func(tx Tx, refusal *error) error) error {
	return s.write(ctx, s.store.Update, action, user, device, fn)
}

// updateGrouped is update through the group commit where the store
// gathers every write on one connection anyway (BatchReader: SQLite), so
// that concurrent enrollments share a transaction and an fsync; elsewhere
// it is update. fn may then run more than once (see Store.Batch) and must
// not take s.mu (RotateKEK holds it while it waits for the writer).
func (s *Service) updateGrouped(ctx context.Context, action, user, device string, fn func(tx Tx, refusal *error) error) error {
	run := s.store.Update
	if br, ok := s.store.(BatchReader); ok && br.ReadsInBatch() {
		run = s.store.Batch
	}
	return s.write(ctx, run, action, user, device, fn)
}

func (s *Service) write(ctx context.Context, run func(context.Context, func(Tx) error) error, action, user, device string, fn func(tx Tx, refusal *error) error) error {
	var refusal error
	err := run(ctx, func(tx Tx) error {
		refusal = nil
		if err := fn(tx, &refusal); err != nil {
			return err
		}
		out, reason := outcomeOf(refusal)
		return tx.AppendAudit(ctx, s.event(ctx, action, user, device, out, reason))
	})
	if err != nil {
		err = s.internal(action, err)
		s.audit(ctx, action, user, device, err)
		return err
	}
	return refusal
}

// ---- validation

func validUserName(n string, max int) error {
	if n == "" || len(n) > max {
		return &Error{Code: EINVALID, Message: fmt.Sprintf("user name must be 1 to %d characters", max), IAMCode: "ValidationError"}
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_+=,.@-", c) >= 0) {
			return &Error{Code: EINVALID, Message: fmt.Sprintf("user name %q: character %q not allowed (letters, digits and _+=,.@-)", trunc(n), c), IAMCode: "ValidationError"}
		}
	}
	return nil
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}

func validPath(p string) error {
	if err := token.ValidPath(p); err != nil {
		return &Error{Code: EINVALID, Message: "The specified value for path is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters.", IAMCode: "ValidationError"}
	}
	return nil
}

// validDevice checks a device id: an MFA or u2f ARN, or a serial.
func validDevice(id string) error {
	if token.IsARN(id) {
		if strings.Contains(id, ":u2f/") {
			if len(id) > 256 || strings.ContainsAny(id, " \t\r\n") {
				return &Error{Code: EINVALID, Message: fmt.Sprintf("invalid FIDO device ARN %q", trunc(id)), IAMCode: "ValidationError"}
			}
			return nil
		}
		if _, err := token.ParseMFAARN(id); err != nil {
			return &Error{Code: EINVALID, Message: strings.TrimPrefix(err.Error(), "token: "), IAMCode: "ValidationError"}
		}
		return nil
	}
	if _, err := token.ParseSerial(id); err != nil {
		return &Error{Code: EINVALID, Message: strings.TrimPrefix(err.Error(), "token: "), IAMCode: "ValidationError"}
	}
	return nil
}

// validCode checks a code's shape: 6 or 8 decimal digits.
func validCode(c string) error {
	if len(c) != 6 && len(c) != 8 {
		return &Error{Code: EINVALID, Message: fmt.Sprintf("authentication code must be 6 or 8 digits, got %d characters", len(c)), IAMCode: "ValidationError"}
	}
	for i := 0; i < len(c); i++ {
		if c[i] < '0' || c[i] > '9' {
			return &Error{Code: EINVALID, Message: "authentication code must be decimal digits", IAMCode: "ValidationError"}
		}
	}
	return nil
}

func first(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// ---- pagination

const markerPrefix = "tl1:"

func encodeMarker(key string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(markerPrefix + key))
}

func decodeMarker(m string) (string, error) {
	if m == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(m)
	if err != nil || !strings.HasPrefix(string(b), markerPrefix) {
		return "", &Error{Code: EINVALID, Message: "Invalid Marker.", IAMCode: "ValidationError"}
	}
	return string(b[len(markerPrefix):]), nil
}

func pageSize(p Page) (int, error) {
	if p.Max == 0 {
		return 100, nil
	}
	if p.Max < 1 || p.Max > 1000 {
		return 0, &Error{Code: EINVALID, Message: "MaxItems must be between 1 and 1000", IAMCode: "ValidationError"}
	}
	return p.Max, nil
}

// ---- random identifiers

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" // RFC 4648 base32

func (s *Service) randomID(prefix string, n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.cfg.Rand, b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	out := make([]byte, 0, len(prefix)+n)
	out = append(out, prefix...)
	for _, c := range b {
		out = append(out, idAlphabet[c&31])
	}
	return string(out), nil
}

func (s *Service) randomSecret(n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.cfg.Rand, b); err != nil {
		return "", fmt.Errorf("random: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

func sha(b string) []byte {
	h := sha256.Sum256([]byte(b))
	return h[:]
}

func ctEqual(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
