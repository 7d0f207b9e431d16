package iamapi_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/tokenlab/tokenlab/verify/iamapi"
)

func TestBootstrap(t *testing.T) {
	e := newEnv(t, iamapi.Config{})
	dir := t.TempDir()
	path := filepath.Join(dir, iamapi.CredentialsFile)
	if err := iamapi.Bootstrap(bg, e.v, dir); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v, mode %v", err, st.Mode())
	}
	first, _ := os.ReadFile(path)

	// The SDK's own shared-config loader finds key and region in it.
	cfg, err := config.LoadDefaultConfig(bg,
		config.WithSharedCredentialsFiles([]string{path}),
		config.WithSharedConfigFiles([]string{filepath.Join(dir, "no-config")}),
		config.WithSharedConfigProfile(iamapi.Profile))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Region != iamapi.Region {
		t.Errorf("region from the credentials file = %q", cfg.Region)
	}
	c := iam.NewFromConfig(cfg, func(o *iam.Options) { o.BaseEndpoint = aws.String(e.srv.URL) })
	u := must[*iam.GetUserOutput](t)(c.GetUser(bg, &iam.GetUserInput{}))
	if *u.User.UserName != iamapi.AdminUser {
		t.Errorf("the key belongs to %s", *u.User.UserName)
	}
	must[*iam.ListUsersOutput](t)(c.ListUsers(bg, &iam.ListUsersInput{}))

	// Idempotent: a second start keeps the file as it is.
	os.Chmod(path, 0o644)
	if err := iamapi.Bootstrap(bg, e.v, dir); err != nil {
		t.Fatal(err)
	}
	again, _ := os.ReadFile(path)
	st, _ = os.Stat(path)
	if string(again) != string(first) || st.Mode().Perm() != 0o600 {
		t.Errorf("second Bootstrap changed the file (mode %v)", st.Mode())
	}

	// A key the verifier no longer knows is replaced, and the file lost
	// twice does not hit the two-keys-per-user limit.
	id := strings.Fields(strings.SplitAfter(string(first), "aws_access_key_id = ")[1])[0]
	if err := e.v.DeleteAccessKey(bg, iamapi.AdminUser, id); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := iamapi.Bootstrap(bg, e.v, dir); err != nil {
			t.Fatal(err)
		}
		os.Remove(path)
	}
	if err := iamapi.Bootstrap(bg, e.v, dir); err != nil {
		t.Fatal(err)
	}
	cfg, err = config.LoadDefaultConfig(bg, config.WithSharedCredentialsFiles([]string{path}), config.WithSharedConfigProfile(iamapi.Profile))
	if err != nil {
		t.Fatal(err)
	}
	must[*iam.GetUserOutput](t)(iam.NewFromConfig(cfg, func(o *iam.Options) { o.BaseEndpoint = aws.String(e.srv.URL) }).GetUser(bg, &iam.GetUserInput{}))
}
