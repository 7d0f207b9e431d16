package line_test

import (
	"context"
	"fmt"

	"github.com/tokenlab/tokenlab/provision"
	"github.com/tokenlab/tokenlab/provision/line"
	"github.com/tokenlab/tokenlab/token"
)

// Burn a batch of three key fobs on one station; locked tokens would go to
// Config.Store (an *emulator.Home), here nowhere.
func ExampleRun() {
	b, _ := provision.NewBatch(provision.BatchConfig{Model: token.KeyFob, Prefix: "LINE", Start: 1, Count: 3})
	sum, err := line.Run(context.Background(), line.Config{Stations: 1}, b.Next, func(r line.Result) error {
		fmt.Println(r.Serial, r.Station, r.Outcome)
		return nil
	})
	fmt.Println(sum.Locked, "locked", err)
	// Output:
	// LINE00000018 1 locked
	// LINE00000026 1 locked
	// LINE00000034 1 locked
	// 3 locked <nil>
}
