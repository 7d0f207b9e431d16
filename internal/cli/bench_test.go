package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/internal/testtool"
	"github.com/tokenlab/tokenlab/token"
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
		{"bench", "verify", "--max-devices", "-1"},
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

// TestDevPoolLook: the bare handler's look goes round the pool with each
// device's code for now and uses nothing up: take still hands out the same
// device for the current step afterwards.
func TestDevPoolLook(t *testing.T) {
	p := newDevPool()
	if _, _, ok := p.look(); ok {
		t.Fatal("look on an empty pool: ok")
	}
	for i := range 2 {
		p.devs = append(p.devs, benchDev{user: fmt.Sprintf("u%d", i), serial: fmt.Sprintf("S%d", i), seed: token.Seed(bytes.Repeat([]byte{byte(i + 1)}, 20))})
	}
	valid := func(d *benchDev, code string) bool {
		now := time.Now()
		for _, at := range []time.Time{now.Add(-time.Second), now} {
			if code == token.DefaultSpec.HOTP(d.seed, token.DefaultSpec.Step(at)) {
				return true
			}
		}
		return false
	}
	for i, want := range []string{"S0", "S1", "S0"} {
		d, code, ok := p.look()
		if !ok || d.serial != want || !valid(d, code) {
			t.Fatalf("look %d: %v %q %q %v, want %s with its code for now", i, d, d.serial, code, ok, want)
		}
	}
	for i, want := range []string{"S0", "S1"} {
		j, code, ok := p.take()
		if !ok || p.devs[j].serial != want || !valid(&p.devs[j], code) {
			t.Fatalf("take %d after look: %d %q %v, want %s unused", i, j, code, ok, want)
		}
	}
}
