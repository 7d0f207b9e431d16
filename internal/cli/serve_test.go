package cli

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/jackc/pgx/v5"

	"github.com/tokenlab/tokenlab/internal/testtool"
	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/client"
	"github.com/tokenlab/tokenlab/verify/httpapi"
)

// TestServeBinary builds the tokenlab binary once and runs the tests that
// need real server processes: start and stop, kill -9 during enrollments,
// and several processes sharing PostgreSQL.
func TestServeBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := filepath.Join(t.TempDir(), "tokenlab")
	build := exec.Command("go", "build", "-o", bin, "github.com/tokenlab/tokenlab/cmd/tokenlab")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Run("StartStop", func(t *testing.T) { t.Parallel(); testServeStartStop(t, bin) })
	t.Run("Crash", func(t *testing.T) { t.Parallel(); testServeCrash(t, bin) })
	t.Run("MultiProcessPostgres", func(t *testing.T) { t.Parallel(); testServeMultiProcess(t, bin) })
	t.Run("BenchProcesses", func(t *testing.T) { t.Parallel(); testBenchProcesses(t, bin) })
}

// serveLog is a bytes.Buffer safe for a writer goroutine and a reader.
type serveLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *serveLog) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *serveLog) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type serveProc struct {
	cmd     *exec.Cmd
	url     string
	dataDir string
	log     *serveLog
	done    chan error
}

var listenRE = regexp.MustCompile(`msg="tokenlab serve listening" url=(http://[0-9.:]+)`)

// startServe starts "tokenlab serve --listen 127.0.0.1:0" and waits until it
// listens.
func startServe(t *testing.T, bin, dataDir string, extra ...string) *serveProc {
	t.Helper()
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir}, extra...)
	cmd := exec.Command(bin, args...)
	p := &serveProc{cmd: cmd, dataDir: dataDir, log: &serveLog{}, done: make(chan error, 1)}
	cmd.Stderr = p.log
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.done
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := listenRE.FindStringSubmatch(p.log.String()); m != nil {
			p.url = m[1]
			return p
		}
		select {
		case err := <-p.done:
			t.Fatalf("tokenlab serve exited: %v\n%s", err, p.log)
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("tokenlab serve did not start listening:\n%s", p.log)
	return nil
}

func (p *serveProc) client(t *testing.T) *client.Client {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.dataDir, adminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	c, err := client.New(p.url, strings.TrimSpace(string(b)), hc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// stop sends SIGTERM and waits for a clean exit.
func (p *serveProc) stop(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			t.Fatalf("tokenlab serve exited with %v after SIGTERM:\n%s", err, p.log)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("tokenlab serve did not stop after SIGTERM:\n%s", p.log)
	}
}

// kill sends SIGKILL and waits.
func (p *serveProc) kill() {
	p.cmd.Process.Kill()
	<-p.done
}

func testServeStartStop(t *testing.T, bin string) {
	dir := filepath.Join(t.TempDir(), "data")
	p := startServe(t, bin, dir)
	tokPath := filepath.Join(dir, adminTokenFile)
	fi, err := os.Stat(tokPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("admin.token mode %v, want 0600", fi.Mode().Perm())
	}
	if fi, err := os.Stat(filepath.Join(dir, kekFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("kek: %v %v", fi, err)
	}
	tok, _ := os.ReadFile(tokPath)
	if !strings.Contains(p.log.String(), tokPath) {
		t.Errorf("the log does not name the token's path:\n%s", p.log)
	}
	c := p.client(t)
	if err := c.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateUser(context.Background(), httpapi.CreateUserRequest{Name: "alice"}); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(p.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"tokenlab_http_in_flight", `tokenlab_http_requests_total{route="users.create",code="201"} 1`, "tokenlab_http_request_duration_seconds_bucket",
		"\ntokenlab_store_commits_total ", "\ntokenlab_store_fsyncs_total ", "\ntokenlab_sqlite_checkpoints_total "} { // the store's counts: SQLite
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q:\n%s", want, body)
		}
	}
	// The IAM endpoint is mounted, and the credentials written on first
	// start work with the AWS SDK: the user made through the JSON API is
	// listed.
	awsCfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithSharedCredentialsFiles([]string{filepath.Join(dir, "aws-credentials")}),
		config.WithSharedConfigFiles([]string{filepath.Join(dir, "no-config")}),
		config.WithSharedConfigProfile("tokenlab"))
	if err != nil {
		t.Fatal(err)
	}
	users, err := iam.NewFromConfig(awsCfg, func(o *iam.Options) { o.BaseEndpoint = aws.String(p.url) }).ListUsers(context.Background(), &iam.ListUsersInput{})
	if err != nil {
		t.Fatalf("IAM ListUsers with the bootstrap credentials: %v", err)
	}
	found := false
	for _, u := range users.Users {
		found = found || aws.ToString(u.UserName) == "alice"
	}
	if !found {
		t.Errorf("IAM ListUsers does not list alice")
	}
	// An unsigned POST / gets an XML error.
	resp, err = http.Post(p.url+"/", "application/x-www-form-urlencoded", strings.NewReader("Action=ListUsers&Version=2010-05-08"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode < 400 || resp.StatusCode >= 500 || !bytes.Contains(body, []byte("<ErrorResponse")) {
		t.Errorf("unsigned IAM call: %d %s", resp.StatusCode, body)
	}
	p.stop(t)
	log := p.log.String()
	if !strings.Contains(log, "msg=stopped") {
		t.Errorf("no clean stop in the log:\n%s", log)
	}
	if strings.Contains(log, strings.TrimSpace(string(tok))) {
		t.Errorf("the admin token is in the log")
	}
	// A restart keeps the token and the data.
	p = startServe(t, bin, dir)
	tok2, _ := os.ReadFile(tokPath)
	if !bytes.Equal(tok, tok2) {
		t.Error("restart replaced admin.token")
	}
	if _, err := p.client(t).GetUser(context.Background(), "alice"); err != nil {
		t.Errorf("after restart: %v", err)
	}
	p.stop(t)
}

// testServeCrash kills the server with SIGKILL while 1,000 enrollments
// (each followed by a code check) run, restarts it, and checks that every
// acknowledged enrollment is there and every accepted code stays refused.
func testServeCrash(t *testing.T, bin string) {
	const devices = 1000
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	// At debug level, so the search for seeds in the log below covers
	// everything the server can say.
	p := startServe(t, bin, dir, "--log-level", "debug")
	c := p.client(t)

	type dev struct {
		user, arn string
		seed      token.Seed
	}
	devs := make([]dev, devices)
	for u := 0; u < devices/verify.MaxDevicesPerUser; u++ {
		if _, err := c.CreateUser(ctx, httpapi.CreateUserRequest{Name: fmt.Sprintf("u%03d", u)}); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	var setupErr atomic.Value
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < devices; i += 8 {
				b, err := c.CreateVirtual(ctx, httpapi.CreateVirtualRequest{Name: fmt.Sprintf("d%04d", i)})
				if err != nil {
					setupErr.Store(err)
					return
				}
				s, _ := token.ParseBase32Seed(b.SeedBase32)
				devs[i] = dev{user: fmt.Sprintf("u%03d", i/verify.MaxDevicesPerUser), arn: b.Device.ID, seed: s}
			}
		}()
	}
	wg.Wait()
	if err, _ := setupErr.Load().(error); err != nil {
		t.Fatal(err)
	}

	// Enroll from 32 goroutines; kill -9 once a third are acknowledged.
	type used struct {
		dev  int
		code string
	}
	var (
		mu       sync.Mutex
		enrolled = map[int]bool{}
		accepted []used // codes the server accepted (enable's second, check's)
		next     atomic.Int64
		acks     atomic.Int64
		killed   = make(chan struct{})
	)
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= devices {
					return
				}
				d := devs[i]
				T := token.DefaultSpec.Step(time.Now())
				c1, c2 := token.DefaultSpec.HOTP(d.seed, T-1), token.DefaultSpec.HOTP(d.seed, T)
				if err := c.Enable(ctx, d.user, d.arn, c1, c2); err != nil {
					continue // not acknowledged (the server may be dead)
				}
				mu.Lock()
				enrolled[i] = true
				accepted = append(accepted, used{i, c1}, used{i, c2})
				mu.Unlock()
				if acks.Add(1) == devices/3 {
					p.kill()
					close(killed)
				}
				c3 := token.DefaultSpec.HOTP(d.seed, T+1)
				if dec, err := c.Check(ctx, d.user, d.arn, c3); err == nil && dec.Accepted {
					mu.Lock()
					accepted = append(accepted, used{i, c3})
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-killed:
	default:
		t.Fatalf("only %d enrollments acknowledged; the server was never killed:\n%s", acks.Load(), p.log)
	}
	t.Logf("%d enrollments and %d accepted codes acknowledged before and around the kill", len(enrolled), len(accepted))
	before := p

	p = startServe(t, bin, dir, "--log-level", "debug")
	c = p.client(t)
	for i := range enrolled {
		d, err := c.GetDevice(ctx, devs[i].arn)
		if err != nil {
			t.Fatalf("acknowledged enrollment %s lost: %v", devs[i].arn, err)
		}
		if d.State != verify.StateAssigned || d.User != devs[i].user {
			t.Fatalf("acknowledged enrollment %s is %s/%q after the crash", devs[i].arn, d.State, d.User)
		}
	}
	for _, u := range accepted {
		dec, err := c.Check(ctx, devs[u.dev].user, devs[u.dev].arn, u.code)
		if err != nil {
			t.Fatal(err)
		}
		if dec.Accepted {
			t.Fatalf("code accepted before the crash was accepted again for %s", devs[u.dev].arn)
		}
	}
	p.stop(t)

	// No seed in the clear in either server's log: raw, hex or base32.
	logs := before.log.String() + p.log.String()
	for _, d := range devs {
		for _, form := range []string{string(d.seed), d.seed.Hex(), strings.ToUpper(d.seed.Hex()), d.seed.Base32()} {
			if strings.Contains(logs, form) {
				t.Fatalf("the server's log holds the seed of %s", d.arn)
			}
		}
	}
}

// testServeMultiProcess sends the same valid code at once to 3 servers
// sharing one PostgreSQL database, 50 times: each is accepted exactly once.
func testServeMultiProcess(t *testing.T, bin string) {
	base := testtool.PostgresDSN(t)
	ctx := context.Background()
	dsn := freshDatabase(t, base)
	dir := filepath.Join(t.TempDir(), "data")
	// Start one first (it creates the KEK, admin.token, aws-credentials),
	// then two more on the same data directory and database.
	procs := []*serveProc{startServe(t, bin, dir, "--db", dsn)}
	procs = append(procs, startServe(t, bin, dir, "--db", dsn), startServe(t, bin, dir, "--db", dsn))
	var cs []*client.Client
	for _, p := range procs {
		cs = append(cs, p.client(t))
	}
	const rounds = 50
	type dev struct {
		user, arn string
		seed      token.Seed
	}
	var devs []dev
	for i := 0; i < rounds; i++ {
		user := fmt.Sprintf("u%d", i/verify.MaxDevicesPerUser)
		if i%verify.MaxDevicesPerUser == 0 {
			if _, err := cs[i%3].CreateUser(ctx, httpapi.CreateUserRequest{Name: user}); err != nil {
				t.Fatal(err)
			}
		}
		b, err := cs[(i+1)%3].CreateVirtual(ctx, httpapi.CreateVirtualRequest{Name: fmt.Sprintf("d%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		s, _ := token.ParseBase32Seed(b.SeedBase32)
		T := token.DefaultSpec.Step(time.Now())
		if err := cs[(i+2)%3].Enable(ctx, user, b.Device.ID, token.DefaultSpec.HOTP(s, T-1), token.DefaultSpec.HOTP(s, T)); err != nil {
			t.Fatal(err)
		}
		devs = append(devs, dev{user, b.Device.ID, s})
	}
	for r, d := range devs {
		code := token.DefaultSpec.HOTP(d.seed, token.DefaultSpec.Step(time.Now())+1)
		var wins atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make(chan error, 3)
		for _, c := range cs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				dec, err := c.Check(ctx, d.user, d.arn, code)
				if err != nil {
					errs <- err
					return
				}
				if dec.Accepted {
					wins.Add(1)
				} else if dec.Reason != verify.ReasonReplayed {
					errs <- fmt.Errorf("refused for %s, want replayed", dec.Reason)
				}
			}()
		}
		close(start)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: %v", r, err)
		}
		if wins.Load() != 1 {
			t.Fatalf("round %d: the code was accepted %d times by 3 servers sharing PostgreSQL", r, wins.Load())
		}
	}
	for _, p := range procs {
		p.stop(t)
	}
}

// freshDatabase creates an empty database on the cluster of base and
// returns its DSN; it is dropped when the test ends.
func freshDatabase(t *testing.T, base string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("PostgreSQL at TOKENLAB_TEST_PG: %v", err)
	}
	defer conn.Close(ctx)
	var rnd [6]byte
	rand.Read(rnd[:])
	name := "tokenlab_cli_" + hex.EncodeToString(rnd[:])
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// testBenchProcesses runs "tokenlab bench verify --processes 2" on a fresh
// PostgreSQL database: two serve child processes share it.
func testBenchProcesses(t *testing.T, bin string) {
	dsn := freshDatabase(t, testtool.PostgresDSN(t))
	cmd := exec.Command(bin, "bench", "verify", "--db", dsn, "--processes", "2", "--duration", "1s", "--concurrency", "8", "--devices", "200", "--json")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("bench --processes 2: %v\n%s\n%s", err, out, stderr.String())
	}
	var res benchResult
	if err := json.Unmarshal(out, &res); err != nil || res.Processes != 2 || res.VerifyRPS <= 0 || res.Refused != 0 || res.Errors != 0 {
		t.Fatalf("bench --processes 2: %v\n%s", err, out)
	}
}
