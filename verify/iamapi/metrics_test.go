package iamapi_test

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/tokenlab/tokenlab/verify/httpapi"
	"github.com/tokenlab/tokenlab/verify/iamapi"
)

// TestMetrics wires the endpoint to the JSON API's metrics, as "tokenlab
// serve" does, and scrapes them after a few calls.
func TestMetrics(t *testing.T) {
	m := httpapi.NewMetrics()
	e := newEnv(t, iamapi.Config{Observe: m.QueryRequest})
	c := e.iam(e.admin)
	for range 2 {
		must[*iam.ListUsersOutput](t)(c.ListUsers(bg, &iam.ListUsersInput{}))
	}
	_, err := c.GetUser(bg, &iam.GetUserInput{UserName: aws.String("nobody")})
	wantCode(t, err, "NoSuchEntity", 404)
	must[*sts.GetCallerIdentityOutput](t)(e.sts(e.admin).GetCallerIdentity(bg, &sts.GetCallerIdentityInput{}))
	_, err = e.sts(aws.Credentials{AccessKeyID: "AKIAUNKNOWNKEY000000", SecretAccessKey: "x"}).GetCallerIdentity(bg, &sts.GetCallerIdentityInput{})
	wantCode(t, err, "InvalidClientTokenId", 403)
	res := post(t, e.h, e.admin, "iam", "Action=CreateRole&Version=2010-05-08", nil)
	if res.Err.Code != "InvalidAction" {
		t.Fatalf("CreateRole: %+v", res)
	}

	rec := httptest.NewRecorder()
	m.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		"# TYPE tokenlab_iam_requests_total counter",
		`tokenlab_iam_requests_total{service="iam",action="ListUsers",outcome="ok"} 2`,
		`tokenlab_iam_requests_total{service="iam",action="GetUser",outcome="NoSuchEntity"} 1`,
		`tokenlab_iam_requests_total{service="sts",action="GetCallerIdentity",outcome="ok"} 1`,
		`tokenlab_iam_requests_total{service="sts",action="",outcome="InvalidClientTokenId"} 1`,
		`tokenlab_iam_requests_total{service="iam",action="",outcome="InvalidAction"} 1`,
		"# TYPE tokenlab_iam_request_duration_seconds histogram",
		`tokenlab_iam_request_duration_seconds_bucket{service="iam",action="ListUsers",le="+Inf"} 2`,
		`tokenlab_iam_request_duration_seconds_count{service="iam",action="ListUsers"} 2`,
		`tokenlab_iam_request_duration_seconds_sum{service="sts",action="GetCallerIdentity"} `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// Only actions the endpoint knows become label values.
	if strings.Contains(body, "CreateRole") {
		t.Errorf("an unknown action became a label value")
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", body)
	}
}
