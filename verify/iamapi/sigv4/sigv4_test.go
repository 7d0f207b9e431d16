package sigv4_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"

	"github.com/tokenlab/tokenlab/verify/iamapi/sigv4"
)

const (
	akid   = "AKIAIOSFODNN7EXAMPLE"
	secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	body   = "Action=ListUsers&Version=2010-05-08"
)

var signTime = time.Date(2026, 11, 29, 1, 27, 59, 0, time.UTC)

// signed returns a request signed by the AWS SDK's own signer, as the
// server sees it after net/http parsed it.
func signed(t testing.TB, region, service, token string, mutate func(*http.Request)) *http.Request {
	t.Helper()
	r := httptest.NewRequest("POST", "http://127.0.0.1:8080/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	r.Header.Set("Amz-Sdk-Invocation-Id", "1c2c8b6b-0000-4000-8000-000000000000")
	r.Header.Set("Amz-Sdk-Request", "attempt=1;  max=3")
	if mutate != nil {
		mutate(r)
	}
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret, SessionToken: token}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), service, region, signTime); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestVerifySDKSignatures(t *testing.T) {
	for _, tc := range []struct {
		name, region, service, token string
		mutate                       func(*http.Request)
	}{
		{name: "iam us-east-1", region: "us-east-1", service: "iam"},
		{name: "sts eu-west-1 with session token", region: "eu-west-1", service: "sts", token: "FwoGZXIvYXdzEXAMPLE"},
		{name: "query string", region: "us-east-1", service: "iam", mutate: func(r *http.Request) { r.URL.RawQuery = "b=2&a=x%2Fy&a=1" }},
		{name: "repeated header", region: "us-east-1", service: "iam", mutate: func(r *http.Request) {
			r.Header.Add("X-Amz-Meta-Thing", " one ")
			r.Header.Add("X-Amz-Meta-Thing", "two  three")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := signed(t, tc.region, tc.service, tc.token, tc.mutate)
			q, err := sigv4.Parse(r)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if q.AccessKeyID != akid || q.Scope.Region != tc.region || q.Scope.Service != tc.service || q.SecurityToken != tc.token {
				t.Fatalf("parsed %+v", q)
			}
			if err := q.CheckTime(signTime.Add(14*time.Minute), sigv4.DefaultSkew); err != nil {
				t.Errorf("CheckTime: %v", err)
			}
			if err := q.Verify(r, []byte(body), secret); err != nil {
				t.Errorf("Verify: %v", err)
			}
		})
	}
}

func TestVerifyRefuses(t *testing.T) {
	for _, tc := range []struct {
		name    string
		body    string
		secret  string
		mutate  func(*http.Request) // after signing
		code    string
		message string
	}{
		{name: "wrong secret", secret: "nope", code: sigv4.CodeSignatureMismatch, message: "does not match"},
		{name: "body changed", body: body + "&UserName=x", code: sigv4.CodeSignatureMismatch},
		{name: "signed header changed", mutate: func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") }, code: sigv4.CodeSignatureMismatch},
		{name: "host changed", mutate: func(r *http.Request) { r.Host = "evil:1" }, code: sigv4.CodeSignatureMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := signed(t, "us-east-1", "iam", "", nil)
			if tc.mutate != nil {
				tc.mutate(r)
			}
			q, err := sigv4.Parse(r)
			if err != nil {
				t.Fatal(err)
			}
			b, s := body, secret
			if tc.body != "" {
				b = tc.body
			}
			if tc.secret != "" {
				s = tc.secret
			}
			err = q.Verify(r, []byte(b), s)
			var e *sigv4.Error
			if !errors.As(err, &e) || e.Code != tc.code || !strings.Contains(e.Message, tc.message) {
				t.Fatalf("Verify = %v, want %s", err, tc.code)
			}
		})
	}
}

func TestParseRefuses(t *testing.T) {
	good := signed(t, "us-east-1", "iam", "", nil).Header.Get("Authorization")
	for _, tc := range []struct {
		name, auth, date, code, message string
	}{
		{name: "no header", code: sigv4.CodeMissingAuth},
		{name: "other algorithm", auth: "AWS4-HMAC-SHA512 Credential=x", code: sigv4.CodeIncomplete},
		{name: "no signature", auth: strings.Split(good, ", Signature=")[0], code: sigv4.CodeIncomplete, message: "requires 'Signature'"},
		{name: "no date", auth: good, date: "-", code: sigv4.CodeIncomplete, message: "X-Amz-Date"},
		{name: "bad date", auth: good, date: "yesterday", code: sigv4.CodeIncomplete, message: "ISO-8601"},
		{name: "scope date differs", auth: good, date: "20261130T000000Z", code: sigv4.CodeSignatureMismatch, message: "Date in Credential scope"},
		{name: "short credential", auth: strings.Replace(good, "/us-east-1/", "/", 1), code: sigv4.CodeIncomplete},
		{name: "host not signed", auth: strings.Replace(good, "host;", "", 1), code: sigv4.CodeSignatureMismatch, message: "Host"},
		{name: "short signature", auth: good[:len(good)-2], code: sigv4.CodeSignatureMismatch},
		{name: "component without =", auth: good + ", junk", code: sigv4.CodeIncomplete},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", nil)
			if tc.auth != "" {
				r.Header.Set("Authorization", tc.auth)
			}
			switch tc.date {
			case "":
				r.Header.Set("X-Amz-Date", signTime.Format(sigv4.TimeFormat))
			case "-":
			default:
				r.Header.Set("X-Amz-Date", tc.date)
			}
			q, err := sigv4.Parse(r)
			var e *sigv4.Error
			if !errors.As(err, &e) || e.Code != tc.code || !strings.Contains(e.Message, tc.message) || q != nil {
				t.Fatalf("Parse = %v, %v; want %s containing %q", q, err, tc.code, tc.message)
			}
		})
	}
}

func TestCheckTime(t *testing.T) {
	q, err := sigv4.Parse(signed(t, "us-east-1", "sts", "", nil))
	if err != nil {
		t.Fatal(err)
	}
	err = q.CheckTime(signTime.Add(16*time.Minute), sigv4.DefaultSkew)
	want := "Signature expired: 20261129T012759Z is now earlier than 20261129T012859Z (20261129T014359Z - 15 min.)"
	var e *sigv4.Error
	if !errors.As(err, &e) || e.Code != sigv4.CodeSignatureMismatch || e.Message != want {
		t.Errorf("late: %v\nwant %s", err, want)
	}
	err = q.CheckTime(signTime.Add(-16*time.Minute), sigv4.DefaultSkew)
	if !errors.As(err, &e) || !strings.HasPrefix(e.Message, "Signature not yet current: 20261129T012759Z is still later than") {
		t.Errorf("early: %v", err)
	}
}

// presignedReq returns a request presigned by the AWS SDK's signer
// (PresignHTTP), as the server sees it: the query carries the signature.
func presignedReq(t testing.TB, rawQuery, token string) *http.Request {
	t.Helper()
	r := httptest.NewRequest("POST", "http://127.0.0.1:8080/?"+rawQuery, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256([]byte(body))
	creds := aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret, SessionToken: token}
	u, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), "sts", "ap-northeast-1", signTime)
	if err != nil {
		t.Fatal(err)
	}
	out := httptest.NewRequest("POST", u, strings.NewReader(body))
	for k, vs := range hdr {
		if k != "Host" {
			out.Header[k] = vs
		}
	}
	return out
}

func TestPresigned(t *testing.T) {
	r := presignedReq(t, "X-Amz-Expires=60&b=hello%20world&a=x%2Fy&a=1", "FwoGZXIvYXdzEXAMPLE+/=")
	if r.Header.Get("Authorization") != "" || !strings.Contains(r.URL.RawQuery, "X-Amz-Signature=") {
		t.Fatalf("not a presigned request: %s %v", r.URL, r.Header)
	}
	q, err := sigv4.Parse(r)
	if err != nil {
		t.Fatal(err)
	}
	if !q.Presigned || q.Expires != time.Minute || q.AccessKeyID != akid || q.SecurityToken != "FwoGZXIvYXdzEXAMPLE+/=" ||
		q.Scope.Region != "ap-northeast-1" || q.Scope.Service != "sts" || !q.Time.Equal(signTime) {
		t.Fatalf("Parse = %+v", q)
	}
	if err := q.Verify(r, []byte(body), secret); err != nil {
		t.Errorf("Verify: %v", err)
	}
	if err := q.Verify(r, []byte(body+"&x=1"), secret); err == nil {
		t.Errorf("Verify accepted another body")
	}
	if err := q.CheckTime(signTime.Add(60*time.Second), sigv4.DefaultSkew); err != nil {
		t.Errorf("at X-Amz-Date + X-Amz-Expires: %v", err)
	}
	var e *sigv4.Error
	err = q.CheckTime(signTime.Add(61*time.Second), sigv4.DefaultSkew)
	if !errors.As(err, &e) || e.Code != sigv4.CodeSignatureMismatch || !strings.HasPrefix(e.Message, "Signature expired: 20261129T012759Z is now earlier than 20261129T012800Z") {
		t.Errorf("a second after X-Amz-Expires: %v", err)
	}

	// Without X-Amz-Expires only the skew rule applies.
	q, err = sigv4.Parse(presignedReq(t, "", ""))
	if err != nil || q.Expires != 0 {
		t.Fatalf("Parse = %+v, %v", q, err)
	}
	if err := q.CheckTime(signTime.Add(14*time.Minute), sigv4.DefaultSkew); err != nil {
		t.Errorf("14 minutes later: %v", err)
	}
	if err := q.CheckTime(signTime.Add(16*time.Minute), sigv4.DefaultSkew); err == nil {
		t.Errorf("16 minutes later: accepted")
	}
	// A week of X-Amz-Expires does not lift the skew rule.
	q, err = sigv4.Parse(presignedReq(t, "X-Amz-Expires=604800", ""))
	if err != nil || q.Expires != sigv4.MaxExpires {
		t.Fatalf("Parse = %+v, %v", q, err)
	}
	if err := q.CheckTime(signTime.Add(16*time.Minute), sigv4.DefaultSkew); err == nil {
		t.Errorf("16 minutes later with a week of X-Amz-Expires: accepted")
	}
}

func TestParsePresignedRefuses(t *testing.T) {
	good := presignedReq(t, "X-Amz-Expires=60", "").URL.Query()
	for _, tc := range []struct {
		name, code, message string
		change              func(url.Values)
	}{
		{"no signature", sigv4.CodeIncomplete, "must include 'X-Amz-Signature'", func(v url.Values) { v.Del("X-Amz-Signature") }},
		{"no date nor credential", sigv4.CodeIncomplete, "must include 'X-Amz-Credential', 'X-Amz-Date'", func(v url.Values) { v.Del("X-Amz-Date"); v.Del("X-Amz-Credential") }},
		{"two credentials", sigv4.CodeIncomplete, "given 2 times", func(v url.Values) { v.Add("X-Amz-Credential", "x") }},
		{"two expiries", sigv4.CodeIncomplete, "once each", func(v url.Values) { v.Add("X-Amz-Expires", "60") }},
		{"negative expiry", sigv4.CodeIncomplete, "from 1 to 604800", func(v url.Values) { v.Set("X-Amz-Expires", "-1") }},
		{"expiry over a week", sigv4.CodeIncomplete, "from 1 to 604800", func(v url.Values) { v.Set("X-Amz-Expires", "604801") }},
		{"HTTP date", sigv4.CodeIncomplete, "ISO-8601", func(v url.Values) { v.Set("X-Amz-Date", "Sun, 29 Nov 2026 01:27:59 GMT") }},
		{"scope date differs", sigv4.CodeSignatureMismatch, "Date in Credential scope", func(v url.Values) { v.Set("X-Amz-Date", "20261130T012759Z") }},
		{"host not signed", sigv4.CodeSignatureMismatch, "'Host'", func(v url.Values) { v.Set("X-Amz-SignedHeaders", "content-type") }},
		{"short signature", sigv4.CodeSignatureMismatch, "signature we calculated", func(v url.Values) { v.Set("X-Amz-Signature", "abcd") }},
		{"sigv4a", sigv4.CodeIncomplete, "algorithm", func(v url.Values) { v.Set("X-Amz-Algorithm", "AWS4-ECDSA-P256-SHA256") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := url.Values{}
			for k, vs := range good {
				v[k] = append([]string(nil), vs...)
			}
			tc.change(v)
			r := httptest.NewRequest("POST", "http://127.0.0.1:8080/?"+v.Encode(), strings.NewReader(body))
			q, err := sigv4.Parse(r)
			var e *sigv4.Error
			if !errors.As(err, &e) || e.Code != tc.code || !strings.Contains(e.Message, tc.message) || q != nil {
				t.Fatalf("Parse = %v, %v; want %s containing %q", q, err, tc.code, tc.message)
			}
		})
	}
	// Neither form: MissingAuthenticationToken; both: refused.
	r := httptest.NewRequest("POST", "http://127.0.0.1:8080/?Action=ListUsers", nil)
	if _, err := sigv4.Parse(r); err == nil || err.(*sigv4.Error).Code != sigv4.CodeMissingAuth {
		t.Errorf("no authentication: %v", err)
	}
	r = presignedReq(t, "", "")
	r.Header.Set("Authorization", signed(t, "us-east-1", "sts", "", nil).Header.Get("Authorization"))
	if _, err := sigv4.Parse(r); err == nil || err.(*sigv4.Error).Code != sigv4.CodeIncomplete {
		t.Errorf("both forms: %v", err)
	}
}

// FuzzParseVerify feeds arbitrary headers and bodies to the parser and
// verifier: they must never panic, and an error means a nil request.
func FuzzParseVerify(f *testing.F) {
	r := signed(f, "us-east-1", "iam", "", nil)
	f.Add(r.Header.Get("Authorization"), r.Header.Get("X-Amz-Date"), "/", "a=1&b=%2F", []byte(body))
	f.Add("AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, SignedHeaders=host, Signature=00", "20261129T012759Z", "/x%2Fy", "%zz", []byte("x"))
	f.Add("AWS4-HMAC-SHA256 ,,,==", "Sun, 29 Nov 2026 01:27:59 GMT", "//", "&&=", []byte{})
	f.Add("", "", "/", presignedReq(f, "X-Amz-Expires=60&a=%2F", "tok").URL.RawQuery, []byte(body))
	f.Add("", "", "/", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a%2Fb&X-Amz-Expires=x", []byte{})
	f.Fuzz(func(t *testing.T, auth, date, path, query string, b []byte) {
		req := httptest.NewRequest("POST", "http://h/", bytes.NewReader(b))
		req.URL.Path = path
		req.URL.RawQuery = query
		req.Header.Set("Authorization", auth)
		req.Header.Set("X-Amz-Date", date)
		q, err := sigv4.Parse(req)
		if err != nil {
			var e *sigv4.Error
			if q != nil || !errors.As(err, &e) || e.Code == "" {
				t.Fatalf("Parse = %v, %v", q, err)
			}
			return
		}
		_ = q.CheckTime(signTime, sigv4.DefaultSkew)
		if err := q.Verify(req, b, secret); err != nil {
			var e *sigv4.Error
			if !errors.As(err, &e) || e.Code != sigv4.CodeSignatureMismatch {
				t.Fatalf("Verify = %v", err)
			}
		}
	})
}

// A server parses the headers, checks the time, finds the secret for the
// access key id, then verifies the signature over the raw body.
func Example() {
	body := []byte("Action=GetCallerIdentity&Version=2011-06-15")
	r := httptest.NewRequest("POST", "http://127.0.0.1:8080/", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: akid, SecretAccessKey: secret}
	_ = v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), "sts", "eu-west-1", signTime)

	q, err := sigv4.Parse(r)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(q.AccessKeyID, q.Scope)
	fmt.Println(q.CheckTime(signTime.Add(time.Minute), sigv4.DefaultSkew))
	fmt.Println(q.Verify(r, body, secret))
	fmt.Println(q.Verify(r, body, "wrong secret").(*sigv4.Error).Code)
	// Output:
	// AKIAIOSFODNN7EXAMPLE 20261129/eu-west-1/sts/aws4_request
	// <nil>
	// <nil>
	// SignatureDoesNotMatch
}

func TestKeyCache(t *testing.T) {
	var c sigv4.KeyCache
	s := sigv4.Scope{Date: "20261129", Region: "eu-west-1", Service: "sts"}
	want := sigv4.SigningKey(secret, s)
	for range 2 {
		if got := c.SigningKey(secret, s); !bytes.Equal(got, want) {
			t.Fatalf("cached key %x, want %x", got, want)
		}
	}
	other := s
	other.Date = "20261130"
	if bytes.Equal(c.SigningKey(secret, other), want) || bytes.Equal(c.SigningKey(secret+"x", s), want) {
		t.Fatal("another date or secret gave the same key")
	}
	for i := range sigv4.MaxCachedKeys + 10 { // past the bound: forgotten, still right
		c.SigningKey(fmt.Sprint(i), s)
	}
	if !bytes.Equal(c.SigningKey(secret, s), want) {
		t.Fatal("wrong key after the cache was emptied")
	}
}

// Verifying a request leaves its headers as they came.
func TestVerifyLeavesHeaders(t *testing.T) {
	r := signed(t, "us-east-1", "iam", "", func(r *http.Request) { r.Header.Add("X-Amz-Meta-Thing", "  two  three ") })
	q, err := sigv4.Parse(r)
	if err != nil {
		t.Fatal(err)
	}
	if err := q.Verify(r, []byte(body), secret); err != nil {
		t.Fatal(err)
	}
	if got := r.Header.Get("X-Amz-Meta-Thing"); got != "  two  three " {
		t.Errorf("header now %q", got)
	}
}
