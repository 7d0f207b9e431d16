package httpapi_test

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/httpapi"
)

// FuzzDecodeCheck feeds arbitrary bodies to the check decoder and validator:
// either an EINVALID error with no result, or a request that validates.
func FuzzDecodeCheck(f *testing.F) {
	f.Add([]byte(`{"user":"alice","device":"arn:aws:iam::123456789012:mfa/alice-phone","code":"123456"}`))
	f.Add([]byte(`{"user":"alice","device":"GAHT00000017","code":"12345678"}`))
	f.Add([]byte(`{"user":"alice","device":"GAHT00000017","code":"12345678"} {}`))
	f.Add([]byte(`{"user":1}`))
	f.Add([]byte(`{`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req httpapi.CheckRequest
		err := httpapi.DecodeJSON(bytes.NewReader(body), httpapi.MaxJSONBody, &req)
		if err == nil {
			err = httpapi.ValidCheck(req)
		}
		if err != nil {
			if verify.CodeOf(err) != verify.EINVALID {
				t.Fatalf("error %v has code %s, want invalid", err, verify.CodeOf(err))
			}
			return
		}
		if len(req.Code) != 6 && len(req.Code) != 8 {
			t.Fatalf("accepted code of %d characters", len(req.Code))
		}
	})
}

// FuzzTokenLines feeds arbitrary import bodies to the import parser: an
// error means no records; records are valid and never repeat a serial.
func FuzzTokenLines(f *testing.F) {
	f.Add([]byte(`{"serial":"GAHT00000017","seed":"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"}`))
	f.Add([]byte(`{"serial":"GAHT00000017","seed":"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ","digits":8,"algorithm":"sha256","period":60}` + "\n\n"))
	f.Add([]byte("{}\n{}"))
	f.Fuzz(func(t *testing.T, body []byte) {
		recs, err := httpapi.ParseTokenLines(bytes.NewReader(body))
		if err != nil {
			if recs != nil || verify.CodeOf(err) != verify.EINVALID {
				t.Fatalf("error %v with %d records", err, len(recs))
			}
			return
		}
		seen := map[string]bool{}
		for _, r := range recs {
			if err := r.Spec.Validate(); err != nil || len(r.Seed) < 16 || seen[string(r.Serial)] {
				t.Fatalf("bad record %s: %v", r.Serial, err)
			}
			seen[string(r.Serial)] = true
		}
	})
}

// FuzzAPI sends arbitrary methods, paths and bodies through the whole API:
// never a 5xx, never a panic.
func FuzzAPI(f *testing.F) {
	f.Add("POST", "/api/v1/mfa/check", []byte(`{"user":"alice","device":"GAHT00000017","code":"123456"}`))
	f.Add("POST", "/api/v1/mfa/enable", []byte(`{"user":"alice","device":"GAHT00000017","code1":"123456","code2":"1"}`))
	f.Add("GET", "/api/v1/mfa/device?id=arn:aws:iam::123456789012:mfa/x", []byte(nil))
	f.Add("PUT", "/api/v1/users/alice/password", []byte(`{"password":"x"}`))
	f.Add("POST", "/api/v1/inventory", []byte(`{"serial":"GAHT00000017","seed":"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"}`))
	f.Add("GET", "/api/v1/audit?limit=9999999999999", []byte(nil))
	f.Fuzz(func(t *testing.T, method, path string, body []byte) {
		if !strings.HasPrefix(path, "/") || method == "" {
			return
		}
		srv, _, h := newAPI(t)
		req := httptest.NewRequest("POST", "http://x/", bytes.NewReader(body))
		req.Method = method
		req.URL.Path, req.URL.RawQuery, _ = strings.Cut(path, "?")
		req.RequestURI = ""
		req.Header.Set("Authorization", "Bearer "+fakeToken)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 || srv.Metrics().Panics() != 0 {
			t.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
		}
	})
}

// FuzzSeedFile feeds arbitrary bodies to the seed-file import parser: an
// error is EINVALID with no records.
func FuzzSeedFile(f *testing.F) {
	f.Add([]byte("serial,secret\nGAHT00000017,GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n"))
	f.Add([]byte("GAHT00000017,3132333435363738393031323334353637383930,totp,6,30\n"))
	f.Add([]byte(`<?xml version="1.0"?><KeyContainer Version="1.0" xmlns="urn:ietf:params:xml:ns:keyprov:pskc"></KeyContainer>`))
	f.Fuzz(func(t *testing.T, body []byte) {
		recs, err := httpapi.ParseSeedFile(bytes.NewReader(body), "")
		if err != nil {
			if recs != nil || verify.CodeOf(err) != verify.EINVALID {
				t.Fatalf("error %v with %d records", err, len(recs))
			}
			return
		}
		for _, r := range recs {
			if len(r.Seed) < 16 || r.Spec.Validate() != nil {
				t.Fatalf("bad record %s", r.Serial)
			}
		}
	})
}

// FuzzAPIReal is FuzzAPI against the real verifier on SQLite (one database
// for the whole run): whatever the request, never a 5xx.
func FuzzAPIReal(f *testing.F) {
	for _, s := range []struct{ method, path, body string }{
		{"POST", "/api/v1/users", `{"name":"alice"}`},
		{"POST", "/api/v1/virtual-devices", `{"name":"alice-phone"}`},
		{"POST", "/api/v1/mfa/enable", `{"user":"alice","device":"arn:aws:iam::123456789012:mfa/alice-phone","code1":"123456","code2":"654321"}`},
		{"POST", "/api/v1/mfa/check", `{"user":"alice","device":"arn:aws:iam::123456789012:mfa/alice-phone","code":"123456"}`},
		{"POST", "/api/v1/mfa/resync", `{"user":"alice","device":"arn:aws:iam::123456789012:mfa/alice-phone","code1":"123456","code2":"654321"}`},
		{"POST", "/api/v1/inventory", `{"serial":"GAHT00000017","seed":"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"}`},
		{"POST", "/api/v1/mfa/lost", `{"device":"GAHT00000017"}`},
		{"GET", "/api/v1/users?marker=zzz&max=5", ``},
		{"GET", "/api/v1/audit?user=alice&since=2026-01-01T00:00:00Z", ``},
		{"DELETE", "/api/v1/users/alice", ``},
		{"POST", "/api/v1/mfa/tags", `{"device":"arn:aws:iam::123456789012:mfa/alice-phone","tags":{"a":"b"}}`},
	} {
		f.Add(s.method, s.path, []byte(s.body))
	}
	h, srv, tok := realHandler(f)
	f.Fuzz(func(t *testing.T, method, path string, body []byte) {
		if !strings.HasPrefix(path, "/") || method == "" {
			return
		}
		req := httptest.NewRequest("POST", "http://x/", bytes.NewReader(body))
		req.Method = method
		req.URL.Path, req.URL.RawQuery, _ = strings.Cut(path, "?")
		req.RequestURI = ""
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 || srv.Metrics().Panics() != 0 {
			t.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
		}
	})
}
