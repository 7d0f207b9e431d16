package hw_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/firmware-sim/hw"
)

var t0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func TestClockDrift(t *testing.T) {
	src := hw.NewManualTime(t0)
	fast := hw.NewClock(src, 50)
	slow := hw.NewClock(src, -20)
	src.Advance(24 * time.Hour)
	// 50 ppm of a day is 4.32 s; -20 ppm is -1.728 s.
	if got := fast.Now().Sub(src.Now()); got != 4320*time.Millisecond {
		t.Errorf("+50 ppm after a day: %v ahead, want 4.32s", got)
	}
	if got := slow.Now().Sub(src.Now()); got != -1728*time.Millisecond {
		t.Errorf("-20 ppm after a day: %v, want -1.728s", got)
	}
	fast.Adjust(time.Minute)
	if got := fast.Now().Sub(src.Now()); got != time.Minute+4320*time.Millisecond {
		t.Errorf("after Adjust: %v", got)
	}
	fast.SetOffset(-time.Second)
	if got := fast.Offset(); got != -time.Second {
		t.Errorf("Offset = %v", got)
	}
	// Set restarts drift from now.
	want := time.Date(2040, 6, 1, 12, 0, 0, 0, time.UTC)
	fast.Set(want)
	if !fast.Now().Equal(want) {
		t.Errorf("after Set: %v, want %v", fast.Now(), want)
	}
	src.Advance(1000 * time.Second)
	if got := fast.Now().Sub(want); got != 1000*time.Second+50*time.Millisecond {
		t.Errorf("1000 s after Set: %v, want 1000.05s", got)
	}
	if fast.PPM() != 50 {
		t.Errorf("PPM = %v", fast.PPM())
	}
}

func TestDriftNanosFloors(t *testing.T) {
	for _, c := range []struct{ e, rate, want int64 }{
		{1_000_000, hw.PPMRate(1), 1},                  // 1 ms at 1 ppm: exactly 1 ns
		{999_999, hw.PPMRate(1), 0},                    // just under: floor
		{-1, hw.PPMRate(1), -1},                        // floor towards minus infinity
		{-1_000_000, hw.PPMRate(1), -1},                // exact
		{1_000_000, hw.PPMRate(-1), -1},                // negative drift
		{1 << 62, hw.PPMRate(hw.MaxPPM), 1 << 62 / 10}, // no overflow
	} {
		if got := hw.DriftNanos(c.e, c.rate); got != c.want {
			t.Errorf("DriftNanos(%d, %d) = %d, want %d", c.e, c.rate, got, c.want)
		}
	}
}

func TestClockStuck(t *testing.T) {
	src := hw.NewManualTime(t0)
	c := hw.NewClock(src, 0)
	src.Advance(time.Hour)
	c.SetStuck(true)
	stopped := c.Now()
	src.Advance(time.Hour)
	c.Set(t0.Add(100 * time.Hour))
	c.Adjust(time.Hour)
	if !c.Now().Equal(stopped) || !c.Stopped() {
		t.Fatalf("stuck clock moved: %v, want %v", c.Now(), stopped)
	}
	c.SetStuck(false)
	src.Advance(time.Second)
	if got := c.Now().Sub(stopped); got != time.Second {
		t.Errorf("restarted clock: %v after stop, want 1s", got)
	}
}

func TestClockStateEncoding(t *testing.T) {
	st := hw.ClockState{Epoch: t0.Add(123456789), Offset: -7 * time.Second, Rate: hw.PPMRate(-33.5), Stuck: true, At: t0.Add(time.Hour)}
	b, _ := st.MarshalBinary()
	var got hw.ClockState
	if err := got.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if !got.Epoch.Equal(st.Epoch) || !got.At.Equal(st.At) || got.Offset != st.Offset || got.Rate != st.Rate || !got.Stuck {
		t.Errorf("round trip: %+v, want %+v", got, st)
	}
	if err := got.UnmarshalBinary(b[:10]); !errors.Is(err, hw.ErrClock) {
		t.Errorf("short encoding: %v", err)
	}
	b[20] = 0x7f // an absurd drift
	if err := got.UnmarshalBinary(b); !errors.Is(err, hw.ErrClock) {
		t.Errorf("absurd drift: %v", err)
	}
}

func sampleFlash(t *testing.T) *hw.Flash {
	t.Helper()
	f := hw.NewFlash("otp", 1)
	if err := f.Put("seed", []byte("0123456789abcdef")); err != nil {
		t.Fatal(err)
	}
	if err := f.Put("serial", []byte("GAHT12345674")); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFlashRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dev.img")
	f := sampleFlash(t)
	if err := f.Save(path); err != nil {
		t.Fatal(err)
	}
	g, err := hw.LoadFlash(path, "otp", 1)
	if err != nil {
		t.Fatal(err)
	}
	if d, ok := g.Get("serial"); !ok || string(d) != "GAHT12345674" {
		t.Errorf("serial section %q, %v", d, ok)
	}
	if got := g.Sections(); len(got) != 2 || got[0] != "seed" || got[1] != "serial" {
		t.Errorf("sections %v", got)
	}
	g.Erase("seed")
	if _, ok := g.Get("seed"); ok {
		t.Error("erased section still there")
	}
	// Saving leaves no temporary file behind.
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries after Save, want 1", len(ents))
	}
}

// Every damaged image is refused with the right error, never read.
func TestFlashRefusesDamagedImages(t *testing.T) {
	good, err := sampleFlash(t).Image().MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	mutate := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := []struct {
		name string
		img  []byte
		kind string
		want error
	}{
		{"payload bit flipped", mutate(func(b []byte) []byte { b[len(b)-40] ^= 1; return b }), "otp", hw.ErrCorrupt},
		{"checksum bit flipped", mutate(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), "otp", hw.ErrCorrupt},
		{"trailing garbage", append(bytes.Clone(good), 0), "otp", hw.ErrCorrupt},
		{"length field grown", mutate(func(b []byte) []byte { b[len(hw.Magic)+2+1+3+2+3]++; return b }), "otp", hw.ErrTruncated},
		{"empty file", nil, "otp", hw.ErrTruncated},
		{"cut inside the magic", good[:4], "otp", hw.ErrTruncated},
		{"text file", []byte("seed=1234\n"), "otp", hw.ErrForeign},
		{"PNG", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), "otp", hw.ErrForeign},
		{"FIDO image", good, "fido", hw.ErrForeign},
		{"container version 2", mutate(func(b []byte) []byte { b[len(hw.Magic)+1] = 2; return b }), "otp", hw.ErrVersion},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			im, err := hw.ParseImage(c.img, c.kind)
			if !errors.Is(err, c.want) {
				t.Fatalf("ParseImage = %v, want %v", err, c.want)
			}
			if im.Kind != "" || im.Payload != nil {
				t.Errorf("error came with an image %+v", im)
			}
		})
	}
	// Every truncation is refused.
	for n := 0; n < len(good); n++ {
		if _, err := hw.ParseImage(good[:n], "otp"); err == nil {
			t.Fatalf("image cut to %d of %d bytes accepted", n, len(good))
		}
	}
	// A payload version above what the reader knows.
	path := filepath.Join(t.TempDir(), "v9.img")
	if err := hw.SaveImage(path, hw.Image{Kind: "otp", Version: 9}); err != nil {
		t.Fatal(err)
	}
	if _, err := hw.LoadFlash(path, "otp", 1); !errors.Is(err, hw.ErrVersion) {
		t.Errorf("version 9: %v, want ErrVersion", err)
	}
	// A damaged section table inside a good container.
	bad, _ := hw.Image{Kind: "otp", Version: 1, Payload: []byte{4, 's', 'e', 'e', 'd', 0, 0, 0, 99}}.MarshalBinary()
	os.WriteFile(path, bad, 0o600)
	if _, err := hw.LoadFlash(path, "otp", 1); !errors.Is(err, hw.ErrCorrupt) {
		t.Errorf("bad section table: %v, want ErrCorrupt", err)
	}
}

func TestFlashBadWrite(t *testing.T) {
	f := hw.NewFlash("otp", 1)
	f.SetBadWrite(true)
	data := []byte("0123456789abcdef")
	if err := f.Put("seed", data); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.Get("seed"); bytes.Equal(got, data) {
		t.Error("bad-write fault stored the data intact")
	}
	f.SetBadWrite(false)
	f.Put("seed", data)
	if got, _ := f.Get("seed"); !bytes.Equal(got, data) {
		t.Error("healthy flash corrupted the data")
	}
}

func TestDisplayBlanks(t *testing.T) {
	d := hw.NewDisplay(15 * time.Second)
	if _, ok := d.Read(t0); ok {
		t.Error("new display shows something")
	}
	d.Show("287082", t0)
	if s, ok := d.Read(t0.Add(15*time.Second - 1)); !ok || s != "287082" {
		t.Errorf("just before the timeout: %q, %v", s, ok)
	}
	if _, ok := d.Read(t0.Add(15 * time.Second)); ok {
		t.Error("display still lit at the timeout")
	}
	always := hw.NewDisplay(0)
	always.Show("x", t0)
	if _, ok := always.Read(t0.Add(1000 * time.Hour)); !ok {
		t.Error("a display without timeout blanked")
	}
	always.Clear()
	if _, ok := always.Read(t0); ok {
		t.Error("cleared display shows something")
	}
}

func TestBattery(t *testing.T) {
	b := hw.NewBattery(3, 0, t0)
	for i := range 3 {
		if err := b.Use(t0); err != nil {
			t.Fatalf("press %d: %v", i+1, err)
		}
	}
	if err := b.Use(t0); !errors.Is(err, hw.ErrBrownOut) {
		t.Fatalf("fourth press of a 3-press battery: %v, want ErrBrownOut", err)
	}
	// Standby drain: 10 presses, 2 a day: flat after 5 days.
	s := hw.NewBattery(10, 2, t0)
	if got := s.Level(t0.Add(24 * time.Hour)); got < 0.79 || got > 0.81 {
		t.Errorf("after a day: level %v, want 0.8", got)
	}
	if !s.Low(t0.Add(4*24*time.Hour + 18*time.Hour)) {
		t.Error("not low at 5%")
	}
	if err := s.Use(t0.Add(5 * 24 * time.Hour)); !errors.Is(err, hw.ErrBrownOut) {
		t.Errorf("after 5 days of standby: %v, want ErrBrownOut", err)
	}
	p, _ := b.MarshalBinary()
	var r hw.Battery
	if err := r.UnmarshalBinary(p); err != nil || r.Use(t0) == nil {
		t.Errorf("restored flat battery: %v", err)
	}
	if err := r.UnmarshalBinary(p[:5]); err == nil {
		t.Error("short battery encoding accepted")
	}
	var none *hw.Battery
	if none.Use(t0) != nil || none.Level(t0) != 1 {
		t.Error("nil battery (mains power) is not always full")
	}
}

func TestButton(t *testing.T) {
	var b hw.Button
	n := 0
	b.OnPress(func() { n++ })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	done := make(chan error)
	go func() { done <- b.Wait(ctx) }()
	// Press until the waiter has seen a press (it may register late).
	for waiting := true; waiting; {
		b.Press()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			waiting = false
		case <-time.After(time.Millisecond):
		}
	}
	b.SetJammed(true)
	if b.Press() {
		t.Error("jammed button pressed")
	}
	if n != int(b.Presses()) {
		t.Errorf("handler ran %d times for %d presses", n, b.Presses())
	}
	ctx2, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if err := b.Wait(ctx2); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait on a cancelled context: %v", err)
	}
}

func TestSeededRNG(t *testing.T) {
	a, b := make([]byte, 32), make([]byte, 32)
	hw.SeededRNG(1).Read(a)
	hw.SeededRNG(1).Read(b)
	if !bytes.Equal(a, b) {
		t.Error("same seed, different streams")
	}
	hw.SeededRNG(2).Read(b)
	if bytes.Equal(a, b) {
		t.Error("different seeds, same stream")
	}
}

func TestCreateImageExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.img")
	im := hw.Image{Kind: "otp", Version: 1, Payload: []byte("a")}
	errs := make(chan error, 8)
	for range 8 {
		go func() { errs <- hw.CreateImage(path, im) }()
	}
	won := 0
	for range 8 {
		err := <-errs
		switch {
		case err == nil:
			won++
		case !errors.Is(err, os.ErrExist):
			t.Errorf("CreateImage: %v", err)
		}
	}
	if won != 1 {
		t.Errorf("%d writers created the same image", won)
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("%d files left, want 1", len(ents))
	}
}
