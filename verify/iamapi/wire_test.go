package iamapi_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/tokenlab/tokenlab/verify/iamapi"
)

// rawResponse is what came back for a hand-made request.
type rawResponse struct {
	Status    int
	RequestID string // x-amzn-RequestId
	Body      string
	Err       struct {
		XMLName xml.Name `xml:"ErrorResponse"`
		NS      string   `xml:"xmlns,attr"`
		Type    string   `xml:"Error>Type"`
		Code    string   `xml:"Error>Code"`
		Message string   `xml:"Error>Message"`
		ReqID   string   `xml:"RequestId"`
	}
}

// post sends body to the handler, signed by creds for service (unsigned if
// creds is zero), through mutate before signing.
func post(t testing.TB, h http.Handler, creds aws.Credentials, service, body string, mutate func(*http.Request)) rawResponse {
	t.Helper()
	r := httptest.NewRequest("POST", "http://127.0.0.1:8080/", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	if mutate != nil {
		mutate(r)
	}
	if creds.AccessKeyID != "" {
		sum := sha256.Sum256([]byte(body))
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, r, hex.EncodeToString(sum[:]), service, "ap-south-1", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	res := rawResponse{Status: w.Code, RequestID: w.Header().Get("x-amzn-RequestId"), Body: w.Body.String()}
	if w.Code != 200 {
		if err := xml.Unmarshal(w.Body.Bytes(), &res.Err); err != nil {
			t.Fatalf("HTTP %d with a body that is not an ErrorResponse: %v\n%s", w.Code, err, w.Body)
		}
	}
	return res
}

func TestBadRequests(t *testing.T) {
	e := newEnv(t, iamapi.Config{MaxBody: 4096})
	const iamV, stsV = "&Version=2010-05-08", "&Version=2011-06-15"
	for _, tc := range []struct {
		name, service, body string
		unsigned            bool
		mutate              func(*http.Request)
		status              int
		code, message       string
	}{
		{name: "unknown action", service: "iam", body: "Action=CreateRole" + iamV, status: 400, code: "InvalidAction", message: "Could not find operation CreateRole for version 2010-05-08"},
		{name: "STS action sent to IAM", service: "iam", body: "Action=GetSessionToken" + iamV, status: 400, code: "InvalidAction"},
		{name: "wrong version", service: "sts", body: "Action=GetCallerIdentity" + iamV, status: 400, code: "InvalidAction"},
		{name: "no version", service: "iam", body: "Action=ListUsers", status: 400, code: "InvalidAction"},
		{name: "no action", service: "iam", body: "Version=2010-05-08", status: 400, code: "MissingAction"},
		{name: "duplicate parameter", service: "iam", body: "Action=GetUser&UserName=a&UserName=b" + iamV, status: 400, code: "InvalidQueryParameter"},
		{name: "bad percent escape", service: "iam", body: "Action=GetUser&UserName=%zz" + iamV, status: 400, code: "MalformedQueryString"},
		{name: "oversize body", service: "iam", body: "Action=ListUsers" + iamV + "&Pad=" + strings.Repeat("x", 5000), status: 413, code: "RequestEntityTooLarge"},
		{name: "missing parameter", service: "iam", body: "Action=DeleteUser" + iamV, status: 400, code: "ValidationError", message: "1 validation error detected: Value null at 'userName' failed to satisfy constraint: Member must not be null"},
		{name: "two bad parameters", service: "iam", body: "Action=EnableMFADevice&UserName=u&SerialNumber=short&AuthenticationCode1=abcdef&AuthenticationCode2=1" + iamV, status: 400, code: "ValidationError", message: "3 validation errors detected"},
		{name: "code not digits", service: "sts", body: "Action=GetSessionToken&SerialNumber=GAHT12345678&TokenCode=12a456" + stsV, status: 400, code: "ValidationError",
			message: "Value '12a456' at 'tokenCode' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\d]*"},
		{name: "bad path", service: "iam", body: "Action=CreateVirtualMFADevice&VirtualMFADeviceName=x&Path=a" + iamV, status: 400, code: "ValidationError", message: "The specified value for path is invalid."},
		{name: "MaxItems not a number", service: "iam", body: "Action=ListUsers&MaxItems=lots" + iamV, status: 400, code: "ValidationError"},
		{name: "bad enum", service: "iam", body: "Action=ListVirtualMFADevices&AssignmentStatus=Some" + iamV, status: 400, code: "ValidationError", message: "enum value set: [Assigned, Unassigned, Any]"},
		{name: "51 tags", service: "iam", body: "Action=TagMFADevice&SerialNumber=arn:aws:iam::123456789012:mfa/x" + tags(51) + iamV, status: 400, code: "ValidationError"},
		{name: "duration too short", service: "sts", body: "Action=GetSessionToken&DurationSeconds=60" + stsV, status: 400, code: "ValidationError", message: "greater than or equal to 900"},
		{name: "unsigned", service: "iam", body: "Action=ListUsers" + iamV, unsigned: true, status: 403, code: "MissingAuthenticationToken"},
		{name: "unsigned STS", service: "sts", body: "Action=GetCallerIdentity" + stsV, unsigned: true, status: 403, code: "MissingAuthenticationToken"},
		{name: "other service", service: "s3", body: "Action=ListUsers" + iamV, status: 403, code: "SignatureDoesNotMatch", message: "Credential should be scoped to correct service"},
		{name: "PUT", service: "iam", body: "", mutate: func(r *http.Request) { r.Method = "PUT" }, status: 405, code: "InvalidAction"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			creds := e.admin
			if tc.unsigned {
				creds = aws.Credentials{}
			}
			res := post(t, e.h, creds, tc.service, tc.body, tc.mutate)
			if res.Status != tc.status || res.Err.Code != tc.code || !strings.Contains(res.Err.Message, tc.message) {
				t.Fatalf("got %d %s %q, want %d %s %q", res.Status, res.Err.Code, res.Err.Message, tc.status, tc.code, tc.message)
			}
			wantNS := "https://iam.amazonaws.com/doc/2010-05-08/"
			if tc.service == "sts" {
				wantNS = "https://sts.amazonaws.com/doc/2011-06-15/"
			}
			if tc.service != "s3" && res.Err.NS != wantNS {
				t.Errorf("namespace %q, want %q", res.Err.NS, wantNS)
			}
			if res.Err.Type != "Sender" || res.RequestID == "" || res.Err.ReqID != res.RequestID {
				t.Errorf("envelope: type %q, request ids %q / %q", res.Err.Type, res.RequestID, res.Err.ReqID)
			}
		})
	}
}

func tags(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		b.WriteString("&Tags.member." + itoa(i) + ".Key=k" + itoa(i) + "&Tags.member." + itoa(i) + ".Value=v")
	}
	return b.String()
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestSuccessEnvelope(t *testing.T) {
	e := newEnv(t, iamapi.Config{})
	res := post(t, e.h, e.admin, "sts", "Action=GetCallerIdentity&Version=2011-06-15", nil)
	var out struct {
		XMLName xml.Name `xml:"https://sts.amazonaws.com/doc/2011-06-15/ GetCallerIdentityResponse"`
		Arn     string   `xml:"GetCallerIdentityResult>Arn"`
		ReqID   string   `xml:"ResponseMetadata>RequestId"`
	}
	if err := xml.Unmarshal([]byte(res.Body), &out); err != nil || res.Status != 200 {
		t.Fatalf("%d %v\n%s", res.Status, err, res.Body)
	}
	if !strings.HasSuffix(out.Arn, ":user/root-admin") || out.ReqID != res.RequestID {
		t.Errorf("got %+v, header request id %s", out, res.RequestID)
	}
}

func TestAuthentication(t *testing.T) {
	e := newEnv(t, iamapi.Config{})

	unknown := aws.Credentials{AccessKeyID: "AKIAUNKNOWNKEY000000", SecretAccessKey: "x"}
	_, err := e.iam(unknown).ListUsers(bg, &iam.ListUsersInput{})
	wantCode(t, err, "InvalidClientTokenId", 403)

	badSecret := e.admin
	badSecret.SecretAccessKey += "x"
	_, err = e.iam(badSecret).ListUsers(bg, &iam.ListUsersInput{})
	wantCode(t, err, "SignatureDoesNotMatch", 403)
	_, err = e.sts(badSecret).GetCallerIdentity(bg, &sts.GetCallerIdentityInput{})
	wantCode(t, err, "SignatureDoesNotMatch", 403)

	// A long-term key with a session token is not a session.
	withToken := e.admin
	withToken.SessionToken = "made-up"
	_, err = e.iam(withToken).ListUsers(bg, &iam.ListUsersInput{})
	wantCode(t, err, "InvalidClientTokenId", 403)
}

// TestClockSkew checks the skew window and that the SDK, seeing
// SignatureDoesNotMatch and the server's Date header, corrects its clock
// and retries, as it does against AWS.
func TestClockSkew(t *testing.T) {
	serverAhead := func() time.Time { return time.Now().Add(20 * time.Minute) }
	e := newEnv(t, iamapi.Config{Now: serverAhead})

	_, err := e.iam(e.admin, func(o *iam.Options) { o.RetryMaxAttempts = 1 }).ListUsers(bg, &iam.ListUsersInput{})
	wantCode(t, err, "SignatureDoesNotMatch", 403)
	if !strings.Contains(err.Error(), "Signature expired: ") || !strings.Contains(err.Error(), " - 15 min.)") {
		t.Errorf("message: %v", err)
	}
	if _, err := e.iam(e.admin).ListUsers(bg, &iam.ListUsersInput{}); err != nil {
		t.Errorf("the SDK did not recover from the skew: %v", err)
	}

	within := newEnv(t, iamapi.Config{Now: func() time.Time { return time.Now().Add(-14 * time.Minute) }})
	if _, err := within.sts(within.admin).GetCallerIdentity(bg, &sts.GetCallerIdentityInput{}); err != nil {
		t.Errorf("14 minutes of skew: %v", err)
	}
}

// FuzzHandler sends arbitrary bodies, signed and unsigned, with arbitrary
// Authorization headers: the answer is always an XML envelope and never a
// server fault.
func FuzzHandler(f *testing.F) {
	f.Add("Action=ListUsers&Version=2010-05-08", true, "")
	f.Add("Action=GetSessionToken&Version=2011-06-15&SerialNumber=GAHT12345678&TokenCode=123456", true, "")
	f.Add("Action=EnableMFADevice&Version=2010-05-08&UserName=root-admin&SerialNumber=GAHT12345678&AuthenticationCode1=123456&AuthenticationCode2=654321", true, "")
	f.Add("Action=TagMFADevice&Version=2010-05-08&SerialNumber=arn:aws:iam::123456789012:mfa/x&Tags.member.1.Key=a&Tags.member.2.Value=b", true, "")
	f.Add("Action=ListMFADeviceTags&Version=2010-05-08&SerialNumber=arn:aws:iam::123456789012:mfa/x&Marker=%00&MaxItems=0", true, "")
	f.Add("%%%&&==;", true, "")
	f.Add("Action=ListUsers&Version=2010-05-08", false, "AWS4-HMAC-SHA256 Credential=AKIA/20261129/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=00")
	f.Add("Action=CreateUser&Version=2010-05-08&UserName=\xff", true, "")
	e := newEnv(f, iamapi.Config{})
	f.Fuzz(func(t *testing.T, body string, sign bool, auth string) {
		creds := aws.Credentials{}
		if sign {
			creds = e.admin
		}
		res := post(t, e.h, creds, "iam", body, func(r *http.Request) {
			if auth != "" {
				r.Header.Set("Authorization", auth)
				r.Header.Set("X-Amz-Date", time.Now().UTC().Format("20060102T150405Z"))
			}
		})
		if res.Status >= 500 {
			t.Fatalf("server fault %d: %s", res.Status, res.Body)
		}
		if res.Status == 200 && !strings.Contains(res.Body, "<ResponseMetadata><RequestId>") {
			t.Fatalf("success without metadata: %s", res.Body)
		}
	})
}

// FuzzActions sends every known action, properly signed, with arbitrary
// parameters, so the fuzzer reaches the actions and the verifier behind
// them: still never a server fault.
func FuzzActions(f *testing.F) {
	iamActions := []string{"CreateUser", "GetUser", "ListUsers", "DeleteUser", "CreateAccessKey", "DeleteAccessKey", "ListAccessKeys",
		"CreateVirtualMFADevice", "DeleteVirtualMFADevice", "ListVirtualMFADevices", "EnableMFADevice", "ResyncMFADevice",
		"DeactivateMFADevice", "ListMFADevices", "GetMFADevice", "TagMFADevice", "UntagMFADevice", "ListMFADeviceTags"}
	f.Add(uint8(0), "UserName=alice&Path=/a/")
	f.Add(uint8(7), "VirtualMFADeviceName=p&Tags.member.1.Key=k&Tags.member.1.Value=v")
	f.Add(uint8(10), "UserName=root-admin&SerialNumber=arn:aws:iam::123456789012:mfa/p&AuthenticationCode1=123456&AuthenticationCode2=234567")
	f.Add(uint8(13), "MaxItems=1&Marker=zz")
	f.Add(uint8(17), "SerialNumber=arn:aws:iam::123456789012:mfa/p&MaxItems=1000&Marker=k")
	f.Add(uint8(18), "SerialNumber=GAHT12345678&TokenCode=123456&DurationSeconds=900")
	f.Add(uint8(19), "")
	e := newEnv(f, iamapi.Config{})
	f.Fuzz(func(t *testing.T, which uint8, params string) {
		service, action, version := "iam", "", "2010-05-08"
		switch n := int(which) % (len(iamActions) + 2); {
		case n < len(iamActions):
			action = iamActions[n]
		case n == len(iamActions):
			service, action, version = "sts", "GetSessionToken", "2011-06-15"
		default:
			service, action, version = "sts", "GetCallerIdentity", "2011-06-15"
		}
		body := "Action=" + action + "&Version=" + version
		if params != "" {
			body += "&" + params
		}
		res := post(t, e.h, e.admin, service, body, nil)
		if res.Status >= 500 {
			t.Fatalf("server fault %d: %s", res.Status, res.Body)
		}
	})
}
