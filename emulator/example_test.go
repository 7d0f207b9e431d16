package emulator_test

import (
	"fmt"
	"os"
	"time"

	"github.com/tokenlab/tokenlab/emulator"
	"github.com/tokenlab/tokenlab/token"
)

func ExampleKeyFob() {
	clk := emulator.NewManualClock(time.Unix(1111111109, 0))
	fob, _ := emulator.NewKeyFob(emulator.Options{
		Serial: "GAHT12345674",
		Seed:   token.Seed("12345678901234567890"),
		Spec:   token.Spec{Algorithm: token.SHA1, Digits: 8, Period: 30 * time.Second},
		Time:   clk,
	})
	r, _ := fob.Press()
	fmt.Println(r.Code)
	clk.Advance(15 * time.Second)
	_, lit := fob.Display()
	fmt.Println("lit after 15 s:", lit)
	// Output:
	// 07081804
	// lit after 15 s: false
}

func ExampleVirtualMFA() {
	clk := emulator.NewManualClock(time.Unix(59, 0))
	app, _ := emulator.NewVirtualMFA(emulator.Options{
		ARN:  token.MFAARN{Account: "123456789012", Path: "/", Name: "alice-phone"},
		Seed: token.Seed("12345678901234567890"),
		Time: clk,
	})
	fmt.Println(app.ID())
	uri, _ := app.URI()
	fmt.Println(uri)
	code, _ := app.Display()
	fmt.Println(code)
	// Output:
	// arn:aws:iam::123456789012:mfa/alice-phone
	// otpauth://totp/Amazon%20Web%20Services:alice-phone@123456789012?algorithm=SHA1&digits=6&issuer=Amazon%20Web%20Services&period=30&secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ
	// 287082
}

func ExampleFleet() {
	clk := emulator.NewManualClock(time.Unix(1234567890, 0))
	fleet := emulator.NewFleet(3, emulator.FleetBytesSHA1)
	for i, ppm := range []float64{0, 100, -100} {
		s, _ := token.NewSerial("GAHT", uint64(i+1))
		fob, _ := emulator.NewKeyFob(emulator.Options{Serial: s, Seed: token.Seed("12345678901234567890"), Time: clk, DriftPPM: ppm})
		fleet.AddToken(fob.Token)
	}
	clk.Advance(30 * 24 * time.Hour) // a month: ±259 s of drift
	codes := fleet.Codes(clk.Now(), nil)
	for i, c := range codes {
		fmt.Println(fleet.Serial(i), string(token.AppendCode(nil, c, 6)))
	}
	// Output:
	// GAHT00000018 784174
	// GAHT00000026 706917
	// GAHT00000034 719037
}

func ExampleHome() {
	dir, _ := os.MkdirTemp("", "tokenlab")
	defer os.RemoveAll(dir)
	clk := emulator.NewManualClock(time.Unix(59, 0))
	home, _ := emulator.OpenHome(dir, clk)

	fob, _ := emulator.NewKeyFob(emulator.Options{Serial: "GAHT12345674", Seed: token.Seed("12345678901234567890"), Time: clk})
	home.Create(fob.Token)

	same, _ := home.Load("GAHT12345674")
	r, _ := same.Press()
	fmt.Println(same.Model(), same.Serial(), r.Code)
	// Output:
	// keyfob GAHT12345674 287082
}
