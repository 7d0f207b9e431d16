package iamapi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/tokenlab/tokenlab/verify"
)

const (
	// AdminUser is the administrator Bootstrap creates.
	AdminUser = "tokenlab-admin"
	// CredentialsFile is the name of the AWS shared-credentials file
	// Bootstrap writes into the data directory.
	CredentialsFile = "aws-credentials"
	// Profile is the profile name in that file.
	Profile = "tokenlab"
	// Region is the region the file names, so the AWS CLI runs without
	// a config file (botocore reads region from the credentials file too);
	// the endpoint accepts whatever region a client signs with.
	Region = "us-east-1"
)

// Bootstrap makes sure dataDir/aws-credentials holds a working access key
// of an administrator, creating the user [AdminUser] and a key when
// needed, so that
//
//	AWS_SHARED_CREDENTIALS_FILE=DATADIR/aws-credentials AWS_PROFILE=tokenlab \
//	    aws --endpoint-url http://127.0.0.1:PORT iam list-users
//
// works at once. It is idempotent: when the file's key is still known to v
// it changes nothing but the file's mode (0600).
func Bootstrap(ctx context.Context, v verify.Verifier, dataDir string) error {
	ctx = verify.WithActor(ctx, verify.Actor{Name: "tokenlab serve", Source: "cli"})
	path := filepath.Join(dataDir, CredentialsFile)
	if id, secret, err := readCredentials(path); err == nil {
		k, err := v.LookupAccessKey(ctx, id)
		if err == nil && k.Secret == secret && k.User == AdminUser {
			return os.Chmod(path, 0o600)
		}
		if err != nil && verify.CodeOf(err) != verify.ENOTFOUND && verify.CodeOf(err) != verify.EUNAUTHORIZED {
			return fmt.Errorf("iamapi: bootstrap: %w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("iamapi: bootstrap: %w", err)
	}

	u, err := v.GetUser(ctx, AdminUser)
	if verify.CodeOf(err) == verify.ENOTFOUND {
		u, err = v.CreateUser(ctx, AdminUser, verify.UserOptions{Admin: true})
	}
	if err != nil {
		return fmt.Errorf("iamapi: bootstrap: %w", err)
	}
	if !u.Admin {
		return fmt.Errorf("iamapi: bootstrap: user %s exists but is not an administrator", AdminUser)
	}
	k, err := v.CreateAccessKey(ctx, AdminUser)
	if verify.CodeOf(err) == verify.ELIMIT {
		// The file was lost but its keys remain: retire the oldest.
		keys, lerr := v.ListAccessKeys(ctx, AdminUser)
		if lerr != nil {
			return fmt.Errorf("iamapi: bootstrap: %w", lerr)
		}
		keys = slices.DeleteFunc(keys, func(k verify.AccessKey) bool { return k.SessionToken != "" })
		if len(keys) == 0 {
			return fmt.Errorf("iamapi: bootstrap: %w", err)
		}
		oldest := slices.MinFunc(keys, func(a, b verify.AccessKey) int { return a.CreatedAt.Compare(b.CreatedAt) })
		if err := v.DeleteAccessKey(ctx, AdminUser, oldest.ID); err != nil {
			return fmt.Errorf("iamapi: bootstrap: %w", err)
		}
		k, err = v.CreateAccessKey(ctx, AdminUser)
	}
	if err != nil {
		return fmt.Errorf("iamapi: bootstrap: %w", err)
	}
	return writeCredentials(path, k.ID, k.Secret)
}

// writeCredentials replaces path, atomically and with mode 0600, by a
// shared-credentials file with the tokenlab profile.
func writeCredentials(path, id, secret string) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".aws-credentials-*") // mode 0600
	if err != nil {
		return fmt.Errorf("iamapi: bootstrap: %w", err)
	}
	defer os.Remove(f.Name()) // a no-op after the rename
	content := "# Written by tokenlab serve: the administrator's key for its IAM/STS endpoint.\n" +
		"#   AWS_SHARED_CREDENTIALS_FILE=" + path + " AWS_PROFILE=" + Profile + " aws --endpoint-url http://HOST:PORT iam list-users\n" +
		"[" + Profile + "]\n" +
		"aws_access_key_id = " + id + "\n" +
		"aws_secret_access_key = " + secret + "\n" +
		"region = " + Region + "\n"
	_, err = f.WriteString(content)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("iamapi: bootstrap: %w", err)
	}
	return nil
}

// readCredentials reads the tokenlab profile's key from a shared-credentials file.
func readCredentials(path string) (id, secret string, err error) {
	f, err := os.Open(path)
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			in = line == "["+Profile+"]"
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !in || !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "aws_access_key_id":
			id = strings.TrimSpace(v)
		case "aws_secret_access_key":
			secret = strings.TrimSpace(v)
		}
	}
	if err := sc.Err(); err != nil {
		return "", "", err
	}
	if id == "" || secret == "" {
		return "", "", fmt.Errorf("%s has no %s profile with a key", path, Profile)
	}
	return id, secret, nil
}
