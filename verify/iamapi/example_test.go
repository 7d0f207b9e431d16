package iamapi_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/iamapi"
	"github.com/tokenlab/tokenlab/verify/seal"
	"github.com/tokenlab/tokenlab/verify/sqlite"
)

// A server mounts the handler on POST / beside its other routes, after
// Bootstrap has written the administrator's credentials file; the AWS SDK
// then works with nothing but that file and the endpoint's URL.
func Example() {
	ctx := context.Background()
	dataDir, _ := os.MkdirTemp("", "tokenlab-example")
	defer os.RemoveAll(dataDir)
	store, err := sqlite.Open(filepath.Join(dataDir, "tokenlab.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	sealer, err := seal.LoadOrCreateKEK(filepath.Join(dataDir, "kek"))
	if err != nil {
		log.Fatal(err)
	}
	v := verify.New(store, sealer, verify.Config{})

	if err := iamapi.Bootstrap(ctx, v, dataDir); err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /{$}", iamapi.New(v, iamapi.Config{}))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithSharedCredentialsFiles([]string{filepath.Join(dataDir, iamapi.CredentialsFile)}),
		config.WithSharedConfigProfile(iamapi.Profile))
	if err != nil {
		log.Fatal(err)
	}
	c := iam.NewFromConfig(cfg, func(o *iam.Options) { o.BaseEndpoint = aws.String(srv.URL) })
	out, err := c.CreateUser(ctx, &iam.CreateUserInput{UserName: aws.String("alice")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(*out.User.Arn)
	// Output: arn:aws:iam::123456789012:user/alice
}
