package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/httpapi"
)

const (
	arn    = "arn:aws:iam::123456789012:mfa/alice-phone"
	serial = "GAHT00000017"
)

// newAPI returns the API over a fake with alice (one enabled virtual
// device), bob (none) and an inventory token.
func newAPI(t *testing.T) (*httpapi.Server, *fake, http.Handler) {
	t.Helper()
	f := newFake()
	f.users["alice"] = verify.User{Name: "alice", Path: "/"}
	f.users["bob"] = verify.User{Name: "bob", Path: "/"}
	f.devices[arn] = &verify.Device{ID: arn, Kind: verify.KindVirtual, State: verify.StateAssigned, User: "alice"}
	f.devices[serial] = &verify.Device{ID: serial, Kind: verify.KindHardware, State: verify.StateAvailable}
	srv := httpapi.New(f, httpapi.Config{})
	mux := http.NewServeMux()
	mux.Handle("/api/", srv)
	mux.Handle("/healthz", srv.Health())
	mux.Handle("/metrics", srv.Metrics())
	return srv, f, mux
}

type call struct {
	name   string
	method string
	path   string
	body   string
	token  string // "" means the good token; "-" means none
	ctype  string
	status int
	code   verify.ErrorCode // error code expected in the body, if any
	want   string           // substring of the body
}

func do(t *testing.T, h http.Handler, c call) *httptest.ResponseRecorder {
	t.Helper()
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req := httptest.NewRequest(c.method, c.path, body)
	switch c.token {
	case "":
		req.Header.Set("Authorization", "Bearer "+fakeToken)
	case "-":
	default:
		req.Header.Set("Authorization", c.token)
	}
	if c.ctype != "" {
		req.Header.Set("Content-Type", c.ctype)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func check(t *testing.T, h http.Handler, c call) {
	t.Helper()
	rec := do(t, h, c)
	if rec.Code != c.status {
		t.Fatalf("%s %s: status %d, want %d; body %s", c.method, c.path, rec.Code, c.status, rec.Body)
	}
	if rec.Code >= 500 {
		t.Fatalf("%s %s: status %d", c.method, c.path, rec.Code)
	}
	if c.code != "" {
		var eb httpapi.ErrorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &eb); err != nil {
			t.Fatalf("%s %s: error body %q is not JSON: %v", c.method, c.path, rec.Body, err)
		}
		if eb.Error.Code != c.code || eb.Error.Message == "" {
			t.Fatalf("%s %s: error %+v, want code %s", c.method, c.path, eb.Error, c.code)
		}
		if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
			t.Fatalf("%s %s: Content-Type %q", c.method, c.path, ct)
		}
	}
	if c.want != "" && !strings.Contains(rec.Body.String(), c.want) {
		t.Fatalf("%s %s: body %s lacks %q", c.method, c.path, rec.Body, c.want)
	}
}

func TestEndpoints(t *testing.T) {
	const v = "/api/v1/"
	calls := []call{
		{name: "create user", method: "POST", path: v + "users", body: `{"name":"carol","path":"/eng/","require_mfa":true}`, status: 201, want: `"require_mfa":true`},
		{name: "list users", method: "GET", path: v + "users?max=10", status: 200, want: `"carol"`},
		{name: "get user", method: "GET", path: v + "users/carol", status: 200, want: `"path":"/eng/"`},
		{name: "set password", method: "PUT", path: v + "users/carol/password", body: `{"password":"s3cret!"}`, status: 204},
		{name: "require mfa off", method: "PUT", path: v + "users/carol/require-mfa", body: `{"require_mfa":false}`, status: 204},
		{name: "delete user", method: "DELETE", path: v + "users/carol", status: 204},
		{name: "user devices", method: "GET", path: v + "users/alice/devices", status: 200, want: arn},
		{name: "import", method: "POST", path: v + "inventory", ctype: "application/x-ndjson",
			body:   `{"serial":"GAHT00000025","seed":"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"}` + "\n\n" + `{"serial":"GAHT00000033","seed":"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ","digits":8,"algorithm":"SHA256","period":60}` + "\n",
			status: 200, want: `"added":2`},
		{name: "import csv", method: "POST", path: v + "inventory", ctype: "text/csv",
			body: "serial,secret,algorithm,digits,period\nGAHT00000058,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ,SHA1,6,30\n", status: 200, want: `"added":1`},
		{name: "inventory", method: "GET", path: v + "inventory?state=available", status: 200, want: "GAHT00000058"},
		{name: "create virtual", method: "POST", path: v + "virtual-devices", body: `{"name":"bob-phone","tags":{"team":"qa"}}`, status: 201, want: `"seed_base32":"GAYTEMZUGU3DOOBZMFRGGZDFMZTWQ2LK"`},
		{name: "list virtual", method: "GET", path: v + "virtual-devices?assignment=Unassigned", status: 200, want: "bob-phone"},
		{name: "enable", method: "POST", path: v + "mfa/enable", body: `{"user":"bob","device":"arn:aws:iam::123456789012:mfa/bob-phone","code1":"123456","code2":"123456"}`, status: 204},
		{name: "check accepted", method: "POST", path: v + "mfa/check", body: `{"user":"bob","device":"arn:aws:iam::123456789012:mfa/bob-phone","code":"123456"}`, status: 200, want: `"accepted":true`},
		{name: "check replayed", method: "POST", path: v + "mfa/check", body: `{"user":"bob","device":"arn:aws:iam::123456789012:mfa/bob-phone","code":"654321"}`, status: 200, want: `{"accepted":false,"reason":"replayed"}`},
		{name: "check wrong", method: "POST", path: v + "mfa/check", body: `{"user":"bob","device":"arn:aws:iam::123456789012:mfa/bob-phone","code":"11112222"}`, status: 200, want: `"reason":"wrong"`},
		{name: "check locked", method: "POST", path: v + "mfa/check", body: `{"user":"bob","device":"arn:aws:iam::123456789012:mfa/bob-phone","code":"000000"}`, status: 200, want: `"reason":"locked"`},
		{name: "check not enabled", method: "POST", path: v + "mfa/check", body: `{"user":"bob","device":"` + arn + `","code":"123456"}`, status: 200, want: `"reason":"not-enabled"`},
		{name: "resync", method: "POST", path: v + "mfa/resync", body: `{"user":"alice","device":"` + arn + `","code1":"123456","code2":"123456"}`, status: 204},
		{name: "tag", method: "POST", path: v + "mfa/tags", body: `{"device":"` + arn + `","tags":{"owner":"alice"}}`, status: 204},
		{name: "get device", method: "GET", path: v + "mfa/device?id=" + arn, status: 200, want: `"owner":"alice"`},
		{name: "untag", method: "POST", path: v + "mfa/untag", body: `{"device":"` + arn + `","keys":["owner"]}`, status: 204},
		{name: "deactivate", method: "POST", path: v + "mfa/deactivate", body: `{"user":"alice","device":"` + arn + `"}`, status: 204},
		{name: "unlock", method: "POST", path: v + "mfa/unlock", body: `{"device":"` + serial + `"}`, status: 204},
		{name: "lost", method: "POST", path: v + "mfa/lost", body: `{"device":"` + serial + `"}`, status: 200, want: `"detached_from":[]`},
		{name: "delete virtual", method: "DELETE", path: v + "virtual-devices?id=" + arn, status: 204},
		{name: "audit", method: "GET", path: v + "audit?user=alice&limit=5&since=2026-01-01T00:00:00Z", status: 200, want: `"action":"check"`},
		{name: "healthz", method: "GET", path: "/healthz", token: "-", status: 200, want: `"status":"ok"`},
	}
	_, f, h := newAPI(t)
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) { check(t, h, c) })
	}
	for i, a := range f.actors {
		if a.Name != "tester" || a.Source != "api" {
			t.Errorf("call %s: actor %+v, want tester/api", f.calls[i], a)
		}
	}
	rec := do(t, h, call{method: "GET", path: "/metrics", token: "-"})
	for _, want := range []string{
		`tokenlab_verify_decisions_total{outcome="accepted",reason=""} 1`,
		`tokenlab_verify_decisions_total{outcome="refused",reason="replayed"} 1`,
		`tokenlab_http_requests_total{route="mfa.check",code="200"} 5`,
		`tokenlab_http_request_duration_seconds_count{route="mfa.check"} 5`,
		`tokenlab_http_in_flight 0`,
		`tokenlab_http_panics_total 0`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, rec.Body)
		}
	}
}

// TestBadInput sends every class of bad input and wants a clear error with
// the right status, and never a 500.
func TestBadInput(t *testing.T) {
	const v = "/api/v1/"
	big := `{"name":"` + strings.Repeat("a", httpapi.MaxJSONBody) + `"}`
	checkBody := func(user, dev, code string) string {
		b, _ := json.Marshal(httpapi.CheckRequest{User: user, Device: dev, Code: code})
		return string(b)
	}
	calls := []call{
		// authentication
		{name: "no token", method: "GET", path: v + "users", token: "-", status: 401, code: verify.EUNAUTHORIZED},
		{name: "wrong token", method: "GET", path: v + "users", token: "Bearer nope", status: 401, code: verify.EUNAUTHORIZED},
		{name: "basic auth", method: "GET", path: v + "users", token: "Basic YWxpY2U6eA==", status: 401, code: verify.EUNAUTHORIZED},
		{name: "empty bearer", method: "GET", path: v + "users", token: "Bearer ", status: 401, code: verify.EUNAUTHORIZED},
		{name: "huge token", method: "GET", path: v + "users", token: "Bearer " + strings.Repeat("x", 10000), status: 401, code: verify.EUNAUTHORIZED},
		{name: "no token on bad input", method: "POST", path: v + "mfa/check", body: "{", token: "-", status: 401, code: verify.EUNAUTHORIZED},
		// routing
		{name: "unknown endpoint", method: "GET", path: v + "nope", status: 404, code: verify.ENOTFOUND},
		{name: "wrong method", method: "PATCH", path: v + "users", status: 405, code: verify.EINVALID},
		{name: "get on check", method: "GET", path: v + "mfa/check", status: 405, code: verify.EINVALID},
		// JSON
		{name: "empty body", method: "POST", path: v + "users", status: 400, code: verify.EINVALID, want: "empty"},
		{name: "syntax", method: "POST", path: v + "users", body: `{"name":`, status: 400, code: verify.EINVALID},
		{name: "not an object", method: "POST", path: v + "users", body: `["alice"]`, status: 400, code: verify.EINVALID},
		{name: "wrong type", method: "POST", path: v + "users", body: `{"name":42}`, status: 400, code: verify.EINVALID, want: "name"},
		{name: "unknown field", method: "POST", path: v + "users", body: `{"name":"x","nmae":"y"}`, status: 400, code: verify.EINVALID, want: "nmae"},
		{name: "two values", method: "POST", path: v + "users", body: `{"name":"x"}{"name":"y"}`, status: 400, code: verify.EINVALID, want: "more than one"},
		{name: "trailing garbage", method: "POST", path: v + "users", body: `{"name":"x"} x`, status: 400, code: verify.EINVALID},
		{name: "oversized", method: "POST", path: v + "users", body: big, status: 400, code: verify.EINVALID, want: "over"},
		{name: "code as number", method: "POST", path: v + "mfa/check", body: `{"user":"alice","device":"` + arn + `","code":123456}`, status: 400, code: verify.EINVALID},
		// user names
		{name: "empty user", method: "POST", path: v + "users", body: `{"name":""}`, status: 400, code: verify.EINVALID},
		{name: "user with space", method: "POST", path: v + "users", body: `{"name":"a b"}`, status: 400, code: verify.EINVALID},
		{name: "user too long", method: "POST", path: v + "users", body: `{"name":"` + strings.Repeat("a", 65) + `"}`, status: 400, code: verify.EINVALID},
		{name: "bad path", method: "POST", path: v + "users", body: `{"name":"x","path":"eng"}`, status: 400, code: verify.EINVALID},
		{name: "bad user in url", method: "GET", path: v + "users/a%20b", status: 400, code: verify.EINVALID},
		{name: "unknown user", method: "GET", path: v + "users/zed", status: 404, code: verify.ENOTFOUND},
		{name: "duplicate user", method: "POST", path: v + "users", body: `{"name":"alice"}`, status: 409, code: verify.ECONFLICT},
		{name: "delete user with devices", method: "DELETE", path: v + "users/alice", status: 409, code: verify.ECONFLICT},
		{name: "empty password", method: "PUT", path: v + "users/alice/password", body: `{"password":""}`, status: 400, code: verify.EINVALID},
		{name: "unknown user devices", method: "GET", path: v + "users/zed/devices", status: 404, code: verify.ENOTFOUND},
		// paging
		{name: "max zero", method: "GET", path: v + "users?max=0", status: 400, code: verify.EINVALID},
		{name: "max huge", method: "GET", path: v + "users?max=100000", status: 400, code: verify.EINVALID},
		{name: "max text", method: "GET", path: v + "inventory?max=ten", status: 400, code: verify.EINVALID},
		{name: "bad state", method: "GET", path: v + "inventory?state=broken", status: 400, code: verify.EINVALID},
		{name: "bad assignment", method: "GET", path: v + "virtual-devices?assignment=some", status: 400, code: verify.EINVALID},
		// serials and ARNs
		{name: "short serial", method: "POST", path: v + "mfa/check", body: checkBody("alice", "GAHT1", "123456"), status: 400, code: verify.EINVALID, want: "serial"},
		{name: "serial with space", method: "POST", path: v + "mfa/check", body: checkBody("alice", "GAHT 0000001", "123456"), status: 400, code: verify.EINVALID},
		{name: "bad arn account", method: "POST", path: v + "mfa/check", body: checkBody("alice", "arn:aws:iam::123:mfa/x", "123456"), status: 400, code: verify.EINVALID, want: "ARN"},
		{name: "arn not mfa", method: "POST", path: v + "mfa/check", body: checkBody("alice", "arn:aws:iam::123456789012:user/alice", "123456"), status: 400, code: verify.EINVALID},
		{name: "empty device", method: "POST", path: v + "mfa/check", body: checkBody("alice", "", "123456"), status: 400, code: verify.EINVALID},
		{name: "unknown serial", method: "POST", path: v + "mfa/check", body: checkBody("alice", "GAHT99999999", "123456"), status: 404, code: verify.ENOTFOUND},
		{name: "unknown user check", method: "POST", path: v + "mfa/check", body: checkBody("zed", arn, "123456"), status: 404, code: verify.ENOTFOUND},
		{name: "get device no id", method: "GET", path: v + "mfa/device", status: 400, code: verify.EINVALID},
		{name: "get device two ids", method: "GET", path: v + "mfa/device?id=" + serial + "&id=" + serial, status: 400, code: verify.EINVALID},
		{name: "get unknown device", method: "GET", path: v + "mfa/device?id=GAHT99999999", status: 404, code: verify.ENOTFOUND},
		{name: "delete virtual by serial", method: "DELETE", path: v + "virtual-devices?id=" + serial, status: 400, code: verify.EINVALID},
		{name: "delete assigned virtual", method: "DELETE", path: v + "virtual-devices?id=" + arn, status: 409, code: verify.ECONFLICT},
		{name: "lost unknown", method: "POST", path: v + "mfa/lost", body: `{"device":"GAHT99999999"}`, status: 404, code: verify.ENOTFOUND},
		{name: "unlock malformed", method: "POST", path: v + "mfa/unlock", body: `{"device":"x"}`, status: 400, code: verify.EINVALID},
		// codes
		{name: "code 5 digits", method: "POST", path: v + "mfa/check", body: checkBody("alice", arn, "12345"), status: 400, code: verify.EINVALID, want: "6 or 8"},
		{name: "code 7 digits", method: "POST", path: v + "mfa/check", body: checkBody("alice", arn, "1234567"), status: 400, code: verify.EINVALID},
		{name: "code 9 digits", method: "POST", path: v + "mfa/check", body: checkBody("alice", arn, "123456789"), status: 400, code: verify.EINVALID},
		{name: "code letters", method: "POST", path: v + "mfa/check", body: checkBody("alice", arn, "abcdef"), status: 400, code: verify.EINVALID},
		{name: "code unicode digits", method: "POST", path: v + "mfa/check", body: checkBody("alice", arn, "١٢٣٤٥٦"), status: 400, code: verify.EINVALID},
		{name: "code with space", method: "POST", path: v + "mfa/check", body: checkBody("alice", arn, "123 456"), status: 400, code: verify.EINVALID},
		{name: "enable bad code2", method: "POST", path: v + "mfa/enable", body: `{"user":"alice","device":"` + serial + `","code1":"123456","code2":"12"}`, status: 400, code: verify.EINVALID, want: "code2"},
		{name: "enable wrong codes", method: "POST", path: v + "mfa/enable", body: `{"user":"bob","device":"` + serial + `","code1":"111111","code2":"222222"}`, status: 403, code: verify.ECODE, want: `"reason":"wrong"`},
		{name: "enable taken", method: "POST", path: v + "mfa/enable", body: `{"user":"bob","device":"` + arn + `","code1":"123456","code2":"123456"}`, status: 409, code: verify.ECONFLICT},
		{name: "resync locked", method: "POST", path: v + "mfa/resync", body: `{"user":"alice","device":"` + arn + `","code1":"000000","code2":"000000"}`, status: 429, code: verify.ELOCKED},
		{name: "deactivate missing user", method: "POST", path: v + "mfa/deactivate", body: `{"device":"` + arn + `"}`, status: 400, code: verify.EINVALID},
		// tags
		{name: "tags empty", method: "POST", path: v + "mfa/tags", body: `{"device":"` + arn + `","tags":{}}`, status: 400, code: verify.EINVALID},
		{name: "tag key empty", method: "POST", path: v + "mfa/tags", body: `{"device":"` + arn + `","tags":{"":"x"}}`, status: 400, code: verify.EINVALID},
		{name: "untag none", method: "POST", path: v + "mfa/untag", body: `{"device":"` + arn + `","keys":[]}`, status: 400, code: verify.EINVALID},
		{name: "virtual bad name", method: "POST", path: v + "virtual-devices", body: `{"name":"a/b"}`, status: 400, code: verify.EINVALID},
		{name: "virtual duplicate", method: "POST", path: v + "virtual-devices", body: `{"name":"alice-phone"}`, status: 409, code: verify.ECONFLICT},
		// import
		{name: "import bad serial", method: "POST", path: v + "inventory", body: `{"serial":"x","seed":"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"}`, status: 400, code: verify.EINVALID, want: "line 1"},
		{name: "import short seed", method: "POST", path: v + "inventory", body: `{"serial":"GAHT00000041","seed":"GEZDGNBV"}`, status: 400, code: verify.EINVALID, want: "seed"},
		{name: "import bad digits", method: "POST", path: v + "inventory", body: `{"serial":"GAHT00000041","seed":"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ","digits":7}`, status: 400, code: verify.EINVALID},
		{name: "import bad line 2", method: "POST", path: v + "inventory", body: `{"serial":"GAHT00000041","seed":"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"}` + "\n{", status: 400, code: verify.EINVALID, want: "line 2"},
		{name: "import duplicate", method: "POST", path: v + "inventory", body: `{"serial":"GAHT00000041","seed":"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"}` + "\n" + `{"serial":"GAHT00000041","seed":"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"}`, status: 400, code: verify.EINVALID, want: "line 1"},
		{name: "import empty", method: "POST", path: v + "inventory", body: "\n", status: 400, code: verify.EINVALID},
		{name: "import bad xml", method: "POST", path: v + "inventory", ctype: "application/xml", body: "<x/>", status: 400, code: verify.EINVALID},
		{name: "import pdf", method: "POST", path: v + "inventory", ctype: "application/pdf", body: "%PDF", status: 400, code: verify.EINVALID},
		{name: "import csv bad seed", method: "POST", path: v + "inventory", ctype: "text/csv", body: "serial,secret\nGAHT00000041,GEZDGNBV\n", status: 400, code: verify.EINVALID},
		{name: "import csv hotp", method: "POST", path: v + "inventory", ctype: "text/csv", body: "serial,secret,type,counter\nGAHT00000041,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ,hotp,0\n", status: 400, code: verify.EINVALID, want: "HOTP"},
		{name: "import long line", method: "POST", path: v + "inventory", body: strings.Repeat("x", 70000), status: 400, code: verify.EINVALID},
		// audit
		{name: "audit bad since", method: "GET", path: v + "audit?since=yesterday", status: 400, code: verify.EINVALID},
		{name: "audit bad limit", method: "GET", path: v + "audit?limit=-1", status: 400, code: verify.EINVALID},
		{name: "audit bad device", method: "GET", path: v + "audit?device=x", status: 400, code: verify.EINVALID},
		{name: "healthz post", method: "POST", path: "/healthz", token: "-", status: 405, code: verify.EINVALID},
	}
	srv, f, h := newAPI(t)
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) { check(t, h, c) })
	}
	if n := srv.Metrics().Panics(); n != 0 {
		t.Errorf("%d panics recovered", n)
	}
	// No code reached the verifier through a bad request, and no code or
	// seed comes back in an error.
	for _, c := range f.calls {
		if c == "ImportTokens" {
			t.Errorf("a bad import reached the verifier")
		}
	}
}

func TestErrorBodiesNeverEchoCodes(t *testing.T) {
	_, _, h := newAPI(t)
	for _, body := range []string{
		`{"user":"alice","device":"` + arn + `","code":"98765"}`,
		`{"user":"alice","device":"` + arn + `","code":"987654","x":1}`,
		`{"user":"alice","device":"` + arn + `","code":"98765a"}`,
	} {
		rec := do(t, h, call{method: "POST", path: "/api/v1/mfa/check", body: body})
		if rec.Code != 400 || bytes.Contains(rec.Body.Bytes(), []byte("9876")) {
			t.Errorf("body %s: %d %s", body, rec.Code, rec.Body)
		}
	}
}

func TestStatusOf(t *testing.T) {
	for code, want := range map[verify.ErrorCode]int{
		verify.EINVALID: 400, verify.EUNAUTHORIZED: 401, verify.EFORBIDDEN: 403, verify.ECODE: 403,
		verify.ENOTFOUND: 404, verify.ECONFLICT: 409, verify.ELIMIT: 409, verify.ELOCKED: 429,
		verify.EINTERNAL: 500, "something-new": 500,
	} {
		if got := httpapi.StatusOf(code); got != want {
			t.Errorf("StatusOf(%s) = %d, want %d", code, got, want)
		}
	}
}

func TestRecoverMiddleware(t *testing.T) {
	f := newFake()
	srv := httpapi.New(boom{f}, httpapi.Config{})
	req := httptest.NewRequest("GET", "/api/v1/users/alice", nil)
	req.Header.Set("Authorization", "Bearer "+fakeToken)
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, req)
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), `"code":"internal"`) || srv.Metrics().Panics() != 1 {
		t.Fatalf("panic: %d %s (panics %d)", rec.Code, rec.Body, srv.Metrics().Panics())
	}
}
