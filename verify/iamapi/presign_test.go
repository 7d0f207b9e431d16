package iamapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify/iamapi"
)

// presigned is a request presigned by the AWS SDK's signer (PresignHTTP):
// its URL, the headers it signed, and the body to send.
type presigned struct {
	url    string
	header http.Header
	body   string
}

// presign presigns a POST of body to the endpoint for service, signed at
// at, with X-Amz-Expires expires ("" for none) and payloadHash ("" for the
// body's SHA-256).
func (e *env) presign(creds aws.Credentials, service, body string, at time.Time, expires, payloadHash string) presigned {
	e.t.Helper()
	u := e.srv.URL + "/"
	if expires != "" {
		u += "?X-Amz-Expires=" + expires
	}
	r, err := http.NewRequest("POST", u, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	if payloadHash == "" {
		sum := sha256.Sum256([]byte(body))
		payloadHash = hex.EncodeToString(sum[:])
	}
	signedURL, hdr, err := v4.NewSigner().PresignHTTP(context.Background(), creds, r, payloadHash, service, "eu-central-1", at)
	if err != nil {
		e.t.Fatal(err)
	}
	return presigned{url: signedURL, header: hdr, body: body}
}

// send posts p (after mutate, if any) and returns the answer.
func (e *env) send(p presigned, mutate func(*http.Request)) rawResponse {
	e.t.Helper()
	r, err := http.NewRequest("POST", p.url, strings.NewReader(p.body))
	if err != nil {
		e.t.Fatal(err)
	}
	for k, vs := range p.header {
		if k != "Host" {
			r.Header[k] = vs
		}
	}
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	if mutate != nil {
		mutate(r)
	}
	resp, err := e.srv.Client().Do(r)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	res := rawResponse{Status: resp.StatusCode, RequestID: resp.Header.Get("x-amzn-RequestId"), Body: string(b)}
	if res.Status != 200 {
		if err := xml.Unmarshal(b, &res.Err); err != nil {
			e.t.Fatalf("HTTP %d with a body that is not an ErrorResponse: %v\n%s", res.Status, err, b)
		}
	}
	return res
}

func wantOK(t *testing.T, res rawResponse, in string) {
	t.Helper()
	if res.Status != 200 || !strings.Contains(res.Body, in) {
		t.Fatalf("HTTP %d %s: %s, want 200 with %s", res.Status, res.Err.Code, res.Err.Message, in)
	}
}

func wantErr(t *testing.T, res rawResponse, status int, code, inMessage string) {
	t.Helper()
	if res.Status != status || res.Err.Code != code || !strings.Contains(res.Err.Message, inMessage) {
		t.Fatalf("HTTP %d %s (%s), want %d %s with %q", res.Status, res.Err.Code, res.Err.Message, status, code, inMessage)
	}
}

// TestPresigned sends requests presigned with the SDK's v4 signer
// (query-string authentication) to the endpoint.
func TestPresigned(t *testing.T) {
	e := newEnv(t, iamapi.Config{})
	const (
		callerIdentity = "Action=GetCallerIdentity&Version=2011-06-15"
		listUsers      = "Action=ListUsers&Version=2010-05-08"
	)
	now := time.Now()

	t.Run("STS", func(t *testing.T) {
		res := e.send(e.presign(e.admin, "sts", callerIdentity, now, "300", ""), nil)
		wantOK(t, res, "<Arn>arn:aws:iam::"+token.DefaultAccount+":user/root-admin</Arn>")
	})
	t.Run("IAM without X-Amz-Expires", func(t *testing.T) {
		wantOK(t, e.send(e.presign(e.admin, "iam", listUsers, now, "", ""), nil), "<UserName>root-admin</UserName>")
	})
	t.Run("parameters in the URL", func(t *testing.T) {
		p := e.presign(e.admin, "sts", "", now, "60", "")
		p.url += "&Action=GetCallerIdentity&Version=2011-06-15" // not signed: refused
		wantErr(t, e.send(p, nil), 403, "SignatureDoesNotMatch", "signature we calculated")

		r, _ := http.NewRequest("POST", e.srv.URL+"/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Expires=60", nil)
		sum := sha256.Sum256(nil)
		u, hdr, err := v4.NewSigner().PresignHTTP(bg, e.admin, r, hex.EncodeToString(sum[:]), "sts", "eu-central-1", now)
		if err != nil {
			t.Fatal(err)
		}
		wantOK(t, e.send(presigned{url: u, header: hdr}, nil), ":user/root-admin</Arn>")
	})
	t.Run("session credentials", func(t *testing.T) {
		sess := e.session(t)
		wantOK(t, e.send(e.presign(sess, "sts", callerIdentity, time.Now(), "60", ""), nil), ":user/presigner</Arn>")
		// The security token is part of the presigned URL, and signed.
		p := e.presign(sess, "sts", callerIdentity, time.Now(), "60", "")
		if !strings.Contains(p.url, "X-Amz-Security-Token=") {
			t.Fatalf("no X-Amz-Security-Token in %s", p.url)
		}
		wantErr(t, e.send(withQuery(t, p, "X-Amz-Security-Token", "wrong"), nil), 403, "InvalidClientTokenId", "")
		noToken := sess
		noToken.SessionToken = ""
		wantErr(t, e.send(e.presign(noToken, "sts", callerIdentity, time.Now(), "60", ""), nil), 403, "InvalidClientTokenId", "")
	})

	for _, tc := range []struct {
		name      string
		creds     aws.Credentials
		at        time.Time
		expires   string
		hash      string
		change    func(t *testing.T, p presigned) presigned
		mutate    func(*http.Request)
		status    int
		code      string
		inMessage string
	}{
		{name: "body changed", change: func(t *testing.T, p presigned) presigned { p.body = listUsers + "&PathPrefix=/x/"; return p },
			status: 403, code: "SignatureDoesNotMatch", inMessage: "signature we calculated"},
		{name: "X-Amz-Expires raised", change: func(t *testing.T, p presigned) presigned { return withQuery(t, p, "X-Amz-Expires", "600") },
			status: 403, code: "SignatureDoesNotMatch"},
		{name: "signature changed", change: func(t *testing.T, p presigned) presigned {
			sig := queryOf(t, p).Get("X-Amz-Signature")
			return withQuery(t, p, "X-Amz-Signature", strings.Repeat("0", 8)+sig[8:])
		}, status: 403, code: "SignatureDoesNotMatch"},
		{name: "signed header changed", mutate: func(r *http.Request) { r.Host = "localhost.localdomain" },
			status: 403, code: "SignatureDoesNotMatch"},
		{name: "UNSIGNED-PAYLOAD", hash: "UNSIGNED-PAYLOAD", status: 403, code: "SignatureDoesNotMatch"},
		{name: "wrong secret", creds: aws.Credentials{AccessKeyID: e.admin.AccessKeyID, SecretAccessKey: "not-the-secret"},
			status: 403, code: "SignatureDoesNotMatch"},
		{name: "unknown key", creds: aws.Credentials{AccessKeyID: "AKIAUNKNOWNKEY000000", SecretAccessKey: "x"},
			status: 403, code: "InvalidClientTokenId"},
		{name: "X-Amz-Expires passed", at: now.Add(-2 * time.Minute), expires: "60",
			status: 403, code: "SignatureDoesNotMatch", inMessage: "Signature expired"},
		{name: "older than the skew window despite X-Amz-Expires", at: now.Add(-20 * time.Minute), expires: "3600",
			status: 403, code: "SignatureDoesNotMatch", inMessage: "- 15 min.)"},
		{name: "signed in the future", at: now.Add(20 * time.Minute), expires: "60",
			status: 403, code: "SignatureDoesNotMatch", inMessage: "not yet current"},
		{name: "X-Amz-Expires zero", expires: "0", status: 400, code: "IncompleteSignature", inMessage: "X-Amz-Expires"},
		{name: "X-Amz-Expires over a week", expires: "604801", status: 400, code: "IncompleteSignature", inMessage: "604800"},
		{name: "X-Amz-Expires not a number", expires: "soon", status: 400, code: "IncompleteSignature", inMessage: "X-Amz-Expires"},
		{name: "X-Amz-Signature missing", change: func(t *testing.T, p presigned) presigned { return withQuery(t, p, "X-Amz-Signature", "") },
			status: 400, code: "IncompleteSignature", inMessage: "'X-Amz-Signature'"},
		{name: "X-Amz-Credential missing", change: func(t *testing.T, p presigned) presigned { return withQuery(t, p, "X-Amz-Credential", "") },
			status: 400, code: "IncompleteSignature", inMessage: "'X-Amz-Credential'"},
		{name: "X-Amz-Signature twice", change: func(t *testing.T, p presigned) presigned {
			p.url += "&X-Amz-Signature=" + queryOf(t, p).Get("X-Amz-Signature")
			return p
		},
			status: 400, code: "IncompleteSignature"},
		{name: "X-Amz-Date malformed", change: func(t *testing.T, p presigned) presigned { return withQuery(t, p, "X-Amz-Date", "yesterday") },
			status: 400, code: "IncompleteSignature", inMessage: "ISO-8601"},
		{name: "other algorithm", change: func(t *testing.T, p presigned) presigned { return withQuery(t, p, "X-Amz-Algorithm", "AWS4-HMAC-SHA1") },
			status: 400, code: "IncompleteSignature", inMessage: "algorithm"},
		{name: "Authorization header as well", mutate: func(r *http.Request) {
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=00")
		}, status: 400, code: "IncompleteSignature", inMessage: "not both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			creds, at, expires := tc.creds, tc.at, tc.expires
			if creds.AccessKeyID == "" {
				creds = e.admin
			}
			if at.IsZero() {
				at = now
			}
			if expires == "" {
				expires = "300"
			}
			p := e.presign(creds, "iam", listUsers, at, expires, tc.hash)
			if tc.change != nil {
				p = tc.change(t, p)
			}
			wantErr(t, e.send(p, tc.mutate), tc.status, tc.code, tc.inMessage)
		})
	}
}

func queryOf(t *testing.T, p presigned) url.Values {
	t.Helper()
	u, err := url.Parse(p.url)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// withQuery sets (or, with v empty, deletes) the query parameter k of p's URL.
func withQuery(t *testing.T, p presigned, k, v string) presigned {
	t.Helper()
	u, err := url.Parse(p.url)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if v == "" {
		q.Del(k)
	} else {
		q.Set(k, v)
	}
	u.RawQuery = q.Encode()
	p.url = u.String()
	return p
}

// session returns MFA session credentials of a new user, presigner.
func (e *env) session(t *testing.T) aws.Credentials {
	t.Helper()
	c := e.iam(e.admin)
	must[*iam.CreateUserOutput](t)(c.CreateUser(bg, &iam.CreateUserInput{UserName: aws.String("presigner")}))
	cv := must[*iam.CreateVirtualMFADeviceOutput](t)(c.CreateVirtualMFADevice(bg, &iam.CreateVirtualMFADeviceInput{VirtualMFADeviceName: aws.String("presigner")}))
	seed := must[token.Seed](t)(token.ParseBase32Seed(string(cv.VirtualMFADevice.Base32StringSeed)))
	codes := e.codes(seed, -1, 2)
	must[*iam.EnableMFADeviceOutput](t)(c.EnableMFADevice(bg, &iam.EnableMFADeviceInput{UserName: aws.String("presigner"), SerialNumber: cv.VirtualMFADevice.SerialNumber, AuthenticationCode1: aws.String(codes[0]), AuthenticationCode2: aws.String(codes[1])}))
	e.clock.Step()
	out := must[*sts.GetSessionTokenOutput](t)(e.sts(e.key("presigner")).GetSessionToken(bg, &sts.GetSessionTokenInput{SerialNumber: cv.VirtualMFADevice.SerialNumber, TokenCode: aws.String(e.codes(seed, 0, 1)[0])}))
	return credsOf(out)
}

// GET works as POST does: a presigned GetCallerIdentity URL with everything
// in its query (as Kubernetes authenticators build them), and a GET signed
// in its headers; changing the method breaks the signature.
func TestGet(t *testing.T) {
	e := newEnv(t, iamapi.Config{})
	sum := sha256.Sum256(nil)
	empty := hex.EncodeToString(sum[:])
	get := func(u string, hdr http.Header) rawResponse {
		r, err := http.NewRequest("GET", u, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, vs := range hdr {
			if k != "Host" {
				r.Header[k] = vs
			}
		}
		resp, err := e.srv.Client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		res := rawResponse{Status: resp.StatusCode, Body: string(b)}
		if res.Status != 200 {
			if err := xml.Unmarshal(b, &res.Err); err != nil {
				t.Fatalf("HTTP %d: %s", res.Status, b)
			}
		}
		return res
	}

	r, _ := http.NewRequest("GET", e.srv.URL+"/?Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Expires=60", nil)
	u, hdr, err := v4.NewSigner().PresignHTTP(bg, e.admin, r, empty, "sts", "us-east-1", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	wantOK(t, get(u, hdr), ":user/root-admin</Arn>")
	// The same URL posted is another request: its signature does not hold.
	wantErr(t, e.send(presigned{url: u, header: hdr}, nil), 403, "SignatureDoesNotMatch", "")

	r, _ = http.NewRequest("GET", e.srv.URL+"/?Action=ListUsers&Version=2010-05-08", nil)
	if err := v4.NewSigner().SignHTTP(bg, e.admin, r, empty, "iam", "us-east-1", time.Now()); err != nil {
		t.Fatal(err)
	}
	wantOK(t, get(r.URL.String(), r.Header), "<UserName>root-admin</UserName>")
}
