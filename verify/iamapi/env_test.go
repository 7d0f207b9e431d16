package iamapi_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"

	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/iamapi"
)

// clock is the verifier's clock in tests: real time plus an offset the
// test moves in whole TOTP steps, so that each session needs a fresh code
// while SigV4 times (signed by the SDK with the real clock) stay valid.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Step moves the clock to the start of the next TOTP step (plus a second).
func (c *clock) Step() {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now().Add(c.offset)
	next := now.Truncate(30 * time.Second).Add(30*time.Second + time.Second)
	c.offset += next.Sub(now)
}

// Advance moves the clock forward by d.
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// env is an IAM/STS endpoint over a verifier, served by httptest, with an
// administrator key.
type env struct {
	t     testing.TB
	v     verify.Verifier
	clock *clock
	srv   *httptest.Server
	admin aws.Credentials
	h     *iamapi.Handler
}

func newEnv(t testing.TB, cfg iamapi.Config) *env {
	t.Helper()
	e := &env{t: t, clock: &clock{}}
	e.v = newVerifier(t, e.clock.Now)
	e.h = iamapi.New(e.v, cfg)
	e.srv = httptest.NewServer(e.h)
	t.Cleanup(e.srv.Close)
	ctx := context.Background()
	if _, err := e.v.CreateUser(ctx, "root-admin", verify.UserOptions{Admin: true}); err != nil {
		t.Fatal(err)
	}
	e.admin = e.key("root-admin")
	return e
}

// key creates an access key for user, straight in the verifier.
func (e *env) key(user string) aws.Credentials {
	e.t.Helper()
	k, err := e.v.CreateAccessKey(context.Background(), user)
	if err != nil {
		e.t.Fatal(err)
	}
	return aws.Credentials{AccessKeyID: k.ID, SecretAccessKey: k.Secret}
}

func (e *env) iam(c aws.Credentials, opts ...func(*iam.Options)) *iam.Client {
	return iam.New(iam.Options{
		BaseEndpoint: aws.String(e.srv.URL),
		Region:       "eu-west-1", // any region: the endpoint takes the one the client signs with
		Credentials:  credentials.StaticCredentialsProvider{Value: c},
		HTTPClient:   e.srv.Client(),
	}, opts...)
}

func (e *env) sts(c aws.Credentials, opts ...func(*sts.Options)) *sts.Client {
	return sts.New(sts.Options{
		BaseEndpoint: aws.String(e.srv.URL),
		Region:       "us-west-2",
		Credentials:  credentials.StaticCredentialsProvider{Value: c},
		HTTPClient:   e.srv.Client(),
	}, opts...)
}

// importTokens puts hardware tokens with seeds into the inventory.
func (e *env) importTokens(recs ...verify.TokenRecord) {
	e.t.Helper()
	_, err := e.v.ImportTokens(context.Background(), verify.TokenList(recs...))
	if err != nil {
		e.t.Fatal(err)
	}
}

// codes returns n consecutive codes of seed, the first at the current step
// of the verifier's clock shifted by steps.
func (e *env) codes(seed token.Seed, steps int64, n int) []string {
	s := int64(token.DefaultSpec.Step(e.clock.Now())) + steps
	var out []string
	for i := range int64(n) {
		out = append(out, token.DefaultSpec.HOTP(seed, uint64(s+i)))
	}
	return out
}

// wantCode fails unless err is an API error with code (and, if given,
// HTTP status).
func wantCode(t testing.TB, err error, code string, status int) {
	t.Helper()
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("got %v, want API error %s", err, code)
	}
	if ae.ErrorCode() != code {
		t.Fatalf("got %s (%s), want %s", ae.ErrorCode(), ae.ErrorMessage(), code)
	}
	if status != 0 {
		var re interface{ HTTPStatusCode() int }
		if errors.As(err, &re) && re.HTTPStatusCode() != status {
			t.Fatalf("%s: HTTP %d, want %d", code, re.HTTPStatusCode(), status)
		}
	}
}

func must[T any](t testing.TB) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

var bg = context.Background()

var _ http.Handler = (*iamapi.Handler)(nil)

// panicky is a verifier whose user listing panics.
type panicky struct{ verify.Verifier }

func (panicky) ListUsers(context.Context, string, verify.Page) ([]verify.User, string, error) {
	panic("boom")
}

// A panic in an action is IAM's ServiceFailure (500, XML), not a dropped
// connection, and the endpoint keeps serving.
func TestPanicIsServiceFailure(t *testing.T) {
	e := newEnv(t, iamapi.Config{})
	h := iamapi.New(panicky{e.v}, iamapi.Config{Now: e.clock.Now, Log: slog.New(slog.DiscardHandler)})
	srv := httptest.NewServer(h)
	defer srv.Close()
	c := iam.New(iam.Options{BaseEndpoint: aws.String(srv.URL), Region: "us-east-1",
		Credentials: credentials.StaticCredentialsProvider{Value: e.admin}, HTTPClient: srv.Client(), RetryMaxAttempts: 1})
	for range 2 {
		_, err := c.ListUsers(context.Background(), &iam.ListUsersInput{})
		var ae smithy.APIError
		if !errors.As(err, &ae) || ae.ErrorCode() != "ServiceFailure" {
			t.Fatalf("ListUsers with a panicking verifier = %v, want ServiceFailure", err)
		}
		var re interface{ HTTPStatusCode() int }
		if !errors.As(err, &re) || re.HTTPStatusCode() != 500 {
			t.Fatalf("status = %v", err)
		}
	}
	if _, err := c.GetUser(context.Background(), &iam.GetUserInput{}); err != nil {
		t.Fatalf("GetUser after the panics: %v", err)
	}
}
