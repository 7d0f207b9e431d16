// Package sigv4 checks AWS Signature Version 4 on incoming requests, the way
// the IAM and STS Query endpoints do for requests signed in the
// Authorization header (IAM-SPEC.md §3):
//
//	Authorization: AWS4-HMAC-SHA256 Credential=AKID/20261129/us-east-1/iam/aws4_request,
//	    SignedHeaders=content-type;host;x-amz-date, Signature=<64 hex>
//	X-Amz-Date: 20261129T012759Z
//
// The flow is [Parse] (syntax only, no secret needed), then
// [Request.CheckTime] against the server clock, then, once the caller has
// found the secret for [Request.AccessKeyID], [Request.Verify] over the raw
// body. The canonical request is rebuilt from the SignedHeaders list the
// client sent, never from a fixed list: the AWS CLI and the Go SDK sign
// different headers.
//
// A request may instead carry its signature in the URL query (a presigned
// request, "query-string authentication"):
//
//	POST /?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKID%2F20261129%2Fus-east-1%2Fsts%2Faws4_request
//	    &X-Amz-Date=20261129T012759Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature=<64 hex>
//
// [Parse] reads either form (not both at once). For a presigned request the
// canonical query string holds every query parameter but X-Amz-Signature,
// and the payload hash is the SHA-256 of the body, as with the header:
// UNSIGNED-PAYLOAD is an Amazon S3 convention that IAM and STS do not
// share. X-Amz-Expires (1 to 604800 seconds) is optional; when present,
// [Request.CheckTime] refuses the request once it has passed, on top of the
// clock-skew rule that holds for every request.
//
// Errors are *[Error] values whose Code is the AWS error code a real
// endpoint answers with (IncompleteSignature, SignatureDoesNotMatch,
// MissingAuthenticationToken).
package sigv4

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Algorithm is the only signing algorithm accepted.
const Algorithm = "AWS4-HMAC-SHA256"

// TimeFormat is the ISO 8601 basic format of X-Amz-Date.
const TimeFormat = "20060102T150405Z"

// DefaultSkew is how far a request's time may be from the server's clock
// (AWS allows 15 minutes either way).
const DefaultSkew = 15 * time.Minute

// AWS error codes the functions of this package return in [Error.Code].
const (
	CodeMissingAuth       = "MissingAuthenticationToken" // no Authorization header at all
	CodeIncomplete        = "IncompleteSignature"        // the header is there but malformed
	CodeSignatureMismatch = "SignatureDoesNotMatch"      // wrong signature, scope or time
)

// MismatchMessage is the message AWS gives with SignatureDoesNotMatch when
// the signature itself is wrong.
const MismatchMessage = "The request signature we calculated does not match the signature you provided. " +
	"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."

// Error is a SigV4 failure; Code is the AWS error code, Message the text
// AWS sends with it.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return "sigv4: " + e.Code + ": " + e.Message }

func errorf(code, format string, a ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, a...)}
}

// Scope is the credential scope: DATE/REGION/SERVICE/aws4_request.
type Scope struct {
	Date    string // YYYYMMDD
	Region  string
	Service string
}

func (s Scope) String() string { return s.Date + "/" + s.Region + "/" + s.Service + "/aws4_request" }

// Request holds the SigV4 parameters of one request, as parsed from its
// headers or, for a presigned request, its query.
type Request struct {
	AccessKeyID   string
	Scope         Scope
	SignedHeaders []string // lower case, in the order sent (which must be sorted)
	Signature     []byte   // 32 bytes
	Time          time.Time
	AmzDate       string // X-Amz-Date as sent (or Date in basic format), for the string to sign
	SecurityToken string // X-Amz-Security-Token, for session credentials

	// Presigned is set when the signature came in the query string.
	Presigned bool
	// Expires is X-Amz-Expires of a presigned request, zero when absent.
	Expires time.Duration

	signedRaw string // SignedHeaders as sent
}

// Query parameters of a presigned request (query-string authentication).
const (
	QueryAlgorithm     = "X-Amz-Algorithm"
	QueryCredential    = "X-Amz-Credential"
	QueryDate          = "X-Amz-Date"
	QueryExpires       = "X-Amz-Expires"
	QuerySignedHeaders = "X-Amz-SignedHeaders"
	QuerySignature     = "X-Amz-Signature"
	QuerySecurityToken = "X-Amz-Security-Token"
)

// MaxExpires is the longest X-Amz-Expires accepted: seven days, as long
// as a signing key (bound to one date) may be used.
const MaxExpires = 7 * 24 * time.Hour

// IsAuthParam reports whether a query parameter is one of those that carry
// a presigned request's signature, and so no parameter of the action.
func IsAuthParam(name string) bool {
	switch name {
	case QueryAlgorithm, QueryCredential, QueryDate, QueryExpires, QuerySignedHeaders, QuerySignature, QuerySecurityToken:
		return true
	}
	return false
}

// maxAuthHeader bounds the Authorization header we look at.
const maxAuthHeader = 8 << 10

// Parse reads the SigV4 parameters of r: the Authorization and X-Amz-Date
// headers or, when there is no Authorization header and the query carries
// X-Amz-* authentication parameters, those (a presigned request). It checks
// syntax only; see [Request.CheckTime] and [Request.Verify].
func Parse(r *http.Request) (*Request, error) {
	auth := r.Header.Get("Authorization")
	presigned := hasAuthQuery(r.URL.RawQuery)
	switch {
	case auth != "" && presigned:
		return nil, errorf(CodeIncomplete, "Only one authentication method is allowed: the Authorization header or the X-Amz-Algorithm query parameters, not both.")
	case presigned:
		return parseQuery(r)
	case auth == "":
		return nil, errorf(CodeMissingAuth, "Request is missing Authentication Token")
	}
	if len(auth) > maxAuthHeader {
		return nil, errorf(CodeIncomplete, "Authorization header is too long.")
	}
	alg, rest, _ := strings.Cut(auth, " ")
	if alg != Algorithm {
		return nil, errorf(CodeIncomplete, "Unsupported AWS 'algorithm': '%s'.", clip(alg))
	}
	var cred, signed, sig string
	var haveCred, haveSigned, haveSig bool
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return nil, errorf(CodeIncomplete, "Authorization header requires each component to be of the form name=value. Authorization=%s", clip(auth))
		}
		switch k {
		case "Credential":
			cred, haveCred = v, true
		case "SignedHeaders":
			signed, haveSigned = v, true
		case "Signature":
			sig, haveSig = v, true
		}
	}
	var missing []string
	if !haveCred {
		missing = append(missing, "Authorization header requires 'Credential' parameter.")
	}
	if !haveSig {
		missing = append(missing, "Authorization header requires 'Signature' parameter.")
	}
	if !haveSigned {
		missing = append(missing, "Authorization header requires 'SignedHeaders' parameter.")
	}
	amzDate := r.Header.Get("X-Amz-Date")
	if amzDate == "" {
		amzDate = r.Header.Get("Date")
	}
	if amzDate == "" {
		missing = append(missing, "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.")
	}
	if len(missing) > 0 {
		return nil, errorf(CodeIncomplete, "%s Authorization=%s", strings.Join(missing, " "), clip(auth))
	}
	if signed == "" {
		return nil, errorf(CodeIncomplete, "Authorization header requires 'SignedHeaders' parameter. Authorization=%s", clip(auth))
	}
	req := &Request{SecurityToken: r.Header.Get("X-Amz-Security-Token")}
	if err := req.fill(cred, signed, sig, amzDate, "Authorization="+clip(auth), true); err != nil {
		return nil, err
	}
	return req, nil
}

// hasAuthQuery reports whether a raw query holds any of the parameters of
// query-string authentication (X-Amz-Algorithm, -Credential, -Signature,
// -SignedHeaders), escaped or not.
func hasAuthQuery(raw string) bool {
	if !strings.Contains(raw, "Amz") {
		return false
	}
	for part := range strings.SplitSeq(raw, "&") {
		k, _, _ := strings.Cut(part, "=")
		if uk, err := url.QueryUnescape(k); err == nil {
			k = uk
		}
		switch k {
		case QueryAlgorithm, QueryCredential, QuerySignature, QuerySignedHeaders:
			return true
		}
	}
	return false
}

// parseQuery reads the parameters of a presigned request.
func parseQuery(r *http.Request) (*Request, error) {
	if len(r.URL.RawQuery) > maxQuery {
		return nil, errorf(CodeIncomplete, "The query string is too long.")
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errorf(CodeIncomplete, "The query string is malformed: %s", clip(err.Error()))
	}
	var missing []string
	for _, name := range []string{QueryAlgorithm, QueryCredential, QuerySignature, QuerySignedHeaders, QueryDate} {
		switch len(q[name]) {
		case 0:
			missing = append(missing, "'"+name+"'")
		case 1:
		default:
			return nil, errorf(CodeIncomplete, "AWS query-string parameter '%s' is given %d times.", name, len(q[name]))
		}
	}
	if len(missing) > 0 {
		return nil, errorf(CodeIncomplete, "AWS query-string parameters must include %s. Re-examine the query-string parameters.", strings.Join(missing, ", "))
	}
	if len(q[QueryExpires]) > 1 || len(q[QuerySecurityToken]) > 1 {
		return nil, errorf(CodeIncomplete, "AWS query-string parameters X-Amz-Expires and X-Amz-Security-Token may be given once each.")
	}
	if alg := q.Get(QueryAlgorithm); alg != Algorithm {
		return nil, errorf(CodeIncomplete, "Unsupported AWS 'algorithm': '%s'.", clip(alg))
	}
	req := &Request{Presigned: true, SecurityToken: q.Get(QuerySecurityToken)}
	if e, ok := q[QueryExpires]; ok {
		n, err := strconv.ParseInt(e[0], 10, 64)
		if err != nil || n < 1 || n > int64(MaxExpires/time.Second) {
			return nil, errorf(CodeIncomplete, "X-Amz-Expires must be a whole number of seconds from 1 to %d (seven days), not '%s'.", int64(MaxExpires/time.Second), clip(e[0]))
		}
		req.Expires = time.Duration(n) * time.Second
	}
	date := q.Get(QueryDate)
	if _, err := time.Parse(TimeFormat, date); err != nil { // no HTTP-date form in a query
		return nil, errorf(CodeIncomplete, "X-Amz-Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", clip(date))
	}
	if err := req.fill(q.Get(QueryCredential), q.Get(QuerySignedHeaders), q.Get(QuerySignature), date, "Re-examine the query-string parameters.", false); err != nil {
		return nil, err
	}
	return req, nil
}

// maxQuery bounds the query string of a presigned request.
const maxQuery = 16 << 10

// fill sets the fields common to both forms from the credential, signed
// headers, signature and date as sent; where names the source in messages.
func (req *Request) fill(cred, signed, sig, amzDate, where string, httpDate bool) error {
	req.AmzDate = amzDate
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[0] == "" {
		return errorf(CodeIncomplete, "Credential should be scoped to a valid region. %s", where)
	}
	req.AccessKeyID = parts[0]
	req.Scope = Scope{Date: parts[1], Region: parts[2], Service: parts[3]}
	if parts[4] != "aws4_request" {
		return errorf(CodeSignatureMismatch, "Credential should be scoped with a valid terminator: 'aws4_request', not '%s'.", clip(parts[4]))
	}
	if req.Scope.Region == "" {
		return errorf(CodeSignatureMismatch, "Credential should be scoped to a valid region.")
	}

	if signed == "" {
		return errorf(CodeIncomplete, "SignedHeaders must not be empty. %s", where)
	}
	req.signedRaw = signed
	req.SignedHeaders = strings.Split(signed, ";")
	haveHost := false
	for i, h := range req.SignedHeaders {
		if h == "" || h != strings.ToLower(h) || (i > 0 && req.SignedHeaders[i-1] >= h) {
			return errorf(CodeSignatureMismatch, "SignedHeaders must be lower case, sorted and without duplicates: %s", clip(signed))
		}
		if h == "host" {
			haveHost = true
		}
	}
	if !haveHost {
		return errorf(CodeSignatureMismatch, "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")
	}

	b, err := hex.DecodeString(sig)
	if err != nil || len(b) != sha256.Size {
		return errorf(CodeSignatureMismatch, "%s", MismatchMessage)
	}
	req.Signature = b

	t, err := time.Parse(TimeFormat, amzDate)
	if err != nil && httpDate {
		// An HTTP Date header: the string to sign still has the basic format.
		t, err = http.ParseTime(amzDate)
		req.AmzDate = t.UTC().Format(TimeFormat)
	}
	if err != nil {
		return errorf(CodeIncomplete, "Date must be in ISO-8601 'basic format'. Got '%s'. See http://en.wikipedia.org/wiki/ISO_8601", clip(amzDate))
	}
	req.Time = t.UTC()
	// AmzDate is in the basic format by now: its first 8 bytes are the date.
	if req.AmzDate[:8] != req.Scope.Date {
		return errorf(CodeSignatureMismatch, "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '%s' != '%s', from '%s'.",
			clip(req.Scope.Date), req.Time.Format("20060102"), clip(amzDate))
	}
	if len(req.SecurityToken) > maxAuthHeader {
		return errorf(CodeIncomplete, "X-Amz-Security-Token is too long.")
	}
	return nil
}

// CheckTime refuses a request whose time is more than skew away from now,
// with the message AWS gives. The SDKs read the response's Date header to
// correct their clock and retry.
//
// A presigned request with X-Amz-Expires must, in addition, arrive no
// later than X-Amz-Date plus X-Amz-Expires. The skew rule still holds for
// it, so a presigned request lives at most skew (15 minutes) whatever its
// X-Amz-Expires: STS, the one Query service whose presigned requests
// clients use (GetCallerIdentity), was observed to do the same.
func (q *Request) CheckTime(now time.Time, skew time.Duration) error {
	now = now.UTC()
	switch {
	case q.Expires > 0 && now.After(q.Time.Add(q.Expires)):
		return errorf(CodeSignatureMismatch, "Signature expired: %s is now earlier than %s (%s - %d sec. of X-Amz-Expires.)",
			q.Time.Format(TimeFormat), now.Add(-q.Expires).Format(TimeFormat), now.Format(TimeFormat), q.Expires/time.Second)
	case q.Time.Before(now.Add(-skew)):
		return errorf(CodeSignatureMismatch, "Signature expired: %s is now earlier than %s (%s - %s.)",
			q.Time.Format(TimeFormat), now.Add(-skew).Format(TimeFormat), now.Format(TimeFormat), minutes(skew))
	case q.Time.After(now.Add(skew)):
		return errorf(CodeSignatureMismatch, "Signature not yet current: %s is still later than %s (%s + %s.)",
			q.Time.Format(TimeFormat), now.Add(skew).Format(TimeFormat), now.Format(TimeFormat), minutes(skew))
	}
	return nil
}

func minutes(d time.Duration) string {
	if d%time.Minute == 0 {
		return strconv.Itoa(int(d/time.Minute)) + " min"
	}
	return d.String()
}

// Verify recomputes the signature of r (whose body, already read, is body)
// with secret and compares it with the one sent, in constant time.
func (q *Request) Verify(r *http.Request, body []byte, secret string) error {
	return q.VerifyKey(r, body, SigningKey(secret, q.Scope))
}

// VerifyKey is [Request.Verify] with the signing key of q.Scope already
// derived (see [KeyCache]).
func (q *Request) VerifyKey(r *http.Request, body, signingKey []byte) error {
	var sig [sha256.Size]byte
	if !hmac.Equal(q.signKey(sig[:0], r, body, signingKey), q.Signature) {
		return errorf(CodeSignatureMismatch, "%s", MismatchMessage)
	}
	return nil
}

// Sign returns the signature r should carry under q's scope, headers and
// time, signed with secret.
func (q *Request) Sign(r *http.Request, body []byte, secret string) []byte {
	return q.signKey(nil, r, body, SigningKey(secret, q.Scope))
}

// signKey appends the signature of r to out: the canonical request and
// the string to sign are built in one pooled buffer.
func (q *Request) signKey(out []byte, r *http.Request, body, signingKey []byte) []byte {
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	var hexSum [2 * sha256.Size]byte
	sum := sha256.Sum256(body)
	hex.Encode(hexSum[:], sum[:])
	skip := ""
	if q.Presigned {
		skip = QuerySignature
	}
	b := appendCanonicalRequest((*bp)[:0], r, q.SignedHeaders, q.signedRaw, hexSum[:], skip)
	sum = sha256.Sum256(b)
	hex.Encode(hexSum[:], sum[:])
	b = append(b[:0], Algorithm...)
	b = append(b, '\n')
	b = append(b, q.AmzDate...)
	b = append(b, '\n')
	b = q.Scope.appendTo(b)
	b = append(b, '\n')
	b = append(b, hexSum[:]...)
	*bp = b
	m := hmac.New(sha256.New, signingKey)
	m.Write(b)
	return m.Sum(out)
}

// bufPool holds the buffers canonical requests are built in.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func (s Scope) appendTo(b []byte) []byte {
	b = append(b, s.Date...)
	b = append(b, '/')
	b = append(b, s.Region...)
	b = append(b, '/')
	b = append(b, s.Service...)
	return append(b, "/aws4_request"...)
}

// KeyCache remembers derived signing keys. A signing key depends only on
// the secret and the scope (date, region, service), so a server whose
// clients sign many requests a day derives each key once instead of
// running four HMACs a request. It holds at most [MaxCachedKeys] keys and
// forgets them all when full. The zero value is ready to use, from any
// number of goroutines. A key stays cached after its access key is
// deleted, as the secret does in a caller that keeps it: look the access
// key up first, as Verify's callers must anyway.
type KeyCache struct {
	mu sync.Mutex
	m  map[cacheKey][]byte
}

// MaxCachedKeys bounds a [KeyCache].
const MaxCachedKeys = 4096

type cacheKey struct {
	secret string
	scope  Scope
}

// SigningKey returns [SigningKey](secret, s), derived at most once.
func (c *KeyCache) SigningKey(secret string, s Scope) []byte {
	k := cacheKey{secret, s}
	c.mu.Lock()
	key, ok := c.m[k]
	c.mu.Unlock()
	if ok {
		return key
	}
	key = SigningKey(secret, s)
	c.mu.Lock()
	if c.m == nil || len(c.m) >= MaxCachedKeys {
		c.m = make(map[cacheKey][]byte)
	}
	c.m[k] = key
	c.mu.Unlock()
	return key
}

// StringToSign is the SigV4 string to sign: algorithm, request time,
// credential scope and the hex SHA-256 of the canonical request.
func StringToSign(amzDate string, s Scope, canonicalHash string) string {
	return Algorithm + "\n" + amzDate + "\n" + s.String() + "\n" + canonicalHash
}

// SigningKey derives the signing key:
// HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request").
func SigningKey(secret string, s Scope) []byte {
	k := hmacSHA256([]byte("AWS4"+secret), s.Date)
	k = hmacSHA256(k, s.Region)
	k = hmacSHA256(k, s.Service)
	return hmacSHA256(k, "aws4_request")
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// CanonicalRequest builds the canonical request of r:
//
//	METHOD \n URI \n QUERY \n (name:value \n)* \n SIGNED;HEADERS \n PAYLOAD-HASH
//
// with the headers taken in the order of signedHeaders (lower case), their
// values trimmed, inner runs of spaces collapsed and repeated headers joined
// by commas.
func CanonicalRequest(r *http.Request, signedHeaders []string, payloadHash string) string {
	return string(appendCanonicalRequest(nil, r, signedHeaders, strings.Join(signedHeaders, ";"), []byte(payloadHash), ""))
}

// appendCanonicalRequest appends the canonical request of r to b, leaving
// the query parameter skip (X-Amz-Signature, for a presigned request) out
// of the canonical query; signedRaw is signedHeaders joined by ';'.
func appendCanonicalRequest(b []byte, r *http.Request, signedHeaders []string, signedRaw string, payloadHash []byte, skip string) []byte {
	b = append(b, r.Method...)
	b = append(b, '\n')
	b = appendCanonicalURI(b, r.URL)
	b = append(b, '\n')
	if r.URL.RawQuery != "" {
		b = append(b, canonicalQuery(r.URL.RawQuery, skip)...)
	}
	b = append(b, '\n')
	for _, h := range signedHeaders {
		b = append(b, h...)
		b = append(b, ':')
		b = appendHeaderValue(b, r, h)
		b = append(b, '\n')
	}
	b = append(b, '\n')
	b = append(b, signedRaw...)
	b = append(b, '\n')
	return append(b, payloadHash...)
}

// canonicalKeys spares the common signed headers the allocation of
// textproto.CanonicalMIMEHeaderKey.
var canonicalKeys = map[string]string{
	"amz-sdk-invocation-id": "Amz-Sdk-Invocation-Id",
	"amz-sdk-request":       "Amz-Sdk-Request",
	"content-length":        "Content-Length",
	"content-type":          "Content-Type",
	"x-amz-date":            "X-Amz-Date",
	"x-amz-security-token":  "X-Amz-Security-Token",
	"x-amz-content-sha256":  "X-Amz-Content-Sha256",
	"x-amz-user-agent":      "X-Amz-User-Agent",
	"user-agent":            "User-Agent",
}

// appendHeaderValue appends the canonical value of header name: each
// value trimmed, inner runs of spaces collapsed, repeated headers joined
// by commas. Host is r.Host, and Content-Length comes from r.ContentLength
// when net/http took the header away.
func appendHeaderValue(b []byte, r *http.Request, name string) []byte {
	if name == "host" {
		return appendCollapsed(b, r.Host)
	}
	key, ok := canonicalKeys[name]
	if !ok {
		key = textproto.CanonicalMIMEHeaderKey(name)
	}
	vals := r.Header[key]
	if len(vals) == 0 && name == "content-length" && r.ContentLength >= 0 {
		return strconv.AppendInt(b, r.ContentLength, 10)
	}
	for i, v := range vals {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendCollapsed(b, v)
	}
	return b
}

// appendCollapsed appends v trimmed, each inner run of spaces made one.
func appendCollapsed(b []byte, v string) []byte {
	v = strings.TrimSpace(v)
	space := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == ' ' {
			if space {
				continue
			}
			space = true
		} else {
			space = false
		}
		b = append(b, c)
	}
	return b
}

// canonicalURI is the path as the SDKs sign it for every service but S3:
// the already-escaped path, escaped once more except for '/'.
func appendCanonicalURI(b []byte, u *url.URL) []byte {
	p := u.EscapedPath()
	if p == "" || p == "/" {
		return append(b, '/')
	}
	return append(b, escape(p, false)...)
}

// canonicalQuery sorts the query parameters by name, then value, each
// escaped as SigV4 wants, leaving out the parameter named skip (if any).
func canonicalQuery(raw, skip string) string {
	if raw == "" {
		return ""
	}
	type kv struct{ k, v string }
	var pairs []kv
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		if uk, err := url.QueryUnescape(k); err == nil {
			k = uk
		}
		if skip != "" && k == skip {
			continue
		}
		if uv, err := url.QueryUnescape(v); err == nil {
			v = uv
		}
		pairs = append(pairs, kv{escape(k, true), escape(v, true)})
	}
	sort.Slice(pairs, func(i, j int) bool {
		if pairs[i].k != pairs[j].k {
			return pairs[i].k < pairs[j].k
		}
		return pairs[i].v < pairs[j].v
	})
	var b strings.Builder
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(p.k)
		b.WriteByte('=')
		b.WriteString(p.v)
	}
	return b.String()
}

// escape percent-encodes every byte but the unreserved A-Z a-z 0-9 - _ . ~
// (and '/' unless slash is set), with upper-case hex.
func escape(s string, slash bool) string {
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
			c == '-' || c == '_' || c == '.' || c == '~' || (c == '/' && !slash) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexd[c>>4])
		b.WriteByte(hexd[c&15])
	}
	return b.String()
}

// clip shortens what a client sent before it goes into an error message.
func clip(s string) string {
	if len(s) > 256 {
		s = s[:256] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
