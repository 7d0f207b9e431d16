package iamapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"github.com/tokenlab/tokenlab/internal/testtool"
	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify/iamapi"
)

// awsCLI is Debian's awscli; the aws first on PATH may be another one.
const awsCLI = "/usr/bin/aws"

// e2e runs the tokenlab binary (serve, fob) and the AWS CLI against it.
type e2e struct {
	t        *testing.T
	bin      string // the tokenlab binary
	dir      string
	url      string // the endpoint
	dataDir  string
	fobHome  string
	adminEnv []string // environment of the documented one-liner
}

// TestAWSCLI drives the real AWS CLI through the scenario against
// "tokenlab serve": a virtual device, a hardware token, and the failures,
// each with the error code the CLI prints.
func TestAWSCLI(t *testing.T) {
	testtool.Need(t, awsCLI, "awscli")
	if testing.Short() {
		t.Skip("builds and starts tokenlab; skipped in -short")
	}
	x := startServe(t)

	// The documented one-liner works at once.
	out := x.aws(x.adminEnv, "iam", "list-users")
	if !strings.Contains(out, `"UserName": "`+iamapi.AdminUser+`"`) {
		t.Fatalf("list-users: %s", out)
	}

	// A user with a key of her own.
	x.aws(x.adminEnv, "iam", "create-user", "--user-name", "alice")
	var ak struct {
		AccessKey struct{ AccessKeyId, SecretAccessKey string }
	}
	x.json(x.aws(x.adminEnv, "iam", "create-access-key", "--user-name", "alice"), &ak)
	alice := x.keyEnv(ak.AccessKey.AccessKeyId, ak.AccessKey.SecretAccessKey, "")

	// A virtual device: the Base32 seed goes to a file, then into an
	// emulated virtual MFA app.
	seedFile := filepath.Join(x.dir, "alice-phone.seed")
	var cv struct{ VirtualMFADevice struct{ SerialNumber string } }
	x.json(x.aws(x.adminEnv, "iam", "create-virtual-mfa-device", "--virtual-mfa-device-name", "alice-phone",
		"--outfile", seedFile, "--bootstrap-method", "Base32StringSeed"), &cv)
	arn := cv.VirtualMFADevice.SerialNumber
	seed, err := os.ReadFile(seedFile)
	if err != nil || arn != "arn:aws:iam::"+token.DefaultAccount+":mfa/alice-phone" {
		t.Fatalf("create-virtual-mfa-device: %s, %v", arn, err)
	}
	x.tokenlab("fob", "new", "--model", "virtual", "--serial", arn, "--seed", string(seed))

	now := time.Now()
	x.aws(x.adminEnv, "iam", "enable-mfa-device", "--user-name", "alice", "--serial-number", arn,
		"--authentication-code1", x.press(arn, now.Add(-30*time.Second)), "--authentication-code2", x.press(arn, now))
	out = x.aws(x.adminEnv, "iam", "list-mfa-devices", "--user-name", "alice")
	if !strings.Contains(out, arn) || !strings.Contains(out, "EnableDate") {
		t.Fatalf("list-mfa-devices: %s", out)
	}
	out = x.aws(x.adminEnv, "iam", "list-virtual-mfa-devices", "--assignment-status", "Assigned")
	if !strings.Contains(out, arn) || !strings.Contains(out, `"UserName": "alice"`) {
		t.Fatalf("list-virtual-mfa-devices: %s", out)
	}

	// A session with MFA; its credentials work.
	code := x.press(arn, now.Add(30*time.Second))
	var st struct {
		Credentials struct{ AccessKeyId, SecretAccessKey, SessionToken string }
	}
	x.json(x.aws(alice, "sts", "get-session-token", "--serial-number", arn, "--token-code", code), &st)
	sess := x.keyEnv(st.Credentials.AccessKeyId, st.Credentials.SecretAccessKey, st.Credentials.SessionToken)
	if out := x.aws(sess, "sts", "get-caller-identity"); !strings.Contains(out, ":user/alice") {
		t.Fatalf("get-caller-identity with the session: %s", out)
	}
	x.aws(sess, "iam", "list-mfa-devices")

	// Failures: the same code again, a wrong code.
	x.awsFails(alice, "AccessDenied", "sts", "get-session-token", "--serial-number", arn, "--token-code", code)
	x.awsFails(alice, "AccessDenied", "sts", "get-session-token", "--serial-number", arn, "--token-code", wrong(x.press(arn, now.Add(60*time.Second))))

	// The app's clock runs 10 minutes ahead: its codes fail until a resync.
	x.tokenlab("fob", "advance", arn, "--by", "10m")
	now = time.Now()
	x.awsFails(alice, "AccessDenied", "sts", "get-session-token", "--serial-number", arn, "--token-code", x.press(arn, now))
	x.aws(x.adminEnv, "iam", "resync-mfa-device", "--user-name", "alice", "--serial-number", arn,
		"--authentication-code1", x.press(arn, now.Add(-30*time.Second)), "--authentication-code2", x.press(arn, now))
	x.aws(alice, "sts", "get-session-token", "--serial-number", arn, "--token-code", x.press(arn, now.Add(30*time.Second)))

	// Deactivate and delete.
	x.awsFails(x.adminEnv, "DeleteConflict", "iam", "delete-virtual-mfa-device", "--serial-number", arn)
	x.aws(x.adminEnv, "iam", "deactivate-mfa-device", "--user-name", "alice", "--serial-number", arn)
	x.aws(x.adminEnv, "iam", "delete-virtual-mfa-device", "--serial-number", arn)
	x.awsFails(x.adminEnv, "NoSuchEntity", "iam", "delete-virtual-mfa-device", "--serial-number", arn)

	// The QR code bootstrap: the PNG the CLI writes holds the otpauth URI,
	// whose secret enables the device.
	t.Run("QRCodePNG", func(t *testing.T) {
		zbar := testtool.Need(t, "/usr/bin/zbarimg", "zbar-tools")
		png := filepath.Join(x.dir, "alice-tablet.png")
		var qv struct{ VirtualMFADevice struct{ SerialNumber string } }
		x.json(x.aws(x.adminEnv, "iam", "create-virtual-mfa-device", "--virtual-mfa-device-name", "alice-tablet",
			"--outfile", png, "--bootstrap-method", "QRCodePNG"), &qv)
		out, errOut, err := x.run(nil, zbar, "--quiet", "--raw", png)
		uri := strings.TrimSpace(out)
		if err != nil || !strings.HasPrefix(uri, "otpauth://totp/") {
			t.Fatalf("zbarimg: %v %q %s", err, uri, errOut)
		}
		key, err := token.ParseURI(uri)
		if err != nil {
			t.Fatalf("%q: %v", uri, err)
		}
		at := time.Now()
		x.aws(x.adminEnv, "iam", "enable-mfa-device", "--user-name", "alice", "--serial-number", qv.VirtualMFADevice.SerialNumber,
			"--authentication-code1", key.Spec.TOTP(key.Seed, at.Add(-30*time.Second)), "--authentication-code2", key.Spec.TOTP(key.Seed, at))
		x.aws(x.adminEnv, "iam", "deactivate-mfa-device", "--user-name", "alice", "--serial-number", qv.VirtualMFADevice.SerialNumber)
		x.aws(x.adminEnv, "iam", "delete-virtual-mfa-device", "--serial-number", qv.VirtualMFADevice.SerialNumber)
	})

	// Hardware tokens from an imported batch: one on a key fob emulator.
	x.aws(x.adminEnv, "iam", "create-user", "--user-name", "bob")
	var recs []struct{ serial, seed string }
	for i := range 9 {
		s, _ := token.NewSerial("GAHT", uint64(4200+i))
		sd, _ := token.NewSeed(bytes.Repeat([]byte{byte(0x40 + i)}, 20))
		recs = append(recs, struct{ serial, seed string }{string(s), sd.Base32()})
	}
	x.importTokens(recs)
	fob := recs[0].serial
	x.tokenlab("fob", "new", "--model", "keyfob", "--serial", fob, "--seed", recs[0].seed)
	now = time.Now()
	x.aws(x.adminEnv, "iam", "enable-mfa-device", "--user-name", "bob", "--serial-number", fob,
		"--authentication-code1", x.press(fob, now.Add(-30*time.Second)), "--authentication-code2", x.press(fob, now))
	var bk struct {
		AccessKey struct{ AccessKeyId, SecretAccessKey string }
	}
	x.json(x.aws(x.adminEnv, "iam", "create-access-key", "--user-name", "bob"), &bk)
	bob := x.keyEnv(bk.AccessKey.AccessKeyId, bk.AccessKey.SecretAccessKey, "")
	x.aws(bob, "sts", "get-session-token", "--serial-number", fob, "--token-code", x.press(fob, now.Add(30*time.Second)))

	// Seven more tokens through the SDK, then the CLI is refused the 9th.
	c := iam.New(iam.Options{BaseEndpoint: aws.String(x.url), Region: "us-east-1",
		Credentials: credentials.StaticCredentialsProvider{Value: x.adminCreds()}})
	for _, r := range recs[1:8] {
		sd, _ := token.ParseBase32Seed(r.seed)
		at := time.Now()
		if _, err := c.EnableMFADevice(bg, &iam.EnableMFADeviceInput{UserName: aws.String("bob"), SerialNumber: aws.String(r.serial),
			AuthenticationCode1: aws.String(token.DefaultSpec.TOTP(sd, at.Add(-30*time.Second))), AuthenticationCode2: aws.String(token.DefaultSpec.TOTP(sd, at))}); err != nil {
			t.Fatal(err)
		}
	}
	sd, _ := token.ParseBase32Seed(recs[8].seed)
	at := time.Now()
	x.awsFails(x.adminEnv, "LimitExceeded", "iam", "enable-mfa-device", "--user-name", "bob", "--serial-number", recs[8].serial,
		"--authentication-code1", token.DefaultSpec.TOTP(sd, at.Add(-30*time.Second)), "--authentication-code2", token.DefaultSpec.TOTP(sd, at))
	x.awsFails(x.adminEnv, "DeleteConflict", "iam", "delete-user", "--user-name", "bob")

	// A bad signature and an unknown key.
	x.awsFails(x.keyEnv(bk.AccessKey.AccessKeyId, bk.AccessKey.SecretAccessKey+"x", ""), "SignatureDoesNotMatch", "sts", "get-caller-identity")
	x.awsFails(x.keyEnv("AKIAUNKNOWNKEY000000", "secret", ""), "InvalidClientTokenId", "iam", "list-users")

	// The server's /metrics counted all of it.
	resp, err := http.Get(x.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	metrics, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`tokenlab_iam_requests_total{service="iam",action="ListUsers",outcome="ok"} 1`,
		`tokenlab_iam_requests_total{service="iam",action="EnableMFADevice",outcome="LimitExceeded"} 1`,
		`tokenlab_iam_requests_total{service="sts",action="GetSessionToken",outcome="AccessDenied"} 3`,
		`tokenlab_iam_requests_total{service="iam",action="",outcome="InvalidClientTokenId"} 1`,
		`tokenlab_iam_requests_total{service="sts",action="",outcome="SignatureDoesNotMatch"} 1`,
		`tokenlab_iam_request_duration_seconds_count{service="sts",action="GetSessionToken"} 6`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", metrics)
	}
}

// startServe builds tokenlab and starts "tokenlab serve" on a free port.
func startServe(t *testing.T) *e2e {
	t.Helper()
	dir := t.TempDir()
	x := &e2e{t: t, dir: dir, bin: filepath.Join(dir, "tokenlab"), dataDir: filepath.Join(dir, "data"), fobHome: filepath.Join(dir, "fobs")}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build tokenlab")
	}
	build := exec.Command(goCmd, "build", "-o", x.bin, "github.com/tokenlab/tokenlab/cmd/tokenlab")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, x.bin, "serve", "--listen", "127.0.0.1:0", "--data-dir", x.dataDir)
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })

	// serve logs "tokenlab serve listening url=http://127.0.0.1:PORT".
	urlRE := regexp.MustCompile(`url=(http://127\.0\.0\.1:\d+)`)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := urlRE.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case x.url = <-found:
	case <-time.After(30 * time.Second):
		t.Fatal("tokenlab serve did not say where it listens")
	}

	base := []string{"HOME=" + dir, "PATH=/usr/bin:/bin", "AWS_CONFIG_FILE=" + filepath.Join(dir, "no-aws-config"), "AWS_PAGER=", "TOKENLAB_HOME=" + x.fobHome}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_CA_BUNDLE=") || strings.HasPrefix(kv, "LANG=") {
			base = append(base, kv)
		}
	}
	x.adminEnv = append(base, "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(x.dataDir, iamapi.CredentialsFile), "AWS_PROFILE="+iamapi.Profile)
	return x
}

// keyEnv is an environment that signs with the given key.
func (x *e2e) keyEnv(id, secret, token string) []string {
	env := []string{"HOME=" + x.dir, "PATH=/usr/bin:/bin", "AWS_CONFIG_FILE=" + filepath.Join(x.dir, "no-aws-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(x.dir, "no-credentials"), "AWS_PAGER=", "AWS_DEFAULT_REGION=eu-central-1",
		"AWS_ACCESS_KEY_ID=" + id, "AWS_SECRET_ACCESS_KEY=" + secret}
	if token != "" {
		env = append(env, "AWS_SESSION_TOKEN="+token)
	}
	return env
}

func (x *e2e) adminCreds() aws.Credentials {
	b, err := os.ReadFile(filepath.Join(x.dataDir, iamapi.CredentialsFile))
	if err != nil {
		x.t.Fatal(err)
	}
	var c aws.Credentials
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, " = ")
		switch k {
		case "aws_access_key_id":
			c.AccessKeyID = v
		case "aws_secret_access_key":
			c.SecretAccessKey = v
		}
	}
	return c
}

func (x *e2e) run(env []string, name string, args ...string) (stdout, stderr string, err error) {
	cmd := exec.Command(name, args...)
	cmd.Env = env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

// aws runs the AWS CLI against the endpoint and returns its output.
func (x *e2e) aws(env []string, args ...string) string {
	x.t.Helper()
	args = append([]string{"--endpoint-url", x.url, "--output", "json"}, args...)
	out, errOut, err := x.run(env, awsCLI, args...)
	if err != nil {
		x.t.Fatalf("aws %s: %v\n%s%s", strings.Join(args[4:], " "), err, out, errOut)
	}
	return out
}

// awsFails runs the AWS CLI and wants it to print the error code.
func (x *e2e) awsFails(env []string, code string, args ...string) {
	x.t.Helper()
	args = append([]string{"--endpoint-url", x.url, "--output", "json"}, args...)
	out, errOut, err := x.run(env, awsCLI, args...)
	want := "An error occurred (" + code + ") when calling the "
	if err == nil || !strings.Contains(errOut, want) {
		x.t.Fatalf("aws %s: %v, want %q\n%s%s", strings.Join(args[4:], " "), err, want, out, errOut)
	}
}

func (x *e2e) tokenlab(args ...string) string {
	x.t.Helper()
	out, errOut, err := x.run([]string{"HOME=" + x.dir, "TOKENLAB_HOME=" + x.fobHome}, x.bin, args...)
	if err != nil {
		x.t.Fatalf("tokenlab %s: %v\n%s%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// press reads the code an emulated device shows at the real instant at.
func (x *e2e) press(serial string, at time.Time) string {
	x.t.Helper()
	var p struct{ Code string }
	x.json(x.tokenlab("fob", "press", serial, "--at", at.UTC().Format(time.RFC3339Nano), "--json"), &p)
	return p.Code
}

func (x *e2e) json(s string, v any) {
	x.t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		x.t.Fatalf("%v in %s", err, s)
	}
}

// importTokens imports hardware tokens through the JSON API, as the
// provisioning side does, with serve's administrator token.
func (x *e2e) importTokens(recs []struct{ serial, seed string }) {
	x.t.Helper()
	tok, err := os.ReadFile(filepath.Join(x.dataDir, "admin.token"))
	if err != nil {
		x.t.Fatal(err)
	}
	var body strings.Builder
	for _, r := range recs {
		fmt.Fprintf(&body, "{\"serial\":%q,\"seed\":%q}\n", r.serial, r.seed)
	}
	req, _ := http.NewRequest("POST", x.url+"/api/v1/inventory", strings.NewReader(body.String()))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		x.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		x.t.Fatalf("import: %s\n%s", resp.Status, b)
	}
}
