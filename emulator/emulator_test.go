package emulator_test

import (
	"bytes"
	"errors"
	"image/png"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/emulator"
	"github.com/tokenlab/tokenlab/firmware-sim/hw"
	"github.com/tokenlab/tokenlab/firmware-sim/otpfw"
	"github.com/tokenlab/tokenlab/internal/testtool"
	"github.com/tokenlab/tokenlab/token"
)

var t0 = time.Date(2030, 3, 4, 5, 6, 7, 890_000_000, time.UTC)

// A +50 ppm fob shows the next step's code exactly when its own clock
// crosses the step boundary: one nanosecond of real time before that
// instant it still shows the old code.
func TestDriftBoundary(t *testing.T) {
	clk := emulator.NewManualClock(t0)
	seed := rfc6238Seed(20)
	fob, err := emulator.NewKeyFob(emulator.Options{Serial: "GAHT12345674", Seed: seed, Time: clk, DriftPPM: 50, BatteryPresses: -1})
	if err != nil {
		t.Fatal(err)
	}
	spec := fob.Spec()
	// The first step boundary at least ten days of device time after t0.
	boundary := spec.StepStart(spec.Step(t0.Add(10*24*time.Hour)) + 1)
	// Device time is real + floor(e*50/1e6) for e real ns since t0, so the
	// device reaches the boundary D ns after t0 at the first real e with
	// e + floor(e*50/1e6) >= D, which is ceil(D*1e6 / (1e6+50)).
	d := big.NewInt(int64(boundary.Sub(t0)))
	num := new(big.Int).Mul(d, big.NewInt(1_000_000))
	den := big.NewInt(1_000_050)
	e, rem := new(big.Int).QuoRem(num, den, new(big.Int))
	if rem.Sign() != 0 {
		e.Add(e, big.NewInt(1))
	}
	crossing := t0.Add(time.Duration(e.Int64()))
	if lead := boundary.Sub(crossing); lead < 43*time.Second || lead > 44*time.Second {
		t.Fatalf("a +50 ppm clock should reach the boundary ~43.2 s early after 10 days, got %v", lead)
	}

	before, after := spec.TOTP(seed, boundary.Add(-1)), spec.TOTP(seed, boundary)
	if before == after {
		t.Fatal("test seed gives the same code on both sides of the boundary")
	}
	clk.Set(crossing.Add(-1))
	r, err := fob.Press()
	if err != nil {
		t.Fatal(err)
	}
	if r.Code != before || !r.DeviceTime.Before(boundary) {
		t.Errorf("1 ns before the crossing: code %s at device time %v, want %s before %v", r.Code, r.DeviceTime, before, boundary)
	}
	clk.Set(crossing)
	if r, err = fob.Press(); err != nil {
		t.Fatal(err)
	}
	if r.Code != after || r.DeviceTime.Before(boundary) {
		t.Errorf("at the crossing: code %s at device time %v, want %s from %v", r.Code, r.DeviceTime, after, boundary)
	}
	// A fleet holding the same fob crosses at the same instant.
	fleet := emulator.NewFleet(1, emulator.FleetBytesSHA1)
	fleet.AddToken(fob.Token)
	if c, _ := fleet.Code(0, crossing.Add(-1)); c != before {
		t.Errorf("fleet 1 ns before: %s, want %s", c, before)
	}
	if c, _ := fleet.Code(0, crossing); c != after {
		t.Errorf("fleet at the crossing: %s, want %s", c, after)
	}
}

// Cross-check against oathtool: 1,000 random (seed, time, spec) triples
// through emulated tokens on a manual clock give oathtool's codes.
func TestOathtool(t *testing.T) {
	oathtool := testtool.Need(t, "/usr/bin/oathtool", "oathtool")
	if testing.Short() {
		t.Skip("short mode")
	}
	type triple struct {
		seed token.Seed
		at   time.Time
		spec token.Spec
		code string
	}
	rng := hw.SeededRNG(2026)
	var buf [8]byte
	rnd := func(n uint64) uint64 { io.ReadFull(rng, buf[:]); return beUint64(buf[:]) % n }
	algs := []token.Algorithm{token.SHA1, token.SHA256, token.SHA512}
	triples := make([]triple, 1000)
	for i := range triples {
		spec := token.Spec{Algorithm: algs[rnd(3)], Digits: []int{6, 8}[rnd(2)], Period: []time.Duration{30 * time.Second, 60 * time.Second}[rnd(2)]}
		seed := make(token.Seed, 16+rnd(64-16+1))
		io.ReadFull(rng, seed)
		at := time.Unix(int64(rnd(4102444800)), 0).UTC() // 1970 to 2100
		clk := emulator.NewManualClock(at)
		fob, err := emulator.NewKeyFob(emulator.Options{Serial: "ORACLE123", Seed: seed, Spec: spec, Time: clk, BatteryPresses: -1})
		if err != nil {
			t.Fatal(err)
		}
		r, err := fob.Press()
		if err != nil {
			t.Fatal(err)
		}
		triples[i] = triple{seed, at, spec, r.Code}
	}
	// oathtool runs once per triple, eight at a time.
	type result struct {
		i   int
		out string
		err error
	}
	results := make(chan result)
	sem := make(chan struct{}, 8)
	for i, tr := range triples {
		go func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			mode := map[token.Algorithm]string{token.SHA1: "SHA1", token.SHA256: "SHA256", token.SHA512: "SHA512"}[tr.spec.Algorithm]
			cmd := exec.Command(oathtool, "--totp="+mode, "-d", itoa(tr.spec.Digits), "-s", itoa(int(tr.spec.Period/time.Second))+"s",
				"-N", "@"+itoa(int(tr.at.Unix())), "-")
			cmd.Stdin = strings.NewReader(tr.seed.Hex() + "\n") // not on the command line
			out, err := cmd.Output()
			results <- result{i, strings.TrimSpace(string(out)), err}
		}()
	}
	for range triples {
		r := <-results
		tr := triples[r.i]
		if r.err != nil {
			t.Errorf("oathtool for triple %d (%v at %v): %v", r.i, tr.spec, tr.at, r.err)
			continue
		}
		if r.out != tr.code {
			t.Errorf("triple %d (%v, %d-byte seed, %v): emulator %s, oathtool %s", r.i, tr.spec, len(tr.seed), tr.at, tr.code, r.out)
		}
	}
}

func beUint64(b []byte) uint64 {
	var v uint64
	for _, c := range b[:8] {
		v = v<<8 | uint64(c)
	}
	return v
}

func itoa(n int) string { return big.NewInt(int64(n)).String() }

func TestDisplayCardKeepsCode(t *testing.T) {
	clk := emulator.NewManualClock(t0)
	card, err := emulator.NewDisplayCard(emulator.Options{Serial: "GAHT12345674", Time: clk, Rand: hw.SeededRNG(1)})
	if err != nil {
		t.Fatal(err)
	}
	r, err := card.Press()
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(20*time.Second - 1)
	if s, ok := card.Display(); !ok || s != r.Code {
		t.Errorf("just before 20 s: display %q, %v; want %s", s, ok, r.Code)
	}
	clk.Advance(1)
	if s, ok := card.Display(); ok {
		t.Errorf("at 20 s the card still shows %q", s)
	}
	fob, _ := emulator.NewKeyFob(emulator.Options{Serial: "GAHT00000018", Time: clk, Rand: hw.SeededRNG(2)})
	fob.Press()
	clk.Advance(15 * time.Second)
	if _, ok := fob.Display(); ok {
		t.Error("key fob still lit after 15 s")
	}
}

func TestBatteryBrownOut(t *testing.T) {
	clk := emulator.NewManualClock(t0)
	fob, err := emulator.NewKeyFob(emulator.Options{Serial: "GAHT12345674", Time: clk, BatteryPresses: 2, Rand: hw.SeededRNG(3)})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := fob.Press(); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(time.Minute)
	r, err := fob.Press()
	if !errors.Is(err, hw.ErrBrownOut) || r.Code != "" {
		t.Errorf("third press on a 2-press battery: %+v, %v", r, err)
	}
	if s, ok := fob.Display(); ok {
		t.Errorf("browned-out fob shows %q", s)
	}
}

func TestVirtualMFA(t *testing.T) {
	clk := emulator.NewManualClock(t0)
	arn := token.MFAARN{Account: "123456789012", Path: "/", Name: "alice-phone"}
	v, err := emulator.NewVirtualMFA(emulator.Options{ARN: arn, Time: clk, Rand: hw.SeededRNG(4)})
	if err != nil {
		t.Fatal(err)
	}
	if v.ID() != "arn:aws:iam::123456789012:mfa/alice-phone" || v.ARN() != arn {
		t.Errorf("ID %q", v.ID())
	}
	uri, err := v.URI()
	if err != nil {
		t.Fatal(err)
	}
	k, err := token.ParseURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	code, ok := v.Display()
	if !ok || code != k.Spec.TOTP(k.Seed, t0) {
		t.Errorf("app shows %q, URI's key gives %s", code, k.Spec.TOTP(k.Seed, t0))
	}
	clk.Advance(time.Hour)
	if code2, _ := v.Display(); code2 != k.Spec.TOTP(k.Seed, clk.Now()) {
		t.Error("the app does not follow time")
	}
	img, err := v.QRPNG(0)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(img))
	if err != nil || cfg.Width < 200 {
		t.Fatalf("QR PNG: %v, %dx%d", err, cfg.Width, cfg.Height)
	}
	if zbar := testtool.Need(t, "zbarimg", "zbar-tools"); zbar != "" {
		path := filepath.Join(t.TempDir(), "qr.png")
		os.WriteFile(path, img, 0o600)
		out, err := exec.Command(zbar, "--raw", "-q", path).Output()
		if err != nil || strings.TrimSpace(string(out)) != uri {
			t.Errorf("zbarimg read %q, %v; want the URI", out, err)
		}
	}
}

func TestOptionsRefused(t *testing.T) {
	for _, c := range []struct {
		name string
		m    token.Model
		o    emulator.Options
	}{
		{"serial under 9 characters", token.KeyFob, emulator.Options{Serial: "GAHT1234"}},
		{"serial with a space", token.KeyFob, emulator.Options{Serial: "GAHT 12345674"}},
		{"seed under 128 bits", token.KeyFob, emulator.Options{Seed: make(token.Seed, 15)}},
		{"digits 7", token.KeyFob, emulator.Options{Spec: token.Spec{Algorithm: token.SHA1, Digits: 7, Period: 30 * time.Second}}},
		{"period 0", token.DisplayCard, emulator.Options{Spec: token.Spec{Algorithm: token.SHA1, Digits: 6}}},
		{"FIDO model", token.FIDO, emulator.Options{}},
		{"drift 1e6 ppm", token.KeyFob, emulator.Options{DriftPPM: 1e6}},
		{"ARN with a bad account", token.Virtual, emulator.Options{ARN: token.MFAARN{Account: "12", Path: "/", Name: "x"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tok, err := emulator.New(c.m, c.o)
			if err == nil || tok != nil {
				t.Fatalf("New = %v, %v; want an error and no token", tok, err)
			}
		})
	}
}

// A simulated production line: a factory-state token provisioned through
// its factory port, then saved, loaded and pressed.
func TestFactoryTokenThroughPort(t *testing.T) {
	clk := emulator.NewManualClock(t0)
	tok, err := emulator.NewFactory(token.KeyFob, emulator.Options{Time: clk, DriftPPM: 10})
	if err != nil {
		t.Fatal(err)
	}
	port := tok.FactoryPort()
	defer port.Close()
	c := otpfw.NewFactoryClient(port)
	seed := rfc6238Seed(20)
	for _, err := range []error{c.SetSerial("GAHT12345674"), c.SetSeed(seed), c.SetSpec(token.DefaultSpec), c.SetTime(clk.Now())} {
		if err != nil {
			t.Fatal(err)
		}
	}
	code, at, err := c.SelfTest()
	if err != nil || code != token.DefaultSpec.TOTP(seed, clk.Now()) || !at.Equal(clk.Now()) {
		t.Fatalf("SelfTest = %s at %v, %v", code, at, err)
	}
	if err := c.Lock(); err != nil {
		t.Fatal(err)
	}
	home, err := emulator.OpenHome(t.TempDir(), clk)
	if err != nil {
		t.Fatal(err)
	}
	if err := home.Create(tok); err != nil {
		t.Fatal(err)
	}
	got, err := home.Load("GAHT12345674")
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(24 * time.Hour)
	r, err := got.Press()
	if err != nil {
		t.Fatal(err)
	}
	// 10 ppm over a day: 864 ms ahead.
	if want := clk.Now().Add(864 * time.Millisecond); !r.DeviceTime.Equal(want) || r.Code != token.DefaultSpec.TOTP(seed, want) {
		t.Errorf("after a day: %s at %v, want code at %v", r.Code, r.DeviceTime, want)
	}

	// Defective units fail self-test and lock, and stay unlocked.
	for _, f := range []otpfw.Faults{{StuckClock: true}, {BadFlashWrite: true}} {
		bad, err := emulator.NewFactory(token.KeyFob, emulator.Options{Time: clk, Faults: f})
		if err != nil {
			t.Fatal(err)
		}
		p := bad.FactoryPort()
		c := otpfw.NewFactoryClient(p)
		c.SetSerial("GAHT00000018")
		c.SetSeed(seed)
		c.SetSpec(token.DefaultSpec)
		if _, _, err := c.SelfTest(); err == nil {
			t.Errorf("%+v: self-test passed", f)
		}
		if err := c.Lock(); err == nil {
			t.Errorf("%+v: lock succeeded", f)
		}
		if bad.State() != otpfw.Factory {
			t.Errorf("%+v: state %v", f, bad.State())
		}
		p.Close()
	}
}

func TestHome(t *testing.T) {
	clk := emulator.NewManualClock(t0)
	dir := t.TempDir()
	home, err := emulator.OpenHome(dir, clk)
	if err != nil {
		t.Fatal(err)
	}
	fob, _ := emulator.NewKeyFob(emulator.Options{Serial: "GAHT12345674", Time: clk, DriftPPM: -30, Offset: 2 * time.Second, Rand: hw.SeededRNG(5)})
	card, _ := emulator.NewDisplayCard(emulator.Options{Serial: "a/b:c@d.e-f", Time: clk, Rand: hw.SeededRNG(6)})
	app, _ := emulator.NewVirtualMFA(emulator.Options{ARN: token.MFAARN{Account: "123456789012", Path: "/team/", Name: "bob"}, Time: clk, Rand: hw.SeededRNG(7)})
	for _, tok := range []*emulator.Token{fob.Token, card.Token, app.Token} {
		if err := home.Create(tok); err != nil {
			t.Fatal(err)
		}
	}
	if err := home.Create(fob.Token); !errors.Is(err, emulator.ErrExists) {
		t.Errorf("second Create: %v, want ErrExists", err)
	}
	for _, id := range []string{"GAHT12345674", "a/b:c@d.e-f", "arn:aws:iam::123456789012:mfa/team/bob", "bob"} {
		if _, err := home.Load(id); err != nil {
			t.Errorf("Load(%q): %v", id, err)
		}
	}
	if _, err := home.Load("GAHT00000018"); !errors.Is(err, emulator.ErrNotFound) {
		t.Errorf("Load of a missing serial: %v", err)
	}
	// A loaded fob is the same device: same codes, same drift, as time goes on.
	clk.Advance(30 * 24 * time.Hour)
	loaded, _ := home.Load("GAHT12345674")
	r1, _ := fob.Press()
	r2, _ := loaded.Press()
	if r1.Code != r2.Code || !r1.DeviceTime.Equal(r2.DeviceTime) {
		t.Errorf("loaded fob %s at %v, original %s at %v", r2.Code, r2.DeviceTime, r1.Code, r1.DeviceTime)
	}
	ents, err := home.List()
	if err != nil || len(ents) != 3 {
		t.Fatalf("List: %d entries, %v", len(ents), err)
	}
	// A damaged image is refused, never read as a wrong code.
	path := home.Path("GAHT12345674")
	good, _ := os.ReadFile(path)
	for _, c := range []struct {
		name string
		img  []byte
		want error
	}{
		{"bit flipped", flip(good, len(good)/2), hw.ErrCorrupt},
		{"truncated", good[:len(good)-10], hw.ErrTruncated},
		{"foreign", []byte("not an image at all"), hw.ErrForeign},
		{"FIDO image", fidoImage(t), hw.ErrForeign},
	} {
		os.WriteFile(path, c.img, 0o600)
		if tok, err := home.Load("GAHT12345674"); !errors.Is(err, c.want) || tok != nil {
			t.Errorf("%s: Load = %v, %v; want %v", c.name, tok, err, c.want)
		}
	}
	ents, _ = home.List()
	bad := 0
	for _, e := range ents {
		if e.Err != nil {
			bad++
		}
	}
	if len(ents) != 3 || bad != 1 {
		t.Errorf("List with a damaged image: %d entries, %d bad", len(ents), bad)
	}
	if err := home.Remove("bob"); err != nil {
		t.Fatal(err)
	}
	if _, err := home.Load("bob"); !errors.Is(err, emulator.ErrNotFound) {
		t.Errorf("after Remove: %v", err)
	}
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 0x01
	return c
}

func fidoImage(t *testing.T) []byte {
	t.Helper()
	b, err := hw.Image{Kind: "fido", Version: 1}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTamperedTokenPersists(t *testing.T) {
	clk := emulator.NewManualClock(t0)
	home, _ := emulator.OpenHome(t.TempDir(), clk)
	fob, _ := emulator.NewKeyFob(emulator.Options{Serial: "GAHT12345674", Time: clk, Rand: hw.SeededRNG(8)})
	fob.Tamper()
	if err := home.Save(fob.Token); err != nil {
		t.Fatal(err)
	}
	got, err := home.Load("GAHT12345674")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := got.Press(); !errors.Is(err, otpfw.ErrTampered) {
		t.Errorf("press on a reloaded tampered fob: %v", err)
	}
	if _, err := got.Seed(); err == nil {
		t.Error("seed of a tampered fob readable")
	}
}

// What a display card shows survives saving and loading it.
func TestDisplaySurvivesSave(t *testing.T) {
	clk := emulator.NewManualClock(t0)
	home, _ := emulator.OpenHome(t.TempDir(), clk)
	card, _ := emulator.NewDisplayCard(emulator.Options{Serial: "GAHT12345674", Time: clk, Rand: hw.SeededRNG(9)})
	r, _ := card.Press()
	if err := home.Create(card.Token); err != nil {
		t.Fatal(err)
	}
	clk.Advance(10 * time.Second)
	got, err := home.Load("GAHT12345674")
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := got.Display(); !ok || s != r.Code {
		t.Errorf("reloaded card shows %q, %v; want %s", s, ok, r.Code)
	}
	clk.Advance(10 * time.Second)
	if _, ok := got.Display(); ok {
		t.Error("reloaded card still lit after 20 s")
	}
}

// FuzzRestore feeds device image payloads (past the file checksum, as a
// bug in a writer would produce) to Restore: no panic; an error comes with
// a nil token; a restored token answers a press.
func FuzzRestore(f *testing.F) {
	clk := emulator.NewManualClock(t0)
	for i, m := range []token.Model{token.KeyFob, token.DisplayCard, token.Virtual} {
		tok, err := emulator.New(m, emulator.Options{Time: clk, Rand: hw.SeededRNG(uint64(i))})
		if err != nil {
			f.Fatal(err)
		}
		tok.Press()
		im, _ := tok.Image()
		f.Add(im.Payload)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		tok, err := emulator.Restore(hw.Image{Kind: otpfw.FlashKind, Version: otpfw.FlashVersion, Payload: payload}, clk)
		if err != nil {
			if tok != nil {
				t.Fatalf("error %v with a token", err)
			}
			return
		}
		tok.Press()
		tok.Display()
	})
}
