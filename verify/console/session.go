package console

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
)

// stage is how far a session has come through sign-in.
type stage int

const (
	stageAnonymous stage = iota // only a CSRF token for the sign-in form
	stageMFA                    // password accepted, second factor pending
	stageSignedIn               // password and MFA (or no MFA device) accepted
)

// session is one browser's (or native client's) console session, kept in
// memory on the server; the cookie carries only its random id.
type session struct {
	mu sync.Mutex // held for the whole of each request of the session

	id       string
	csrf     string
	stage    stage
	user     string // canonical user name, from stageMFA on
	admin    bool
	created  time.Time
	lastSeen time.Time
	passedAt time.Time // when the password was accepted

	// A WebAuthn ceremony in progress: its kind ("register" or "login"),
	// the library's session data and the name of the key being added.
	ceremony string
	wa       *webauthn.SessionData
	keyName  string

	// A virtual MFA device being assigned: its ARN and otpauth URI (the
	// QR code's text, which holds the seed; dropped once enabled).
	pendingVirtual string
	pendingURI     string

	flash string // a message shown once on the next page
}

// sessions is the in-memory session table.
type sessions struct {
	mu sync.Mutex
	m  map[string]*session
}

func newToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic("console: crypto/rand failed: " + err.Error()) // as crypto/rand itself does since Go 1.24
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *sessions) create(now time.Time) *session {
	ss := &session{id: newToken(), csrf: newToken(), created: now, lastSeen: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]*session{}
	}
	if len(s.m) >= maxSessions {
		// Anyone can make anonymous sessions (a GET of the sign-in page):
		// they go first when the table is full.
		for id, o := range s.m {
			if o.stage == stageAnonymous {
				delete(s.m, id)
			}
		}
	}
	s.m[ss.id] = ss
	return ss
}

// maxSessions bounds the session table.
const maxSessions = 100000

func (s *sessions) get(id string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[id]
}

func (s *sessions) drop(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

// sweep forgets sessions idle since before cutoff.
func (s *sessions) sweep(cutoff time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, ss := range s.m {
		if ss.lastSeen.Before(cutoff) {
			delete(s.m, id)
		}
	}
}

// csrfOK compares a submitted CSRF token with the session's in constant time.
func (ss *session) csrfOK(got string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(ss.csrf)) == 1
}

// ---- sign-in throttling

// throttle counts failed sign-ins per user name and per client address and
// refuses further attempts for a growing time once there are too many.
type throttle struct {
	mu    sync.Mutex
	m     map[string]*attempts
	after int           // failures allowed before the first block
	base  time.Duration // first block; doubles with each further failure
	max   time.Duration
	reset time.Duration // failures older than this are forgotten
}

type attempts struct {
	failures int
	last     time.Time
	until    time.Time
}

func newThrottle() *throttle {
	return &throttle{m: map[string]*attempts{}, after: 5, base: 30 * time.Second, max: 15 * time.Minute, reset: 15 * time.Minute}
}

// blocked returns until when any of keys is blocked (the zero time: not).
func (t *throttle) blocked(now time.Time, keys ...string) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	var until time.Time
	for _, k := range keys {
		if a := t.m[k]; a != nil && now.Before(a.until) && a.until.After(until) {
			until = a.until
		}
	}
	return until
}

// fail records a failure for every key.
func (t *throttle) fail(now time.Time, keys ...string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, k := range keys {
		a := t.m[k]
		if a == nil || now.Sub(a.last) > t.reset {
			a = &attempts{}
			t.m[k] = a
		}
		a.failures++
		a.last = now
		after := t.after
		if strings.HasPrefix(k, "addr:") {
			// An address may be a proxy or a NAT shared by many people:
			// it takes more failures to block it.
			after *= 4
		}
		if a.failures >= after {
			d := t.base
			for i := after; i < a.failures && d < t.max; i++ {
				d *= 2
			}
			a.until = now.Add(min(d, t.max))
		}
	}
	if len(t.m) > 100000 { // forget the oldest half rather than grow without bound
		for k, a := range t.m {
			if now.Sub(a.last) > t.reset || len(t.m) > 50000 {
				delete(t.m, k)
			}
		}
	}
}

// succeed forgets the failures of the user name (not of the address).
func (t *throttle) succeed(key string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, key)
}

// clientAddr is the request's remote IP, the throttle's per-address key.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func userKey(name string) string { return "user:" + strings.ToLower(name) }
func addrKey(r *http.Request) string {
	return "addr:" + clientAddr(r)
}
