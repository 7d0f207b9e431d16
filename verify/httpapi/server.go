// Package httpapi is the JSON HTTP API of the verifier: administrators
// manage users, the hardware-token inventory and virtual MFA devices, and
// check one-time codes, over any [verify.Verifier].
//
// Every route under /api/v1/ needs "Authorization: Bearer TOKEN", a token the
// verifier knows ([verify.Verifier.CheckAPIToken]); the token's name is the
// actor in the audit log. Requests are strict: bodies are bounded
// ([MaxJSONBody], [MaxImportBody]), JSON has one value and no unknown fields,
// and serials, ARNs, codes and user names are checked before the verifier
// sees them. Errors come back as {"error":{"code":"…","message":"…"}} with
// the status [StatusOf] gives; docs/api.md lists every endpoint.
//
//	srv := httpapi.New(verifier, httpapi.Config{Logger: log})
//	mux.Handle("/api/", srv)
//	mux.Handle("/healthz", srv.Health())
//	mux.Handle("/metrics", srv.Metrics())
package httpapi

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/tokenlab/tokenlab/verify"
)

// Config tunes a [Server]. The zero value is ready to use.
type Config struct {
	Logger  *slog.Logger // nil: discard
	Metrics *Metrics     // nil: a fresh set
	Now     func() time.Time
	// AuthCacheTTL is how long an accepted bearer token is remembered
	// (by its SHA-256), sparing the verifier a lookup per request: a
	// token removed from the verifier keeps working that long. Default
	// 10 s; negative disables the cache.
	AuthCacheTTL time.Duration
}

// Server is the JSON API. It is an http.Handler for the /api/ tree.
type Server struct {
	v       verify.Verifier
	log     *slog.Logger
	metrics *Metrics
	now     func() time.Time
	mux     *http.ServeMux
	auth    authCache
}

// authCache remembers accepted tokens for a short while.
type authCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[[32]byte]authEntry
}

type authEntry struct {
	name    string
	expires time.Time
}

const maxAuthCache = 1024

// maxTokenLen bounds a bearer token.
const maxTokenLen = 512

func (c *authCache) get(tok string, now time.Time) (string, bool) {
	if c.ttl <= 0 {
		return "", false
	}
	k := tokenKey(tok)
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || now.After(e.expires) {
		return "", false
	}
	return e.name, true
}

func (c *authCache) put(tok, name string, now time.Time) {
	if c.ttl <= 0 {
		return
	}
	k := tokenKey(tok)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= maxAuthCache {
		c.m = map[[32]byte]authEntry{}
	}
	c.m[k] = authEntry{name: name, expires: now.Add(c.ttl)}
}

// tokenKey is the SHA-256 of tok. A token of the length authenticate
// allows is copied through a buffer on the stack (cleared after) rather
// than converted to a []byte on the heap on every request.
func tokenKey(tok string) [32]byte {
	var buf [maxTokenLen]byte
	if len(tok) > len(buf) {
		return sha256.Sum256([]byte(tok))
	}
	b := buf[:copy(buf[:], tok)]
	k := sha256.Sum256(b)
	clear(b)
	return k
}

// New returns the API over v.
func New(v verify.Verifier, cfg Config) *Server {
	s := &Server{v: v, log: cfg.Logger, metrics: cfg.Metrics, now: cfg.Now, mux: http.NewServeMux()}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.metrics == nil {
		s.metrics = NewMetrics()
	}
	if ss, ok := v.(StoreStatsReporter); ok {
		s.metrics.ObserveStore(ss.StoreStats)
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.auth.ttl = cfg.AuthCacheTTL
	if s.auth.ttl == 0 {
		s.auth.ttl = 10 * time.Second
	}
	s.routes()
	return s
}

func (s *Server) routes() {
	const p = "/api/v1/"
	s.handle("POST "+p+"users", "users.create", s.createUser)
	s.handle("GET "+p+"users", "users.list", s.listUsers)
	s.handle("GET "+p+"users/{name}", "users.get", s.getUser)
	s.handle("DELETE "+p+"users/{name}", "users.delete", s.deleteUser)
	s.handle("PUT "+p+"users/{name}/password", "users.password", s.setPassword)
	s.handle("PUT "+p+"users/{name}/require-mfa", "users.require_mfa", s.setRequireMFA)
	s.handle("GET "+p+"users/{name}/devices", "users.devices", s.listUserDevices)

	s.handle("POST "+p+"inventory", "inventory.import", s.importTokens)
	s.handle("GET "+p+"inventory", "inventory.list", s.listInventory)

	s.handle("POST "+p+"virtual-devices", "virtual.create", s.createVirtual)
	s.handle("GET "+p+"virtual-devices", "virtual.list", s.listVirtual)
	s.handle("DELETE "+p+"virtual-devices", "virtual.delete", s.deleteVirtual)

	s.handle("POST "+p+"mfa/enable", "mfa.enable", s.enable)
	s.handle("POST "+p+"mfa/check", "mfa.check", s.check)
	s.handle("POST "+p+"mfa/resync", "mfa.resync", s.resync)
	s.handle("POST "+p+"mfa/deactivate", "mfa.deactivate", s.deactivate)
	s.handle("POST "+p+"mfa/lost", "mfa.lost", s.lost)
	s.handle("POST "+p+"mfa/unlock", "mfa.unlock", s.unlock)
	s.handle("GET "+p+"mfa/device", "mfa.device", s.getDevice)
	s.handle("POST "+p+"mfa/tags", "mfa.tag", s.tag)
	s.handle("POST "+p+"mfa/untag", "mfa.untag", s.untag)

	s.handle("GET "+p+"audit", "audit", s.audit)

	// Anything else under /api/: a JSON 405 when the path exists with
	// another method, else a JSON 404 (not the mux's plain text).
	s.mux.Handle("/api/", s.instrument("unknown", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if allow := allowed(s.mux, r); allow != "" {
			w.Header().Set("Allow", allow)
			writeJSON(w, http.StatusMethodNotAllowed, ErrorBody{Error: ErrorDetail{Code: verify.EINVALID, Message: "method " + truncate(r.Method) + " not allowed; use " + allow}})
			return
		}
		s.writeError(w, r, verify.Errorf(verify.ENOTFOUND, "no such endpoint: %s %s", truncate(r.Method), truncate(r.URL.Path)))
	})))
}

// handle registers an authenticated route.
func (s *Server) handle(pattern, route string, fn func(w http.ResponseWriter, r *http.Request) error) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, err := s.authenticate(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if err := fn(w, r.WithContext(ctx)); err != nil {
			s.writeError(w, r, err)
		}
	})
	s.mux.Handle(pattern, s.instrument(route, h))
}

func allowed(mux *http.ServeMux, r *http.Request) string {
	var out []string
	for _, m := range []string{"GET", "POST", "PUT", "DELETE"} {
		r2 := r.Clone(r.Context())
		r2.Method = m
		if _, pat := mux.Handler(r2); strings.HasPrefix(pat, m+" ") {
			out = append(out, m)
		}
	}
	return strings.Join(out, ", ")
}

// authenticate checks the bearer token and puts the actor on the context.
func (s *Server) authenticate(r *http.Request) (context.Context, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, verify.Errorf(verify.EUNAUTHORIZED, "missing Authorization: Bearer token")
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return nil, verify.Errorf(verify.EUNAUTHORIZED, "Authorization header must be \"Bearer TOKEN\"")
	}
	tok = strings.TrimSpace(tok)
	if len(tok) > maxTokenLen {
		return nil, verify.Errorf(verify.EUNAUTHORIZED, "invalid API token")
	}
	now := s.now()
	name, ok := s.auth.get(tok, now)
	if !ok {
		var err error
		name, err = s.v.CheckAPIToken(r.Context(), tok)
		if err != nil {
			if verify.CodeOf(err) == verify.EINTERNAL {
				return nil, err
			}
			return nil, verify.Errorf(verify.EUNAUTHORIZED, "invalid API token")
		}
		s.auth.put(tok, name, now)
	}
	return verify.WithActor(r.Context(), verify.Actor{Name: name, Source: "api"}), nil
}

// Health answers GET /healthz: 200 {"status":"ok"}. It needs no token.
func (s *Server) Health() http.Handler {
	return s.instrument("healthz", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeJSON(w, http.StatusMethodNotAllowed, ErrorBody{Error: ErrorDetail{Code: verify.EINVALID, Message: "use GET"}})
			return
		}
		writeJSON(w, http.StatusOK, Health{Status: "ok", Time: s.now().UTC()})
	}))
}

// Metrics returns the metrics set (an http.Handler for GET /metrics).
func (s *Server) Metrics() *Metrics { return s.metrics }

// ServeHTTP serves the /api/ tree.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (sw *statusWriter) WriteHeader(code int) {
	if sw.status == 0 {
		sw.status = code
	}
	sw.ResponseWriter.WriteHeader(code)
}

func (sw *statusWriter) Write(b []byte) (int, error) {
	if sw.status == 0 {
		sw.status = http.StatusOK
	}
	return sw.ResponseWriter.Write(b)
}

// instrument counts and times a route and turns a panic into a logged 500.
func (s *Server) instrument(route string, h http.Handler) http.Handler {
	rs := s.metrics.route(route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.metrics.inFlight.Add(1)
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.metrics.panics.Add(1)
				s.log.ErrorContext(r.Context(), "panic serving request", "route", route, "method", r.Method, "panic", p)
				if sw.status == 0 {
					writeJSON(sw, http.StatusInternalServerError, ErrorBody{Error: ErrorDetail{Code: verify.EINTERNAL, Message: "internal error"}})
				}
			}
			s.metrics.inFlight.Add(-1)
			st := sw.status
			if st == 0 {
				st = http.StatusOK
			}
			d := time.Since(start)
			rs.observe(d, st)
			if s.log.Enabled(r.Context(), slog.LevelDebug) {
				s.log.DebugContext(r.Context(), "request", "route", route, "method", r.Method, "status", st, "duration", d)
			}
		}()
		h.ServeHTTP(sw, r)
	})
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}
