package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/token"
)

func TestFobScripts(t *testing.T) {
	runScripts(t, "testdata/fob*.txtar", setupHome, nil)
}

// fobEnv runs commands in-process with buffers, a home in a temp dir and
// a fixed clock.
type fobEnv struct {
	t    *testing.T
	home string
	now  time.Time
}

func (f *fobEnv) run(args ...string) (stdout, stderr string, code int) {
	f.t.Helper()
	env := Env{
		Getenv: func(k string) string {
			if k == "TOKENLAB_HOME" {
				return f.home
			}
			return ""
		},
		Now: func() time.Time { return f.now },
	}
	code, stdout, stderr = runCLI(f.t, env, args...)
	return stdout, stderr, code
}

func TestFobPressUsesDeviceClock(t *testing.T) {
	f := &fobEnv{t: t, home: t.TempDir(), now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	seed := "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	if out, errs, code := f.run("fob", "new", "--model", "keyfob", "--serial", "GAHT00000018", "--seed", seed, "--drift-ppm", "100"); code != 0 || out != "GAHT00000018\n" {
		t.Fatalf("fob new: %q %q %d", out, errs, code)
	}
	f.now = f.now.Add(10 * 24 * time.Hour) // +100 ppm over 10 days: 86.4 s ahead
	out, errs, code := f.run("fob", "press", "GAHT00000018", "--json")
	if code != 0 {
		t.Fatalf("fob press: %s", errs)
	}
	var got struct {
		Serial string    `json:"serial"`
		Code   string    `json:"code"`
		Time   time.Time `json:"time"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	devTime := f.now.Add(86400 * time.Millisecond)
	s, _ := token.ParseBase32Seed(seed)
	if got.Serial != "GAHT00000018" || !got.Time.Equal(devTime) || got.Code != token.DefaultSpec.TOTP(s, devTime) {
		t.Errorf("press = %+v, want code at device time %v", got, devTime)
	}
	// A press at an explicit instant.
	out, _, _ = f.run("fob", "press", "GAHT00000018", "--at", "2030-01-11T00:00:00Z")
	if strings.TrimSpace(out) != got.Code {
		t.Errorf("--at the same instant: %q, want %s", out, got.Code)
	}
}

func TestFobBadInputExit2(t *testing.T) {
	f := &fobEnv{t: t, home: t.TempDir(), now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, errs, code := f.run("fob", "new", "--serial", "GAHT00000018"); code != 0 {
		t.Fatal(errs)
	}
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"empty serial", []string{"fob", "new", "--serial", ""}, ""},
		{"serial of 8", []string{"fob", "new", "--serial", "ABCDEFGH"}, "want 9 to 256"},
		{"serial of 257", []string{"fob", "new", "--serial", strings.Repeat("A", 257)}, "want 9 to 256"},
		{"serial with a space", []string{"fob", "press", "GAHT 00000018"}, "invalid serial"},
		{"bad base32", []string{"fob", "new", "--seed", "11111111111111111111111111"}, "bad base32"},
		{"seed under 128 bits", []string{"fob", "new", "--seed", "GEZDGNBVGY3TQOJQGEZDGNBV"}, "at least 128"},
		{"digits 7", []string{"fob", "new", "--digits", "7"}, "7 digits"},
		{"period 0", []string{"fob", "new", "--period", "0"}, "period 0s"},
		{"unknown model", []string{"fob", "new", "--model", "abacus"}, "unknown model"},
		{"unknown device", []string{"fob", "show", "GAHT00000026"}, "no such device"},
	} {
		t.Run(c.name, func(t *testing.T) {
			out, errs, code := f.run(c.args...)
			if code != 2 {
				t.Errorf("exit %d, want 2 (stderr %q)", code, errs)
			}
			if !strings.HasPrefix(errs, "tokenlab: error: ") || !strings.Contains(errs, c.want) {
				t.Errorf("stderr %q, want a tokenlab error mentioning %q", errs, c.want)
			}
			if out != "" {
				t.Errorf("stdout %q on error", out)
			}
		})
	}
	// A corrupt image: one flipped bit.
	path := filepath.Join(f.home, "otp", "GAHT00000018.img")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x20
	os.WriteFile(path, b, 0o600)
	out, errs, code := f.run("fob", "press", "GAHT00000018")
	if code != 2 || !strings.Contains(errs, "corrupt") || out != "" {
		t.Errorf("corrupt image: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}
