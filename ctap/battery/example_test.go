package battery_test

import (
	"context"
	"fmt"

	"github.com/tokenlab/tokenlab/ctap/battery"
	"github.com/tokenlab/tokenlab/ctap/ctaphid"
	"github.com/tokenlab/tokenlab/emulator"
)

// Run part of the battery against an in-process simulated key.
func ExampleRun() {
	key, _ := emulator.NewSecurityKey(emulator.SecurityKeyOptions{})
	defer key.Close()
	target := battery.Target{
		Open:       func(context.Context) (*ctaphid.Device, error) { return ctaphid.NewDevice(key.Open()), nil },
		PowerCycle: func(context.Context) error { return key.PowerCycle() },
	}
	rep := battery.Run(context.Background(), target, battery.Options{
		Only: map[string]bool{"hid.ping-7609": true, "ga.counter": true, "pin.blocked-after-3": true},
	})
	for _, r := range rep.Results {
		fmt.Println(r.Outcome, r.Name)
	}
	fmt.Println("failed:", rep.Failed())
	// Output:
	// pass hid.ping-7609
	// pass ga.counter
	// pass pin.blocked-after-3
	// failed: false
}
