package console_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/tokenlab/tokenlab/verify/httpapi"
	"github.com/tokenlab/tokenlab/verify/iamapi"
)

// The JSON API and the IAM endpoint refuse to enable a FIDO key, saying
// it is console-only; both list it as the user's device.
func TestAPIsRefuseFIDO(t *testing.T) {
	e := newEnv(t)
	c, _ := e.client("alice")
	arn, err := c.Enroll(e.ctx, newKey(t, ""), "api-key")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("json api", func(t *testing.T) {
		tok, err := e.svc.CreateAPIToken(e.ctx, "ops")
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(httpapi.New(e.svc, httpapi.Config{}))
		defer srv.Close()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/mfa/enable",
			strings.NewReader(`{"user":"alice","device":"`+arn+`","code1":"123456","code2":"234567"}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		r, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b := body(t, r)
		if r.StatusCode != http.StatusBadRequest || !strings.Contains(b, "console-only") {
			t.Fatalf("enable of a FIDO key: %d %s", r.StatusCode, b)
		}
		req, _ = http.NewRequest(http.MethodGet, srv.URL+"/api/v1/users/alice/devices", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		r, err = srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if b := body(t, r); !strings.Contains(b, arn) || !strings.Contains(b, `"fido"`) {
			t.Fatalf("device list: %s", b)
		}
	})

	t.Run("iam", func(t *testing.T) {
		k, err := e.svc.CreateAccessKey(e.ctx, "root")
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(iamapi.New(e.svc, iamapi.Config{}))
		defer srv.Close()
		cl := iam.New(iam.Options{BaseEndpoint: aws.String(srv.URL), Region: "us-east-1", HTTPClient: srv.Client(),
			Credentials: credentials.StaticCredentialsProvider{Value: aws.Credentials{AccessKeyID: k.ID, SecretAccessKey: k.Secret}}})
		_, err = cl.EnableMFADevice(e.ctx, &iam.EnableMFADeviceInput{UserName: aws.String("alice"), SerialNumber: aws.String(arn),
			AuthenticationCode1: aws.String("123456"), AuthenticationCode2: aws.String("234567")})
		if err == nil || !strings.Contains(err.Error(), "console-only") {
			t.Fatalf("IAM EnableMFADevice of a FIDO key: %v", err)
		}
		t.Log(err)
		out, err := cl.ListMFADevices(e.ctx, &iam.ListMFADevicesInput{UserName: aws.String("alice")})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.MFADevices) != 1 || aws.ToString(out.MFADevices[0].SerialNumber) != arn {
			t.Fatalf("ListMFADevices: %+v", out.MFADevices)
		}
	})
}
