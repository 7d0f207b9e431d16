package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/internal/testtool"
	"github.com/tokenlab/tokenlab/token"
	"github.com/tokenlab/tokenlab/verify"
)

func TestBenchVerifyShort(t *testing.T) {
	if testing.Short() {
		t.Skip("load benchmark")
	}
	var out, errb bytes.Buffer
	env := &Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(string) string { return "" }, Now: time.Now}
	code := Main(context.Background(), []string{"bench", "verify", "--duration", "1s", "--warmup", "300ms", "--concurrency", "8", "--devices", "400", "--json"}, env)
	if code != 0 {
		t.Fatalf("bench verify: exit %d\n%s\n%s", code, out.String(), errb.String())
	}
	var res map[string]any
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("bench --json: %v\n%s", err, out.String())
	}
	for _, k := range []string{"verify_rps", "bare_rps", "ratio", "p50_ms", "p99_ms", "checks_per_commit", "commits_per_fsync", "fsync_ms"} {
		v, ok := res[k].(float64)
		if !ok || v <= 0 {
			t.Errorf("%s = %v", k, res[k])
		}
	}
	// A commit holds at least one check; an fsync makes at least one
	// commit durable.
	perCommit, _ := res["checks_per_commit"].(float64)
	perFsync, _ := res["commits_per_fsync"].(float64)
	if perCommit < 1 || perFsync < 1 {
		t.Errorf("checks per commit %v, commits per fsync %v: want at least 1", perCommit, perFsync)
	}
	// Far below a sweep's start, every device checked stays in the step
	// log.
	if end, top := res["step_log_devices"], res["step_log_max"]; end == nil || end.(float64) < 1 || top.(float64) < end.(float64) {
		t.Errorf("step log: %v devices at the end, %v at most", end, top)
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
		{"bench", "verify", "--order", "sideways"},
		{"bench", "verify", "--warmup", "-1s"},
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
	p := newDevPool(false)
	if _, _, _, ok := p.look(); ok {
		t.Fatal("look on an empty pool: ok")
	}
	seeds := map[string]token.Seed{}
	for i := range 2 {
		serial := fmt.Sprintf("S%d", i)
		seeds[serial] = token.Seed(bytes.Repeat([]byte{byte(i + 1)}, 20))
		if err := p.add(newDev{user: fmt.Sprintf("u%d", i), serial: serial, seed: seeds[serial]}); err != nil {
			t.Fatal(err)
		}
	}
	valid := func(user, serial, code string) bool {
		if user != "u"+serial[1:] {
			return false
		}
		now := time.Now()
		for _, at := range []time.Time{now.Add(-time.Second), now} {
			if code == token.DefaultSpec.HOTP(seeds[serial], token.DefaultSpec.Step(at)) {
				return true
			}
		}
		return false
	}
	for i, want := range []string{"S0", "S1", "S0"} {
		user, serial, code, ok := p.look()
		if !ok || serial != want || !valid(user, serial, code) {
			t.Fatalf("look %d: %q %q %q %v, want %s with its code for now", i, user, serial, code, ok, want)
		}
	}
	for i, want := range []string{"S0", "S1"} {
		user, serial, code, ok := p.take()
		if !ok || serial != want || !valid(user, serial, code) {
			t.Fatalf("take %d after look: %q %q %q %v, want %s unused", i, user, serial, code, ok, want)
		}
	}
}

// TestDevPoolAdd: devices added in several batches keep their names and
// seeds, and the pool's devices hold no pointer for the garbage collector
// to follow.
func TestDevPoolAdd(t *testing.T) {
	p := newDevPool(false)
	var want []newDev
	for batch := range 3 {
		var more []newDev
		for i := range 100 {
			n := batch*100 + i
			more = append(more, newDev{user: fmt.Sprintf("user-%d", n), serial: fmt.Sprintf("SER%07d", n), seed: token.Seed(bytes.Repeat([]byte{byte(n)}, 20+n%13))})
		}
		if err := p.add(more...); err != nil {
			t.Fatal(err)
		}
		want = append(want, more...)
	}
	for i := range p.devs {
		d := &p.devs[i]
		if p.user(d) != want[i].user || p.serial(d) != want[i].serial || !bytes.Equal(p.seedOf(d), want[i].seed) {
			t.Fatalf("device %d: %q %q %x, want %q %q %x", i, p.user(d), p.serial(d), p.seedOf(d), want[i].user, want[i].serial, want[i].seed)
		}
		if cap(p.seedOf(d)) != len(want[i].seed) {
			t.Fatalf("device %d: seed slice reaches past its seed (cap %d)", i, cap(p.seedOf(d)))
		}
	}
	// A device that does not fit the offsets is refused with the rest of
	// its batch, and the pool stays as it was.
	n, names := len(p.devs), p.names
	if err := p.add(newDev{user: "ok", serial: "SER1", seed: token.Seed{1}}, newDev{user: "long", serial: "SER2", seed: make(token.Seed, 256)}); err == nil {
		t.Error("add of a 256-byte seed: no error")
	}
	if len(p.devs) != n || p.names != names {
		t.Errorf("a refused add changed the pool: %d devices, want %d", len(p.devs), n)
	}
	if !pointerFree(reflect.TypeFor[benchDev]()) {
		t.Error("benchDev holds a pointer: the garbage collector scans the whole pool")
	}
}

// pointerFree reports whether values of type t hold no pointer.
func pointerFree(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Struct:
		for i := range t.NumField() {
			if !pointerFree(t.Field(i).Type) {
				return false
			}
		}
		return true
	case reflect.Array:
		return pointerFree(t.Elem())
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return true
	}
	return false
}

// TestDevPoolOrder: a random pool holds every enrolled device once, not in
// serial order; a serial pool holds them in serial order.
func TestDevPoolOrder(t *testing.T) {
	ctx := context.Background()
	for _, random := range []bool{false, true} {
		st, sealer, err := openStore(ctx, storeConfig{dataDir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		svc := verify.New(st, sealer, verify.Config{})
		p := newDevPool(random)
		if err := p.grow(ctx, svc, 4, 64); err != nil {
			t.Fatal(err)
		}
		serials := make([]string, len(p.devs))
		for i := range p.devs {
			serials[i] = p.serial(&p.devs[i])
		}
		sorted := slices.Sorted(slices.Values(serials))
		if len(slices.Compact(slices.Clone(sorted))) != 64 {
			t.Fatalf("random=%v: %d devices, %d distinct, want 64", random, len(serials), len(slices.Compact(sorted)))
		}
		if inOrder := slices.Equal(serials, sorted); inOrder == random {
			t.Errorf("random=%v: pool in serial order: %v", random, inOrder)
		}
	}
}
