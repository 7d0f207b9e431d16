package hw_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tokenlab/tokenlab/firmware-sim/hw"
)

func ExampleClock() {
	src := hw.NewManualTime(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	clk := hw.NewClock(src, 50) // a crystal 50 ppm fast
	src.Advance(24 * time.Hour)
	fmt.Println(clk.Now().Sub(src.Now()))
	clk.Adjust(-clk.Now().Sub(src.Now())) // resynchronise
	fmt.Println(clk.Now().Sub(src.Now()))
	// Output:
	// 4.32s
	// 0s
}

func ExampleFlash() {
	dir, _ := os.MkdirTemp("", "flash")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "device.img")

	f := hw.NewFlash("fido", 1)
	f.Put("counter", []byte{0, 0, 0, 42})
	f.Save(path)

	g, err := hw.LoadFlash(path, "fido", 1)
	c, _ := g.Get("counter")
	fmt.Println(c, err)

	_, err = hw.LoadFlash(path, "otp", 1)
	fmt.Println(errors.Is(err, hw.ErrForeign))

	os.WriteFile(path, []byte("TLFLASH\x00\x00\x01"), 0o600)
	_, err = hw.LoadFlash(path, "fido", 1)
	fmt.Println(errors.Is(err, hw.ErrTruncated))
	// Output:
	// [0 0 0 42] <nil>
	// true
	// true
}
