//go:build tools

// Package deps pins the modules DESIGN.md chooses, so go mod tidy keeps them
// while the packages that use them are still being written. Remove a line
// once a real import of that module exists.
package deps

import (
	_ "github.com/aws/aws-sdk-go-v2/aws"
	_ "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	_ "github.com/aws/aws-sdk-go-v2/config"
	_ "github.com/aws/aws-sdk-go-v2/credentials"
	_ "github.com/aws/aws-sdk-go-v2/service/iam"
	_ "github.com/aws/aws-sdk-go-v2/service/sts"
	_ "github.com/boombuler/barcode/code128"
	_ "github.com/boombuler/barcode/qr"
	_ "github.com/chromedp/chromedp"
	_ "github.com/fxamacker/cbor/v2"
	_ "github.com/go-pdf/fpdf"
	_ "github.com/go-webauthn/webauthn/webauthn"
	_ "github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/karalabe/hid"
	_ "github.com/pquerna/otp/totp"
	_ "github.com/rogpeppe/go-internal/testscript"
	_ "github.com/schollz/progressbar/v3"
	_ "golang.org/x/crypto/argon2"
	_ "golang.org/x/crypto/pbkdf2"
	_ "golang.org/x/sync/errgroup"
	_ "golang.org/x/term"
	_ "modernc.org/sqlite"
)
