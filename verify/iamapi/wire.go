package iamapi

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// The two Query services this package speaks, with their API versions and
// XML namespaces (IAM-SPEC.md §0).
type service struct {
	name    string // signing name: iam or sts
	version string
	ns      string
}

var (
	iamService = &service{name: "iam", version: "2010-05-08", ns: "https://iam.amazonaws.com/doc/2010-05-08/"}
	stsService = &service{name: "sts", version: "2011-06-15", ns: "https://sts.amazonaws.com/doc/2011-06-15/"}
)

// apiError is an error as it goes on the wire: HTTP status and the
// ErrorResponse/Error envelope.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func (e *apiError) Error() string { return "iamapi: " + e.Code + ": " + e.Message }

func errf(status int, code, format string, a ...any) *apiError {
	return &apiError{Status: status, Code: code, Message: fmt.Sprintf(format, a...)}
}

// Common errors of the Query APIs (IAM API Reference, "Common Errors").
func errValidation(msg string) *apiError { return errf(400, "ValidationError", "%s", msg) }

// timeFormat is how the Query APIs write timestamps (ISO 8601, UTC).
const timeFormat = "2006-01-02T15:04:05Z"

func isoTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeFormat)
}

// newRequestID returns a random UUID (version 4) for ResponseMetadata and
// the x-amzn-RequestId header.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// writeResult writes the success envelope:
//
//	<ActionResponse xmlns=NS><ActionResult>result</ActionResult><ResponseMetadata>…
//
// result nil means an operation without output: no Result element. A
// result that is an [xmlAppender] writes its own elements; any other goes
// through encoding/xml. It returns the error code sent instead, if the
// result could not be encoded.
func writeResult(w http.ResponseWriter, svc *service, action, reqID string, result any) (errCode string) {
	bp := bufPool.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 64<<10 { // keep no QR code or long list around
			bufPool.Put(bp)
		}
	}()
	b := append((*bp)[:0], xml.Header...)
	b = append(b, '<')
	b = append(b, action...)
	b = append(b, `Response xmlns="`...)
	b = append(b, svc.ns...) // a constant without characters to escape
	b = append(b, `">`...)
	switch res := result.(type) {
	case nil:
	case xmlAppender:
		b = append(b, '<')
		b = append(b, action...)
		b = append(b, "Result>"...)
		b = res.appendXML(b)
		b = append(b, "</"...)
		b = append(b, action...)
		b = append(b, "Result>"...)
	default:
		buf := bytes.NewBuffer(b)
		enc := xml.NewEncoder(buf)
		err := enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: action + "Result"}})
		if err == nil {
			err = enc.Close()
		}
		if err != nil { // only a result type we wrote badly can get here
			writeError(w, svc, reqID, errf(500, "ServiceFailure", "Request processing has failed due to some unknown error, exception or failure."))
			return "ServiceFailure"
		}
		b = buf.Bytes()
	}
	b = append(b, "<ResponseMetadata><RequestId>"...)
	b = appendEscaped(b, reqID)
	b = append(b, "</RequestId></ResponseMetadata></"...)
	b = append(b, action...)
	b = append(b, "Response>"...)
	*bp = b
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	return ""
}

// bufPool holds the buffers answers are built in.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// xmlAppender is a result that writes its own XML, as encoding/xml would
// write it, sparing the reflection on the hot path (GetSessionToken).
type xmlAppender interface {
	appendXML(b []byte) []byte
}

// appendElement appends <name>text</name>, text escaped as encoding/xml
// escapes character data.
func appendElement(b []byte, name, text string) []byte {
	b = append(b, '<')
	b = append(b, name...)
	b = append(b, '>')
	b = appendEscaped(b, text)
	b = append(b, "</"...)
	b = append(b, name...)
	return append(b, '>')
}

// appendEscaped appends s escaped exactly as xml.EscapeText escapes it:
// plain printable ASCII is copied, anything else goes through EscapeText.
func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '&' || c == '<' || c == '>' || c == '"' || c == '\'' {
			buf := bytes.NewBuffer(b)
			_ = xml.EscapeText(buf, []byte(s)) // a bytes.Buffer does not fail
			return buf.Bytes()
		}
	}
	return append(b, s...)
}

type responseMetadata struct {
	RequestID string `xml:"RequestId"`
}

type errorResponse struct {
	XMLName   xml.Name `xml:"ErrorResponse"`
	NS        string   `xml:"xmlns,attr"`
	Error     errorBody
	RequestID string `xml:"RequestId"`
}

type errorBody struct {
	Type    string
	Code    string
	Message string
}

// writeError writes the ErrorResponse envelope with e's status. Type is
// Receiver for server faults (5xx), Sender otherwise.
func writeError(w http.ResponseWriter, svc *service, reqID string, e *apiError) {
	typ := "Sender"
	if e.Status >= 500 {
		typ = "Receiver"
	}
	out, _ := xml.Marshal(errorResponse{NS: svc.ns, Error: errorBody{Type: typ, Code: e.Code, Message: e.Message}, RequestID: reqID})
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(xml.Header)+len(out)))
	w.WriteHeader(e.Status)
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(out)
}

// params reads an action's parameters and collects constraint violations
// the way AWS reports them: "N validation error(s) detected: Value 'x' at
// 'userName' failed to satisfy constraint: …; …".
type params struct {
	form map[string]string
	errs []string
	// custom, when set, replaces the collected message (AWS has a few
	// hand-written ones, such as the one for a bad path).
	custom string
}

// member turns a parameter name into the member name AWS quotes:
// UserName → userName.
func member(name string) string {
	r, n := utf8.DecodeRuneInString(name)
	return string(unicode.ToLower(r)) + name[n:]
}

func (p *params) violation(name, value, constraint string) {
	p.errs = append(p.errs, fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: Member must %s", clip(value), member(name), constraint))
}

// err returns the ValidationError for what went wrong, or nil.
func (p *params) err() *apiError {
	switch {
	case p.custom != "":
		return errValidation(p.custom)
	case len(p.errs) == 1:
		return errValidation("1 validation error detected: " + p.errs[0])
	case len(p.errs) > 1:
		return errValidation(fmt.Sprintf("%d validation errors detected: %s", len(p.errs), strings.Join(p.errs, "; ")))
	}
	return nil
}

// rule is a string parameter's constraints, as the service model gives them.
type rule struct {
	min, max int               // length bounds in characters; max 0 means none
	ok       func(rune) bool   // every character must satisfy it (nil: any)
	pattern  string            // the model's pattern, for the message
	check    func(string) bool // a whole-value check beyond characters
}

// get returns the parameter name, checked against r. A required parameter
// that is missing is reported as AWS does ("Value null at …").
func (p *params) get(name string, required bool, r rule) string {
	v, ok := p.form[name]
	if !ok {
		if required {
			p.errs = append(p.errs, fmt.Sprintf("Value null at '%s' failed to satisfy constraint: Member must not be null", member(name)))
		}
		return ""
	}
	n := utf8.RuneCountInString(v)
	switch {
	case !utf8.ValidString(v):
		p.violation(name, v, "satisfy regular expression pattern: "+r.pattern)
		return ""
	case n < r.min:
		p.violation(name, v, fmt.Sprintf("have length greater than or equal to %d", r.min))
		return ""
	case r.max > 0 && n > r.max:
		p.violation(name, v, fmt.Sprintf("have length less than or equal to %d", r.max))
		return ""
	}
	bad := r.check != nil && !r.check(v)
	if r.ok != nil && !bad {
		for _, c := range v {
			if !r.ok(c) {
				bad = true
				break
			}
		}
	}
	if bad {
		p.violation(name, v, "satisfy regular expression pattern: "+r.pattern)
		return ""
	}
	return v
}

// enum returns the parameter, which must be one of values (or absent: def).
func (p *params) enum(name, def string, values ...string) string {
	v, ok := p.form[name]
	if !ok {
		return def
	}
	for _, a := range values {
		if v == a {
			return v
		}
	}
	p.violation(name, v, "satisfy enum value set: ["+strings.Join(values, ", ")+"]")
	return ""
}

// integer returns the parameter as an int in [min, max], or def if absent.
func (p *params) integer(name string, def, min, max int) int {
	v, ok := p.form[name]
	if !ok {
		return def
	}
	n, err := strconv.Atoi(v)
	switch {
	case err != nil:
		p.errs = append(p.errs, fmt.Sprintf("Value '%s' at '%s' failed to satisfy constraint: Member must be a number", clip(v), member(name)))
		return def
	case n < min:
		p.violation(name, v, fmt.Sprintf("have value greater than or equal to %d", min))
		return def
	case n > max:
		p.violation(name, v, fmt.Sprintf("have value less than or equal to %d", max))
		return def
	}
	return n
}

// list returns the members of a Query list NAME.member.1, NAME.member.2, …
// with suffix (".Key", or "" for a list of strings). Members must be
// numbered from 1 without gaps.
func (p *params) list(name, suffix string, maxItems int) []string {
	var out []string
	for i := 1; ; i++ {
		v, ok := p.form[name+".member."+strconv.Itoa(i)+suffix]
		if !ok {
			break
		}
		if len(out) == maxItems {
			p.errs = append(p.errs, fmt.Sprintf("Value at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", member(name), maxItems))
			return nil
		}
		out = append(out, v)
	}
	return out
}

// Character classes of the IAM and STS models' patterns.
func word(c rune) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

func charsOf(extra string) func(rune) bool {
	return func(c rune) bool { return word(c) || strings.ContainsRune(extra, c) }
}

func digit(c rune) bool { return c >= '0' && c <= '9' }

func tagChar(c rune) bool {
	return unicode.IsLetter(c) || unicode.In(c, unicode.Zs) || unicode.IsNumber(c) || strings.ContainsRune("_.:/=+-@", c)
}

var (
	ruleUserName     = rule{min: 1, max: 64, ok: charsOf("+=,.@-"), pattern: `[\w+=,.@-]+`}
	ruleExistingUser = rule{min: 1, max: 128, ok: charsOf("+=,.@-"), pattern: `[\w+=,.@-]+`}
	ruleSerial       = rule{min: 9, max: 256, ok: charsOf("+=/:,.@-"), pattern: `[\w+=/:,.@-]+`}
	ruleAuthCode     = rule{min: 6, max: 6, ok: digit, pattern: `[\d]+`}
	ruleTokenCode    = rule{min: 6, max: 6, ok: digit, pattern: `[\d]*`}
	ruleMFAName      = rule{min: 1, max: 226, ok: charsOf("+=,.@-"), pattern: `[\w+=,.@-]+`}
	rulePath         = rule{min: 1, max: 512, pattern: `(\u002F)|(\u002F[\u0021-\u007E]+\u002F)`, check: validPath}
	rulePathPrefix   = rule{min: 1, max: 512, pattern: `\u002F[\u0021-\u007F]*`, check: func(s string) bool {
		return strings.HasPrefix(s, "/") && strings.IndexFunc(s, func(c rune) bool { return c < 0x21 || c > 0x7f }) < 0
	}}
	ruleMarker    = rule{min: 1, max: 320, ok: func(c rune) bool { return c >= 0x20 && c <= 0xff }, pattern: `[\u0020-\u00FF]+`}
	ruleAccessKey = rule{min: 16, max: 128, ok: word, pattern: `[\w]+`}
	ruleTagKey    = rule{min: 1, max: 128, ok: tagChar, pattern: `[\p{L}\p{Z}\p{N}_.:/=+\-@]+`}
	ruleTagValue  = rule{min: 0, max: 256, ok: tagChar, pattern: `[\p{L}\p{Z}\p{N}_.:/=+\-@]*`}
)

func validPath(p string) bool {
	if p == "/" {
		return true
	}
	if len(p) < 2 || p[0] != '/' || p[len(p)-1] != '/' {
		return false
	}
	return strings.IndexFunc(p, func(c rune) bool { return c < 0x21 || c > 0x7e }) < 0
}

// pathMessage is what IAM says about a bad path (observed, IAM-SPEC.md §1).
const pathMessage = "The specified value for path is invalid. It must begin and end with / and contain only alphanumeric characters and/or / characters."

// path reads an IAM path parameter, "/" when absent.
func (p *params) path(name string) string {
	if _, ok := p.form[name]; !ok {
		return "/"
	}
	n := len(p.errs)
	v := p.get(name, false, rulePath)
	if len(p.errs) > n {
		p.custom = pathMessage
	}
	return v
}

// page reads Marker and MaxItems.
func (p *params) page() (marker string, max int) {
	return p.get("Marker", false, ruleMarker), p.integer("MaxItems", 100, 1, 1000)
}

// tags reads Tags.member.N.Key/Value: at most 50, keys unique.
func (p *params) tags(required bool) map[string]string {
	keys := p.list("Tags", ".Key", 50)
	if len(keys) == 0 {
		if required {
			p.errs = append(p.errs, "Value null at 'tags' failed to satisfy constraint: Member must not be null")
		}
		return nil
	}
	out := make(map[string]string, len(keys))
	seen := make(map[string]bool, len(keys))
	for i := range keys {
		pre := "Tags.member." + strconv.Itoa(i+1)
		k := p.get(pre+".Key", true, ruleTagKey)
		v := p.get(pre+".Value", true, ruleTagValue)
		if seen[strings.ToLower(k)] {
			p.custom = "Duplicate tag keys found. Please note that Tag keys are case insensitive."
		}
		seen[strings.ToLower(k)] = true
		out[k] = v
	}
	return out
}

// clip shortens a client's value before it is quoted in a message.
func clip(s string) string {
	if len(s) > 256 {
		s = s[:256] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
