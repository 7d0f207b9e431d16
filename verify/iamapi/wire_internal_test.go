package iamapi

import (
	"encoding/xml"
	"net/http/httptest"
	"strings"
	"testing"
)

// encodeResult is how writeResult encoded every result before the fast
// path: encoding/xml for the whole envelope.
func encodeResult(t *testing.T, svc *service, action, reqID string, result any) string {
	t.Helper()
	var b strings.Builder
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	resp := xml.StartElement{Name: xml.Name{Local: action + "Response"}, Attr: []xml.Attr{{Name: xml.Name{Local: "xmlns"}, Value: svc.ns}}}
	if err := enc.EncodeToken(resp); err != nil {
		t.Fatal(err)
	}
	if result != nil {
		if err := enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: action + "Result"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := enc.EncodeElement(responseMetadata{RequestID: reqID}, xml.StartElement{Name: xml.Name{Local: "ResponseMetadata"}}); err != nil {
		t.Fatal(err)
	}
	if err := enc.EncodeToken(resp.End()); err != nil {
		t.Fatal(err)
	}
	if err := enc.Flush(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestResultFastPath: results that write their own XML write what
// encoding/xml writes, byte for byte, whatever the characters.
func TestResultFastPath(t *testing.T) {
	for _, text := range []string{
		"ASIAEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY=", "2026-11-29T01:27:59Z", "",
		`a<b>&c"d'e`, "tab\tnew\nret\r", "é ü 漢", "bad \xff utf-8", "ctl \x01\x7f",
	} {
		res := sessionResult{xmlCredentials{AccessKeyId: text, SecretAccessKey: text + "s", SessionToken: "t" + text, Expiration: text}}
		want := encodeResult(t, stsService, "GetSessionToken", "req-"+text, res)
		w := httptest.NewRecorder()
		if code := writeResult(w, stsService, "GetSessionToken", "req-"+text, res); code != "" {
			t.Fatalf("%q: %s", text, code)
		}
		if got := w.Body.String(); got != want {
			t.Errorf("%q:\n got %s\nwant %s", text, got, want)
		}
	}
	// The encoding/xml path and a result-less answer, in the same envelope.
	for _, res := range []any{nil, struct{ UserId, Account string }{"AIDA&", "123456789012"}} {
		w := httptest.NewRecorder()
		writeResult(w, iamService, "GetUser", "r", res)
		if want := encodeResult(t, iamService, "GetUser", "r", res); w.Body.String() != want {
			t.Errorf("%v:\n got %s\nwant %s", res, w.Body, want)
		}
	}
}
