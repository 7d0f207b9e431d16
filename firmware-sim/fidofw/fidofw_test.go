package fidofw

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/ctap"
	"github.com/tokenlab/tokenlab/ctap/ctaphid"
	"github.com/tokenlab/tokenlab/firmware-sim/hw"
)

func TestKeyHandleBinding(t *testing.T) {
	a := newTestAuth(t)
	for _, alg := range []int{AlgES256, AlgEdDSA} {
		k, err := newCredKey(a.rng, alg)
		if err != nil {
			t.Fatal(err)
		}
		k.credProtect, k.hmacSecret = 3, true
		id, err := a.seal(k, hash32("a.example"))
		if err != nil {
			t.Fatal(err)
		}
		if len(id) > maxCredentialIDLength {
			t.Errorf("credential ID of %d bytes", len(id))
		}
		got, err := a.open(id, hash32("a.example"))
		if err != nil || got.alg != alg || got.credProtect != 3 || !got.hmacSecret || !bytes.Equal(got.coseKey(), k.coseKey()) {
			t.Fatalf("round trip: %+v %v", got, err)
		}
		if _, err := a.open(id, hash32("b.example")); err == nil {
			t.Error("key handle opened for another RP")
		}
		bad := append([]byte(nil), id...)
		bad[len(bad)/2] ^= 1
		if _, err := a.open(bad, hash32("a.example")); err == nil {
			t.Error("tampered key handle opened")
		}
		// Another key's master key cannot open it.
		b, _ := New(Config{Flash: &MemFlash{}, RNG: hw.SeededRNG(99), Manufacturer: fuzzMfr})
		if _, err := b.open(id, hash32("a.example")); err == nil {
			t.Error("another key opened the key handle")
		}
	}
}

func TestCounterSurvivesRestartWithFewWrites(t *testing.T) {
	fl := &MemFlash{}
	a, err := New(Config{Flash: fl, RNG: hw.SeededRNG(3), Manufacturer: newTestAuthMfr(t)})
	if err != nil {
		t.Fatal(err)
	}
	writes := fl.Writes
	var last uint32
	for i := 0; i < 1000; i++ {
		c, err := a.nextCounter()
		if err != nil || c <= last {
			t.Fatalf("counter %d after %d: %v", c, last, err)
		}
		last = c
	}
	if w := fl.Writes - writes; w > 1000/counterReserve+1 {
		t.Errorf("%d flash writes for 1000 signatures", w)
	}
	b, err := New(Config{Flash: fl, RNG: hw.SeededRNG(4)})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := b.nextCounter(); c <= last {
		t.Errorf("after restart counter %d <= %d", c, last)
	}
}

func newTestAuthMfr(t *testing.T) *Manufacturer {
	newTestAuth(t)
	return fuzzMfr
}

func TestFlashImages(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new", "dir", "key.img")
	fl, err := OpenHWFlash(path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{Flash: fl, Manufacturer: newTestAuthMfr(t)})
	if err != nil {
		t.Fatal(err)
	}
	aaguid := a.AAGUID()
	im, err := hw.LoadImage(path, FlashKind)
	if err != nil || im.Kind != "fido" {
		t.Fatalf("image %v: %v", im.Kind, err)
	}
	fl2, err := OpenHWFlash(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Config{Flash: fl2})
	if err != nil || !bytes.Equal(b.AAGUID(), aaguid) || !b.AttestationCertificate().Equal(a.AttestationCertificate()) {
		t.Fatalf("reloaded key differs: %v", err)
	}
	// An image of another kind is refused.
	other := hw.NewFlash("otp", 1)
	other.Put("seed", []byte("x"))
	op := filepath.Join(t.TempDir(), "otp.img")
	other.Save(op)
	if _, err := OpenHWFlash(op); !errors.Is(err, hw.ErrForeign) {
		t.Errorf("foreign image: %v", err)
	}
	// A state section that is not ours is refused.
	m := &MemFlash{}
	m.Save([]byte("garbage"))
	if _, err := New(Config{Flash: m}); !errors.Is(err, ErrCorruptImage) {
		t.Errorf("garbage state: %v", err)
	}
	// A write that does not read back is an error, not silent corruption.
	fl2.F.SetBadWrite(true)
	if err := fl2.Save([]byte("state")); !errors.Is(err, ErrFlashVerify) {
		t.Errorf("bad write: %v", err)
	}
}

func TestPresencePolicies(t *testing.T) {
	ctx := context.Background()
	req := PresenceRequest{Op: "getAssertion", RPID: "example.com", User: "alice"}
	if err := Approve().Confirm(ctx, req); err != nil {
		t.Error(err)
	}
	if err := Deny().Confirm(ctx, req); !errors.Is(err, ErrDenied) {
		t.Error(err)
	}
	if err := TimeoutAfter(10*time.Millisecond).Confirm(ctx, req); !errors.Is(err, ErrPresenceTimeout) {
		t.Error(err)
	}
	c, cancel := context.WithCancel(ctx)
	cancel()
	if err := TimeoutAfter(time.Hour).Confirm(c, req); !errors.Is(err, context.Canceled) {
		t.Error(err)
	}
	pr, pw := io.Pipe()
	var out strings.Builder
	ask := Ask(pr, &out, 2*time.Second)
	go pw.Write([]byte("y\nn\n"))
	if err := ask.Confirm(ctx, req); err != nil {
		t.Errorf("yes: %v", err)
	}
	if err := ask.Confirm(ctx, req); !errors.Is(err, ErrDenied) {
		t.Errorf("no: %v", err)
	}
	if !strings.Contains(out.String(), "getAssertion for example.com as alice") {
		t.Errorf("prompt %q", out.String())
	}
	// A line typed before the request is kept, like a latched touch.
	go pw.Write([]byte("\n"))
	time.Sleep(20 * time.Millisecond)
	if err := ask.Confirm(ctx, req); err != nil {
		t.Errorf("latched: %v", err)
	}
	short := Ask(strings.NewReader(""), io.Discard, 50*time.Millisecond)
	if err := short.Confirm(ctx, req); !errors.Is(err, ErrDenied) && !errors.Is(err, ErrPresenceTimeout) {
		t.Errorf("closed input: %v", err)
	}
	var b hw.Button
	bp := ButtonPresence(&b, time.Second)
	go func() { time.Sleep(20 * time.Millisecond); b.Press() }()
	if err := bp.Confirm(ctx, req); err != nil {
		t.Errorf("button: %v", err)
	}
	if err := ButtonPresence(&b, 10*time.Millisecond).Confirm(ctx, req); !errors.Is(err, ErrPresenceTimeout) {
		t.Errorf("button timeout: %v", err)
	}
	for _, n := range []string{"auto", "deny", "timeout", "ask"} {
		if _, err := ParsePresence(n, strings.NewReader(""), io.Discard, time.Second); err != nil {
			t.Error(n, err)
		}
	}
	if _, err := ParsePresence("maybe", nil, nil, 0); err == nil {
		t.Error("unknown policy accepted")
	}
}

func TestPresenceSwitchAtRunTime(t *testing.T) {
	a := newTestAuth(t)
	sel := []byte{byte(ctap.CmdSelection)}
	if r := a.HandleCBOR(context.Background(), sel, nil); r[0] != 0 {
		t.Fatalf("approve: %x", r)
	}
	a.SetPresence(Deny())
	if r := a.HandleCBOR(context.Background(), sel, nil); ctap.Status(r[0]) != ctap.ErrOperationDenied {
		t.Fatalf("deny: %x", r)
	}
	a.SetPresence(TimeoutAfter(0))
	var seen []ctaphid.KeepaliveStatus
	r := a.HandleCBOR(context.Background(), sel, func(s ctaphid.KeepaliveStatus) { seen = append(seen, s) })
	if ctap.Status(r[0]) != ctap.ErrUserActionTimeout || len(seen) != 2 || seen[0] != ctaphid.StatusUPNeeded {
		t.Fatalf("timeout: %x, keepalive states %v", r, seen)
	}
}
