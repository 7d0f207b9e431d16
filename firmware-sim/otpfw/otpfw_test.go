package otpfw_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/firmware-sim/hw"
	"github.com/tokenlab/tokenlab/firmware-sim/otpfw"
	"github.com/tokenlab/tokenlab/token"
)

var (
	t0      = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	rfcSeed = token.Seed("12345678901234567890")
)

// device is a factory-state firmware on manual time.
func device(t *testing.T, cfg otpfw.Config) (*otpfw.Firmware, *hw.ManualTime) {
	t.Helper()
	src := hw.NewManualTime(t0)
	if cfg.Clock == nil {
		cfg.Clock = hw.NewClock(src, 0)
	}
	fw, err := otpfw.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return fw, src
}

// connect serves fw's factory port over a pipe and returns a client.
func connect(t *testing.T, fw *otpfw.Firmware) (*otpfw.FactoryClient, net.Conn) {
	t.Helper()
	host, dev := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fw.ServeFactoryPort(ctx, dev) }()
	t.Cleanup(func() {
		cancel()
		host.Close()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("ServeFactoryPort: %v", err)
		}
	})
	return otpfw.NewFactoryClient(host), host
}

func provision(t *testing.T, c *otpfw.FactoryClient, now time.Time) {
	t.Helper()
	steps := []struct {
		name string
		err  error
	}{
		{"SERIAL", c.SetSerial("GAHT12345674")},
		{"SEED", c.SetSeed(rfcSeed)},
		{"SPEC", c.SetSpec(token.Spec{Algorithm: token.SHA1, Digits: 8, Period: 30 * time.Second})},
		{"TIME", c.SetTime(now)},
	}
	for _, s := range steps {
		if s.err != nil {
			t.Fatalf("%s: %v", s.name, s.err)
		}
	}
}

func TestFactoryPortProvisioning(t *testing.T) {
	fw, src := device(t, otpfw.Config{Model: token.DisplayCard})
	c, _ := connect(t, fw)
	id, err := c.Identify()
	if err != nil {
		t.Fatal(err)
	}
	if id.Firmware != otpfw.Version || id.Model != token.DisplayCard || id.State != otpfw.Factory || id.Serial != "" {
		t.Fatalf("Identify = %+v", id)
	}
	devTime := time.Unix(1111111109, 0).UTC()
	provision(t, c, devTime)
	back, err := c.ReadSeed()
	if err != nil || string(back) != string(rfcSeed) {
		t.Fatalf("ReadSeed in factory state: %v", err)
	}
	src.Advance(500 * time.Millisecond)
	code, at, err := c.SelfTest()
	if err != nil {
		t.Fatal(err)
	}
	if code != "07081804" || !at.Equal(devTime.Add(500*time.Millisecond)) {
		t.Errorf("SelfTest = %s at %v, want the RFC 6238 code 07081804 at %v", code, at, devTime.Add(500*time.Millisecond))
	}
	if err := c.Lock(); err != nil {
		t.Fatal(err)
	}
	st, err := c.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.State != otpfw.Provisioned || st.Serial != "GAHT12345674" || !st.SeedSet || st.Spec.Digits != 8 || !st.ClockOK || st.Battery != 1 {
		t.Errorf("Status = %+v", st)
	}
	r, err := fw.Press()
	if err != nil || r.Code != "07081804" {
		t.Errorf("Press = %+v, %v", r, err)
	}
	if s, ok := fw.Shown(); !ok || s != "07081804" {
		t.Errorf("display %q, %v", s, ok)
	}
	src.Advance(token.DisplayCard.DisplayTime())
	if _, ok := fw.Shown(); ok {
		t.Error("display card still shows its code after its display time")
	}
}

// After LOCK the seed can be neither read back nor rewritten: an ERR answer
// matching ErrLocked, not silence.
func TestLockedRefusesSeed(t *testing.T) {
	fw, _ := device(t, otpfw.Config{})
	c, _ := connect(t, fw)
	provision(t, c, t0)
	if err := c.Lock(); err != nil {
		t.Fatal(err)
	}
	other := token.Seed("abcdefghijklmnopqrst")
	checks := []struct {
		name string
		err  error
	}{
		{"READSEED", func() error { _, err := c.ReadSeed(); return err }()},
		{"SEED", c.SetSeed(other)},
		{"SERIAL", c.SetSerial("GAHT00000018")},
		{"SPEC", c.SetSpec(token.DefaultSpec)},
		{"TIME", c.SetTime(t0.Add(time.Hour))},
		{"LOCK", c.Lock()},
	}
	for _, ch := range checks {
		if !errors.Is(ch.err, otpfw.ErrLocked) {
			t.Errorf("%s after lock: %v, want ErrLocked", ch.name, ch.err)
		}
		var pe *otpfw.PortError
		if !errors.As(ch.err, &pe) || pe.Code != otpfw.CodeLocked {
			t.Errorf("%s after lock: %v is not an ERR LOCKED answer", ch.name, ch.err)
		}
	}
	if _, err := fw.ReadSeed(); !errors.Is(err, otpfw.ErrLocked) {
		t.Errorf("Firmware.ReadSeed after lock: %v", err)
	}
	if err := fw.SetSeed(other); !errors.Is(err, otpfw.ErrLocked) {
		t.Errorf("Firmware.SetSeed after lock: %v", err)
	}
	// The seed is still the one locked in.
	spec := token.Spec{Algorithm: token.SHA1, Digits: 8, Period: 30 * time.Second}
	if code, _, err := c.SelfTest(); err != nil || code != spec.TOTP(rfcSeed, t0) {
		t.Errorf("SelfTest after refused rewrite: %s, %v", code, err)
	}
}

func TestTamperWipes(t *testing.T) {
	fw, _ := device(t, otpfw.Config{})
	c, _ := connect(t, fw)
	provision(t, c, t0)
	if err := c.Lock(); err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Press(); err != nil {
		t.Fatal(err)
	}
	fw.Tamper()
	if fw.State() != otpfw.Tampered {
		t.Errorf("state %v", fw.State())
	}
	if _, ok := fw.Flash().Get("seed"); ok {
		t.Error("seed section survived tamper")
	}
	if _, err := otpfw.ExtractSeed(fw.Flash()); err == nil {
		t.Error("seed extractable after tamper")
	}
	if r, err := fw.Press(); !errors.Is(err, otpfw.ErrTampered) || r.Code != "" {
		t.Errorf("Press after tamper: %+v, %v", r, err)
	}
	if _, ok := fw.Shown(); ok {
		t.Error("display lit after tamper")
	}
	if _, _, err := c.SelfTest(); !errors.Is(err, otpfw.ErrTampered) {
		t.Errorf("SelfTest after tamper: %v", err)
	}
	st, _ := c.Status()
	if st.State != otpfw.Tampered || st.SeedSet {
		t.Errorf("Status after tamper: %+v", st)
	}
	// A reboot from the same flash stays tampered.
	again, err := otpfw.New(otpfw.Config{Clock: fw.Clock(), Flash: fw.Flash()})
	if err != nil || again.State() != otpfw.Tampered {
		t.Errorf("reboot after tamper: %v, %v", again.State(), err)
	}
}

func TestBrownOutShowsNothing(t *testing.T) {
	src := hw.NewManualTime(t0)
	fw, _ := device(t, otpfw.Config{Clock: hw.NewClock(src, 0), Battery: hw.NewBattery(1, 0, t0)})
	for _, err := range []error{fw.SetSerial("GAHT12345674"), fw.SetSeed(rfcSeed), fw.SetSpec(token.DefaultSpec), fw.Lock()} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if _, err := fw.Press(); err != nil {
		t.Fatalf("first press: %v", err)
	}
	src.Advance(time.Minute) // the first code has blanked
	r, err := fw.Press()
	if !errors.Is(err, otpfw.ErrBrownOut) || r.Code != "" {
		t.Fatalf("press on a flat battery: %+v, %v; want ErrBrownOut and no code", r, err)
	}
	if s, ok := fw.Shown(); ok {
		t.Errorf("browned-out token shows %q", s)
	}
}

func TestFactoryFaults(t *testing.T) {
	for _, c := range []struct {
		name   string
		faults otpfw.Faults
		want   error
	}{
		{"stuck clock", otpfw.Faults{StuckClock: true}, otpfw.ErrClock},
		{"bad flash write", otpfw.Faults{BadFlashWrite: true}, otpfw.ErrFlash},
	} {
		t.Run(c.name, func(t *testing.T) {
			fw, _ := device(t, otpfw.Config{Faults: c.faults})
			cl, _ := connect(t, fw)
			provision(t, cl, t0)
			if _, _, err := cl.SelfTest(); !errors.Is(err, c.want) {
				t.Errorf("SelfTest: %v, want %v", err, c.want)
			}
			if err := cl.Lock(); !errors.Is(err, c.want) {
				t.Errorf("Lock: %v, want %v", err, c.want)
			}
			if id, err := cl.Identify(); err != nil || id.State != otpfw.Factory {
				t.Errorf("after a failed lock: %+v, %v; want factory state", id, err)
			}
		})
	}
}

func TestLockNeedsEverything(t *testing.T) {
	fw, _ := device(t, otpfw.Config{})
	c, _ := connect(t, fw)
	if err := c.SetSerial("GAHT12345674"); err != nil {
		t.Fatal(err)
	}
	if err := c.Lock(); !errors.Is(err, otpfw.ErrNotProvisioned) {
		t.Errorf("Lock without a seed: %v, want ErrNotProvisioned", err)
	}
	if _, err := fw.Press(); !errors.Is(err, otpfw.ErrNotProvisioned) {
		t.Errorf("Press in factory state: %v", err)
	}
}

// Raw protocol: each bad request gets one ERR line with the right code and
// the port keeps serving.
func TestFactoryPortErrors(t *testing.T) {
	fw, _ := device(t, otpfw.Config{})
	_, conn := connect(t, fw)
	r := bufio.NewReader(conn)
	secretHex := rfcSeed.Hex()
	for _, c := range []struct{ name, line, want string }{
		{"unknown verb", "FROB", "ERR UNKNOWN"},
		{"lower-case verb", "identify", "ERR UNKNOWN"},
		{"empty line", "", "ERR SYNTAX"},
		{"missing argument", "SERIAL", "ERR SYNTAX"},
		{"extra argument", "LOCK now", "ERR SYNTAX"},
		{"control character", "STATUS\x01", "ERR SYNTAX"},
		{"line too long", "SERIAL " + strings.Repeat("A", otpfw.MaxLine), "ERR TOOLONG"},
		{"seed not hex", "SEED xyz", "ERR ARG"},
		{"seed under 128 bits", "SEED 00112233445566778899aabbccddee", "ERR ARG"},
		{"serial IAM refuses", "SERIAL GAHT#1234567", "ERR ARG"},
		{"digits 7", "SPEC SHA1 7 30", "ERR ARG"},
		{"period 0", "SPEC SHA1 6 0", "ERR ARG"},
		{"unknown algorithm", "SPEC MD5 6 30", "ERR ARG"},
		{"time not a number", "TIME yesterday", "ERR ARG"},
		{"self-test before a seed", "SELFTEST", "ERR STATE"},
		{"read seed before a seed", "READSEED", "ERR STATE"},
		{"good seed", "SEED " + secretHex, "OK"},
		{"good request with CRLF", "STATUS\r", "OK state=factory"},
	} {
		if _, err := conn.Write([]byte(c.line + "\n")); err != nil {
			t.Fatal(err)
		}
		ans, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(ans, c.want) {
			t.Errorf("%s: %q answered %q, want %s", c.name, c.line, ans, c.want)
		}
		if c.name != "good seed" && strings.Contains(ans, secretHex) {
			t.Errorf("%s: answer carries the seed", c.name)
		}
	}
}

func TestServeFactoryPortStops(t *testing.T) {
	fw, _ := device(t, otpfw.Config{})
	host, dev := net.Pipe()
	defer host.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fw.ServeFactoryPort(ctx, dev) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("after cancel: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeFactoryPort did not stop on cancel")
	}
	// EOF ends the session cleanly.
	h2, d2 := net.Pipe()
	go func() { h2.Write([]byte("STATUS")); h2.Close() }()
	if err := fw.ServeFactoryPort(context.Background(), d2); err != nil {
		t.Errorf("on EOF: %v", err)
	}
}

func TestNewRefusesForeignFlash(t *testing.T) {
	src := hw.NewManualTime(t0)
	_, err := otpfw.New(otpfw.Config{Clock: hw.NewClock(src, 0), Flash: hw.NewFlash("fido", 1)})
	if !errors.Is(err, hw.ErrForeign) {
		t.Errorf("FIDO flash: %v, want ErrForeign", err)
	}
	_, err = otpfw.New(otpfw.Config{Clock: hw.NewClock(src, 0), Flash: hw.NewFlash(otpfw.FlashKind, 7)})
	if !errors.Is(err, hw.ErrVersion) {
		t.Errorf("version 7 flash: %v, want ErrVersion", err)
	}
	// A flash whose seed section fails its check, in a locked token.
	fw, _ := device(t, otpfw.Config{})
	fw.SetSerial("GAHT12345674")
	fw.SetSeed(rfcSeed)
	fw.SetSpec(token.DefaultSpec)
	fw.Lock()
	im := fw.Flash().Image()
	fl, _ := hw.FlashFromImage(im)
	b, _ := fl.Get("seed")
	b[3] ^= 4
	fl.Put("seed", b)
	if _, err := otpfw.New(otpfw.Config{Clock: hw.NewClock(src, 0), Flash: fl}); !errors.Is(err, hw.ErrCorrupt) {
		t.Errorf("damaged seed: %v, want ErrCorrupt", err)
	}
}

// The RFC 6238 vector of year 2603 goes through the port both ways.
func TestFactoryPortFarFuture(t *testing.T) {
	far := time.Unix(20000000000, 0).UTC()
	fw, src := device(t, otpfw.Config{})
	src.Set(far.Add(-time.Hour)) // clock offsets are durations: ±292 years
	c, _ := connect(t, fw)
	provision(t, c, far)
	code, at, err := c.SelfTest()
	if err != nil || code != "65353130" || !at.Equal(far) {
		t.Errorf("SelfTest at %v: %s at %v, %v", far, code, at, err)
	}
}

// The client gives clear errors for a device that answers nonsense or
// hangs up, never a zero value read as success.
func TestFactoryClientBadDevice(t *testing.T) {
	for _, c := range []struct {
		name, answer, want string
	}{
		{"nonsense", "HELLO\n", "malformed answer"},
		{"hang-up", "", "unexpected EOF"},
		{"bad identity", "OK tokenlab-otpfw/1 model=toaster state=factory serial=-\n", "unknown model"},
		{"self-test without a time", "OK 123456\n", "malformed answer"},
	} {
		t.Run(c.name, func(t *testing.T) {
			host, dev := net.Pipe()
			defer host.Close()
			go func() {
				bufio.NewReader(dev).ReadString('\n')
				dev.Write([]byte(c.answer))
				dev.Close()
			}()
			cl := otpfw.NewFactoryClient(host)
			var err error
			if c.name == "self-test without a time" {
				_, _, err = cl.SelfTest()
			} else {
				_, err = cl.Identify()
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one mentioning %q", err, c.want)
			}
		})
	}
}
