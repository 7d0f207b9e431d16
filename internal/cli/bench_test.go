package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/internal/testtool"
)

func TestBenchVerifyShort(t *testing.T) {
	if testing.Short() {
		t.Skip("load benchmark")
	}
	var out, errb bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }, Now: time.Now}
	code := Main(context.Background(), []string{"bench", "verify", "--duration", "1s", "--concurrency", "8", "--devices", "400", "--json"}, env)
	if code != 0 {
		t.Fatalf("bench verify: exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	var res map[string]any
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("bench --json: %v\n%s", err, out.String())
	}
	for _, k := range []string{"verify_rps", "bare_rps", "ratio", "p50_ms", "p99_ms"} {
		v, ok := res[k].(float64)
		if !ok || v <= 0 {
			t.Errorf("%s = %v", k, res[k])
		}
	}
	if res["refused"].(float64) != 0 || res["errors"].(float64) != 0 {
		t.Errorf("refused %v errors %v", res["refused"], res["errors"])
	}
	t.Logf("%s", out.String())
}

func TestBenchVerifyUsage(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "verify", "--duration", "0s"},
		{"bench", "verify", "--concurrency", "0"},
		{"bench", "verify", "--processes", "2"},
		{"bench", "verify", "--db", "mysql://x"},
	} {
		var out, errb bytes.Buffer
		env := &Env{Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }, Now: time.Now}
		if code := Main(context.Background(), args, env); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errb.String())
		}
	}
}

func TestBenchVerifyPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("load benchmark")
	}
	dsn := freshDatabase(t, testtool.PostgresDSN(t))
	var out, errb bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }, Now: time.Now}
	code := Main(context.Background(), []string{"bench", "verify", "--duration", "1s", "--concurrency", "8", "--devices", "200", "--db", dsn, "--json"}, env)
	if code != 0 {
		t.Fatalf("bench verify on PostgreSQL: exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	var res benchResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || res.VerifyRPS <= 0 || res.DB != "postgres" {
		t.Fatalf("bench --json: %v\n%s", err, out.String())
	}
}
