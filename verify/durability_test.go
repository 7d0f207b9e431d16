package verify_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify"
	"github.com/tokenlab/tokenlab/verify/seal"
	"github.com/tokenlab/tokenlab/verify/sqlite"
)

// The child half of TestAcceptedCodeSurvivesKill: accept a code, say so,
// and wait to be killed.
func TestMain(m *testing.M) {
	if dir := os.Getenv("TOKENLAB_VERIFY_KILL_CHILD"); dir != "" {
		if err := killChild(dir); err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func killChild(dir string) error {
	st, err := sqlite.Open(filepath.Join(dir, "tokenlab.db"))
	if err != nil {
		return err
	}
	sl, err := seal.Load(filepath.Join(dir, "kek"))
	if err != nil {
		return err
	}
	svc := verify.New(st, sl, verify.Config{Now: func() time.Time { return t0.Add(30 * time.Second) }})
	d, err := svc.Check(context.Background(), "alice", os.Getenv("TOKENLAB_VERIFY_DEVICE"), os.Getenv("TOKENLAB_VERIFY_CODE"))
	if err != nil {
		return err
	}
	fmt.Printf("accepted=%v\n", d.Accepted)
	return nil // no Close: the kill comes first
}

// An accepted code is on disk before the answer leaves: kill -9 the
// process right after it answered, and the code is still used.
func TestAcceptedCodeSurvivesKill(t *testing.T) {
	dir := t.TempDir()
	st, err := sqlite.Open(filepath.Join(dir, "tokenlab.db"))
	if err != nil {
		t.Fatal(err)
	}
	sl, err := seal.LoadOrCreateKEK(filepath.Join(dir, "kek"))
	if err != nil {
		t.Fatal(err)
	}
	now := t0
	svc := verify.New(st, sl, verify.Config{Now: func() time.Time { return now }})
	ctx := context.Background()
	svc.CreateUser(ctx, "alice", verify.UserOptions{})
	seed, _ := token.ParseHexSeed(hex.EncodeToString([]byte("0123456789abcdefghij")))
	svc.ImportTokens(ctx, oneRecord(verify.TokenRecord{Serial: "GAHT12345678", Spec: token.DefaultSpec, Seed: seed}))
	spec := token.DefaultSpec
	if err := svc.Enable(ctx, "alice", "GAHT12345678", spec.TOTP(seed, now.Add(-30*time.Second)), spec.TOTP(seed, now)); err != nil {
		t.Fatal(err)
	}
	st.Close()

	code := spec.TOTP(seed, t0.Add(30*time.Second))
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "TOKENLAB_VERIFY_KILL_CHILD="+dir, "TOKENLAB_VERIFY_DEVICE=GAHT12345678", "TOKENLAB_VERIFY_CODE="+code)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	cmd.Process.Kill() // SIGKILL, the moment the answer is out
	cmd.Wait()
	if strings.TrimSpace(line) != "accepted=true" {
		t.Fatalf("child said %q", line)
	}

	st2, err := sqlite.Open(filepath.Join(dir, "tokenlab.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	now = t0.Add(30 * time.Second)
	svc2 := verify.New(st2, sl, verify.Config{Now: func() time.Time { return now }})
	d, err := svc2.Check(ctx, "alice", "GAHT12345678", code)
	if err != nil || d.Reason != verify.ReasonReplayed {
		t.Fatalf("after kill -9 the code was %+v, %v; want replayed", d, err)
	}
}

func oneRecord(r verify.TokenRecord) func() (verify.TokenRecord, error) {
	done := false
	return func() (verify.TokenRecord, error) {
		if done {
			return verify.TokenRecord{}, errEOF
		}
		done = true
		return r, nil
	}
}
