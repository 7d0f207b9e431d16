package otpfw_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/tokenlab/tokenlab/firmware-sim/hw"
	"github.com/tokenlab/tokenlab/firmware-sim/otpfw"
	"github.com/tokenlab/tokenlab/token"
)

// A production line provisions a factory-state key fob over its factory
// port, checks its self-test code, and locks it.
func Example() {
	real := hw.NewManualTime(time.Unix(1111111109, 0))
	fw, _ := otpfw.New(otpfw.Config{Model: token.KeyFob, Clock: hw.NewClock(real, 0)})

	host, dev := net.Pipe()
	go fw.ServeFactoryPort(context.Background(), dev)
	c := otpfw.NewFactoryClient(host)

	seed := token.Seed("12345678901234567890")
	spec := token.Spec{Algorithm: token.SHA1, Digits: 8, Period: 30 * time.Second}
	c.SetSerial("GAHT12345674")
	c.SetSeed(seed)
	c.SetSpec(spec)
	c.SetTime(real.Now())
	code, at, _ := c.SelfTest()
	fmt.Println(code == spec.TOTP(seed, at), code)
	fmt.Println(c.Lock())

	_, err := c.ReadSeed()
	fmt.Println(errors.Is(err, otpfw.ErrLocked))
	fmt.Println(err)

	r, _ := fw.Press()
	fmt.Println(r.Code)
	host.Close()
	// Output:
	// true 07081804
	// <nil>
	// true
	// otpfw: READSEED refused: LOCKED token is locked
	// 07081804
}
