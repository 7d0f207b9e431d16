// Package console is the verifier's web console, served by tokenlab serve
// under /console: a person signs in with a user name and password, then a
// second factor — a code from any of their TOTP devices, or a FIDO
// security key (WebAuthn, through github.com/go-webauthn/webauthn) — and
// manages their MFA devices on the "Security credentials" page, as a cloud
// console's IAM pages do. Security keys and passkeys are registered only
// here: the JSON API and the IAM endpoint refuse to enable them.
//
// Pages are rendered on the server (html/template); a little plain
// JavaScript calls navigator.credentials for the WebAuthn ceremonies,
// which go through JSON endpoints that native clients use as well
// (package consoleclient, "tokenlab fido enroll" and "tokenlab fido login").
//
//	c, err := console.New(svc, console.Config{})
//	mux.Handle("/console/", c)
//
// Sessions live in the server's memory; the cookie (HttpOnly, SameSite=Strict,
// Secure unless the console is reached over plain HTTP on a host other than
// localhost or a loopback address) holds only a random id. Every POST carries
// the session's CSRF token (a form field, or the X-CSRF-Token header) and,
// when the browser sends one, an Origin equal to the console's. Sessions
// end after [Config.IdleTimeout] without a request, [Config.MaxAge] in all,
// or [Config.MFATimeout] between password and second factor. Failed
// sign-ins are throttled per user name (5) and per client address (20).
// Refusals are audited through [Recorder].
//
// The WebAuthn relying party ID and origin come from [Config.Origin]; when
// it is empty they follow the request's Host, and a console reached at a
// loopback IP address (127.0.0.1:8080) redirects to localhost:8080, since
// an IP address cannot be a relying party ID.
package console

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Prefix is the path the console is served under.
const Prefix = "/console"

// CookieName is the session cookie's name.
const CookieName = "tokenlab_console"

// CookieMode says when the session cookie is marked Secure.
type CookieMode int

const (
	// CookiesAuto: Secure over TLS (or behind a proxy saying
	// X-Forwarded-Proto: https) and on localhost and loopback addresses,
	// which browsers treat as secure contexts; not Secure over plain HTTP
	// to any other host, where a browser would drop a Secure cookie.
	CookiesAuto CookieMode = iota
	CookiesSecure
	CookiesInsecure
)

// Config tunes a [Console]. Zero values take the defaults named below.
type Config struct {
	// Origin is the console's web origin (https://mfa.example.com); its
	// host is the WebAuthn relying party ID. Default: the request's.
	Origin string
	// RPName is the relying party's name shown by authenticators.
	// Default "tokenlab".
	RPName string
	// Account is the IAM account id in FIDO device ARNs. Default: the
	// verifier's (verify.Service.Config), else token.DefaultAccount.
	Account string
	// FIDO keeps the FIDO credentials. Default: the verifier when it
	// implements FIDOStore, else an in-memory store (lost on restart).
	FIDO FIDOStore
	// Recorder receives audit events. Default: the verifier when it
	// implements Recorder, else the events are only logged.
	Recorder Recorder
	// Cookies says when the cookie is Secure. Default CookiesAuto.
	Cookies CookieMode
	// IdleTimeout ends a session after so long without a request
	// (default 15 min); MaxAge ends it in any case (default 12 h);
	// MFATimeout is the time allowed between password and second factor
	// (default 5 min).
	IdleTimeout time.Duration
	MaxAge      time.Duration
	MFATimeout  time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger receives operational messages (default: discard).
	Logger *slog.Logger
}

// Console is the web console, an http.Handler for [Prefix] and below.
type Console struct {
	v        verify.Verifier
	cfg      Config
	fido     FIDOStore
	rec      Recorder
	log      *slog.Logger
	sessions sessions
	throttle *throttle
	pages    map[string]*template.Template
	mux      *http.ServeMux

	waMu sync.Mutex
	wa   map[string]*webauthn.WebAuthn // by origin
}

// New returns a console over v.
func New(v verify.Verifier, cfg Config) (*Console, error) {
	if v == nil {
		return nil, errors.New("console: nil verifier")
	}
	if cfg.RPName == "" {
		cfg.RPName = "tokenlab"
	}
	if cfg.Account == "" {
		if s, ok := v.(interface{ Config() verify.Config }); ok {
			cfg.Account = s.Config().Account
		}
		if cfg.Account == "" {
			cfg.Account = token.DefaultAccount
		}
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 15 * time.Minute
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 12 * time.Hour
	}
	if cfg.MFATimeout <= 0 {
		cfg.MFATimeout = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Origin != "" {
		u, err := url.Parse(cfg.Origin)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			return nil, fmt.Errorf("console: origin %q: want scheme://host[:port], as https://mfa.example.com", cfg.Origin)
		}
		if net.ParseIP(u.Hostname()) != nil {
			return nil, fmt.Errorf("console: origin %q: a WebAuthn relying party needs a host name, not an IP address (use localhost on this machine)", cfg.Origin)
		}
		cfg.Origin = u.Scheme + "://" + u.Host
	}
	c := &Console{v: v, cfg: cfg, log: cfg.Logger, throttle: newThrottle(), wa: map[string]*webauthn.WebAuthn{}}
	c.fido = cfg.FIDO
	if c.fido == nil {
		if f, ok := v.(FIDOStore); ok {
			c.fido = f
		} else {
			c.fido = NewMemoryFIDO(v, cfg.Account)
			c.log.Warn("console: the verifier keeps no FIDO credentials; security keys are kept in memory until restart")
		}
	}
	c.rec = cfg.Recorder
	if c.rec == nil {
		if r, ok := v.(Recorder); ok {
			c.rec = r
		}
	}
	var err error
	if c.pages, err = parsePages(); err != nil {
		return nil, err
	}
	c.routes()
	return c, nil
}

func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	funcs := template.FuncMap{
		"time": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04:05 UTC")
		},
		"join": strings.Join,
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if base == "layout" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", n, err)
		}
		pages[base] = t
	}
	return pages, nil
}

// ---- request plumbing

// req is one request's context: the session (nil before one exists) and
// where the console is for this request.
type req struct {
	w      http.ResponseWriter
	r      *http.Request
	ss     *session
	origin string // scheme://host[:port]
	rpID   string
	secure bool // the cookie's Secure attribute
}

type handler func(q *req)

// need is how far a route's session must have come.
type need int

const (
	needNone     need = iota // sign-in form: a session is made if missing
	needMFA                  // password accepted
	needSignedIn             // fully signed in
	needAdmin                // signed in as an administrator
)

func (c *Console) routes() {
	m := http.NewServeMux()
	h := func(pattern string, n need, f handler) { m.Handle(pattern, c.wrap(n, f)) }
	m.Handle("GET "+Prefix+"/static/", http.StripPrefix(Prefix, http.FileServerFS(staticFS)))
	h("GET "+Prefix+"/{$}", needNone, c.home)
	h("GET "+Prefix+"/signin", needNone, c.signinPage)
	h("POST "+Prefix+"/signin", needNone, c.signin)
	h("GET "+Prefix+"/mfa", needMFA, c.mfaPage)
	h("POST "+Prefix+"/mfa", needMFA, c.mfaCode)
	h("POST "+Prefix+"/webauthn/login/begin", needMFA, c.loginBegin)
	h("POST "+Prefix+"/webauthn/login/finish", needMFA, c.loginFinish)
	h("POST "+Prefix+"/signout", needNone, c.signout)
	h("GET "+Prefix+"/security-credentials", needSignedIn, c.credentialsPage)
	h("GET "+Prefix+"/mfa/assign", needSignedIn, c.assignPage)
	h("POST "+Prefix+"/mfa/assign", needSignedIn, c.assignChoose)
	h("GET "+Prefix+"/mfa/assign/fido", needSignedIn, c.assignFIDOPage)
	h("POST "+Prefix+"/webauthn/register/begin", needSignedIn, c.registerBegin)
	h("POST "+Prefix+"/webauthn/register/finish", needSignedIn, c.registerFinish)
	h("GET "+Prefix+"/mfa/assign/virtual", needSignedIn, c.assignVirtualPage)
	h("GET "+Prefix+"/mfa/qr.png", needSignedIn, c.qrPNG)
	h("POST "+Prefix+"/mfa/assign/virtual", needSignedIn, c.assignVirtual)
	h("GET "+Prefix+"/mfa/assign/hardware", needSignedIn, c.assignHardwarePage)
	h("POST "+Prefix+"/mfa/assign/hardware", needSignedIn, c.assignHardware)
	h("POST "+Prefix+"/mfa/remove", needSignedIn, c.remove)
	h("GET "+Prefix+"/mfa/resync", needSignedIn, c.resyncPage)
	h("POST "+Prefix+"/mfa/resync", needSignedIn, c.resync)
	h("GET "+Prefix+"/admin/users", needAdmin, c.adminUsers)
	h("GET "+Prefix+"/admin/inventory", needAdmin, c.adminInventory)
	h("GET "+Prefix+"/admin/audit", needAdmin, c.adminAudit)
	h("GET "+Prefix+"/admin/users/{name}", needAdmin, c.adminUser)
	h("POST "+Prefix+"/admin/lost", needAdmin, c.adminLost)
	h("POST "+Prefix+"/admin/unlock", needAdmin, c.adminUnlock)
	c.mux = m
}

// ServeHTTP serves the console.
func (c *Console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
	if r.URL.Path == Prefix {
		http.Redirect(w, r, Prefix+"/", http.StatusFound)
		return
	}
	c.mux.ServeHTTP(w, r)
}

// where works out the console's origin and relying party ID for r.
func (c *Console) where(r *http.Request) (origin, rpID string, secure bool, redirect string) {
	tls := r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
	if c.cfg.Origin != "" {
		u, _ := url.Parse(c.cfg.Origin)
		origin, rpID = c.cfg.Origin, u.Hostname()
		secure = u.Scheme == "https" || isLoopbackName(rpID)
	} else {
		scheme := "http"
		if tls {
			scheme = "https"
		}
		host := r.Host
		hn, port, err := net.SplitHostPort(host)
		if err != nil {
			hn, port = host, ""
		}
		if ip := net.ParseIP(strings.Trim(hn, "[]")); ip != nil && ip.IsLoopback() && r.Method == http.MethodGet {
			loc := "localhost"
			if port != "" {
				loc += ":" + port
			}
			return "", "", false, scheme + "://" + loc + r.URL.RequestURI()
		}
		origin, rpID = scheme+"://"+host, strings.ToLower(hn)
		secure = tls || isLoopbackName(rpID)
	}
	switch c.cfg.Cookies {
	case CookiesSecure:
		secure = true
	case CookiesInsecure:
		secure = false
	}
	return origin, rpID, secure, ""
}

func isLoopbackName(h string) bool {
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}

// wrap loads the session, checks its expiry, the CSRF token and origin of
// POSTs and the stage the route needs, then runs f with the session locked.
func (c *Console) wrap(n need, f handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin, rpID, secure, redirect := c.where(r)
		if redirect != "" {
			http.Redirect(w, r, redirect, http.StatusFound)
			return
		}
		q := &req{w: w, r: r, origin: origin, rpID: rpID, secure: secure}
		now := c.cfg.Now()
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		ended := ""
		if ck, err := r.Cookie(CookieName); err == nil && ck.Value != "" {
			if q.ss = c.sessions.get(ck.Value); q.ss == nil {
				ended = "Your console session has ended; sign in again."
			}
		}
		if q.ss != nil {
			q.ss.mu.Lock()
			defer q.ss.mu.Unlock()
			if why := c.expiry(q.ss, now); why != "" {
				c.sessions.drop(q.ss.id)
				if q.ss.user != "" { // an anonymous session is no one's
					c.audit(r.Context(), "console-session", q.ss.user, "", "refused", "expired")
				}
				q.ss, ended = nil, why
			}
		}
		if ended != "" && (n != needNone || r.Method == http.MethodPost) {
			c.expired(q, ended)
			return
		}
		if r.Method == http.MethodPost {
			if !c.sameOrigin(q) {
				c.audit(r.Context(), "console-csrf", q.user(), "", "refused", "origin")
				c.fail(q, http.StatusForbidden, "The request came from another web site (its Origin header is not this console's); it was refused.")
				return
			}
			tok := r.Header.Get("X-CSRF-Token")
			if tok == "" {
				tok = r.PostFormValue("csrf")
			}
			if q.ss == nil || !q.ss.csrfOK(tok) {
				reason := "csrf-missing"
				if tok != "" {
					reason = "csrf-mismatch"
				}
				c.audit(r.Context(), "console-csrf", q.user(), "", "refused", reason)
				c.fail(q, http.StatusForbidden, "The form's CSRF token is missing or does not match this session; reload the page and try again.")
				return
			}
		}
		if q.ss == nil {
			if n != needNone {
				c.toSignin(q)
				return
			}
			q.ss = c.sessions.create(now)
			q.ss.mu.Lock()
			defer q.ss.mu.Unlock()
			q.ss.flash = ended
			c.setCookie(q)
			c.sessions.sweep(now.Add(-c.cfg.IdleTimeout))
		}
		q.ss.lastSeen = now
		switch {
		case n == needMFA && q.ss.stage != stageMFA:
			c.toSignin(q)
			return
		case (n == needSignedIn || n == needAdmin) && q.ss.stage != stageSignedIn:
			c.toSignin(q)
			return
		case n == needAdmin && !q.ss.admin:
			c.audit(r.Context(), "console-admin", q.ss.user, "", "refused", "forbidden")
			c.fail(q, http.StatusForbidden, "Only administrators can see this page.")
			return
		}
		ctx := verify.WithActor(r.Context(), verify.Actor{Name: q.ss.user, Source: "console"})
		q.r = r.WithContext(ctx)
		f(q)
	})
}

// expiry says why ss has ended ("" if it has not).
func (c *Console) expiry(ss *session, now time.Time) string {
	switch {
	case now.Sub(ss.lastSeen) > c.cfg.IdleTimeout:
		return "Your session expired after " + c.cfg.IdleTimeout.String() + " without activity; sign in again."
	case now.Sub(ss.created) > c.cfg.MaxAge:
		return "Your session reached its maximum length; sign in again."
	case ss.stage == stageMFA && now.Sub(ss.passedAt) > c.cfg.MFATimeout:
		return "The time to give a second factor ran out; sign in again."
	}
	return ""
}

// sameOrigin checks the Origin header of a POST when the browser sent one.
func (c *Console) sameOrigin(q *req) bool {
	o := q.r.Header.Get("Origin")
	if o == "" {
		return true // native clients; the CSRF token still applies
	}
	return strings.EqualFold(o, q.origin)
}

func (q *req) user() string {
	if q.ss == nil {
		return ""
	}
	return q.ss.user
}

func (q *req) wantsJSON() bool {
	return strings.Contains(q.r.Header.Get("Accept"), "application/json") || strings.HasPrefix(q.r.Header.Get("Content-Type"), "application/json")
}

func (c *Console) setCookie(q *req) {
	http.SetCookie(q.w, &http.Cookie{Name: CookieName, Value: q.ss.id, Path: Prefix + "/", HttpOnly: true,
		Secure: q.secure, SameSite: http.SameSiteStrictMode, MaxAge: int(c.cfg.MaxAge / time.Second)})
}

func (c *Console) clearCookie(q *req) {
	http.SetCookie(q.w, &http.Cookie{Name: CookieName, Value: "", Path: Prefix + "/", HttpOnly: true,
		Secure: q.secure, SameSite: http.SameSiteStrictMode, MaxAge: -1})
}

// expired answers a request whose session has ended.
func (c *Console) expired(q *req, why string) {
	c.clearCookie(q)
	if q.r.Method == http.MethodPost || q.wantsJSON() {
		c.fail(q, http.StatusUnauthorized, why)
		return
	}
	http.Redirect(q.w, q.r, Prefix+"/signin?expired=1", http.StatusSeeOther)
}

func (c *Console) toSignin(q *req) {
	if q.r.Method == http.MethodPost || q.wantsJSON() {
		c.fail(q, http.StatusUnauthorized, "Sign in first.")
		return
	}
	http.Redirect(q.w, q.r, Prefix+"/signin", http.StatusSeeOther)
}

// fail answers with an error: JSON for the ceremony endpoints and native
// clients, else the error page.
func (c *Console) fail(q *req, status int, msg string) {
	if q.wantsJSON() {
		writeJSON(q.w, status, map[string]string{"error": msg})
		return
	}
	c.render(q, status, "error", &page{Title: "Error", Error: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// page is what every template gets.
type page struct {
	Title    string
	User     string
	Admin    bool
	SignedIn bool
	CSRF     string
	Flash    string
	Error    string
	Data     any
}

func (c *Console) render(q *req, status int, name string, p *page) {
	if q.ss != nil {
		p.CSRF = q.ss.csrf
		p.User = q.ss.user
		p.Admin = q.ss.admin
		p.SignedIn = q.ss.stage == stageSignedIn
		if p.Flash == "" {
			p.Flash, q.ss.flash = q.ss.flash, ""
		}
	}
	t := c.pages[name]
	if t == nil {
		http.Error(q.w, "console: no page "+name, http.StatusInternalServerError)
		return
	}
	q.w.Header().Set("Content-Type", "text/html; charset=utf-8")
	q.w.WriteHeader(status)
	if err := t.ExecuteTemplate(q.w, "layout", p); err != nil {
		c.log.Error("console: rendering", "page", name, "err", err.Error())
	}
}

// audit records an event through the Recorder (or the log).
func (c *Console) audit(ctx context.Context, action, user, device, outcome, reason string) {
	a := verify.ActorFrom(ctx)
	if a.Name == "" {
		a.Name = user
	}
	ev := verify.AuditEvent{Time: c.cfg.Now().UTC(), Actor: a.Name, Action: action, User: user, Device: device, Outcome: outcome, Reason: reason, Source: "console"}
	if c.rec != nil {
		if err := c.rec.RecordAudit(context.WithoutCancel(ctx), ev); err != nil {
			c.log.Error("console: audit write failed", "action", action, "err", err.Error())
		}
		return
	}
	c.log.Info("console: audit", "action", action, "user", user, "device", device, "outcome", outcome, "reason", reason)
}

// message is what a verifier error says to a person.
func message(err error) string {
	var e *verify.Error
	if errors.As(err, &e) {
		if e.Code == verify.EINTERNAL {
			return "Something went wrong on the server; try again."
		}
		return e.Message
	}
	return "Something went wrong on the server; try again."
}

func statusOf(err error) int {
	switch verify.CodeOf(err) {
	case verify.EINVALID:
		return http.StatusBadRequest
	case verify.ENOTFOUND:
		return http.StatusNotFound
	case verify.ECONFLICT, verify.ELIMIT:
		return http.StatusConflict
	case verify.ECODE, verify.EFORBIDDEN:
		return http.StatusForbidden
	case verify.ELOCKED:
		return http.StatusTooManyRequests
	case verify.EUNAUTHORIZED:
		return http.StatusUnauthorized
	}
	return http.StatusInternalServerError
}
