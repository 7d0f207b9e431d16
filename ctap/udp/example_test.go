package udp_test

import (
	"context"
	"fmt"

	"github.com/tokenlab/tokenlab/ctap"
	"github.com/tokenlab/tokenlab/ctap/ctaphid"
	"github.com/tokenlab/tokenlab/ctap/udp"
)

// Reach a simulated key started with "tokenlab fido emulate".
func ExampleDial() {
	conn, err := udp.Dial(udp.DefaultDevice, "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	dev := ctaphid.NewDevice(conn)
	defer dev.Close()
	ch, err := dev.Open(context.Background())
	if err != nil {
		fmt.Println("no simulation running:", err)
		return
	}
	info, _ := ctap.NewClient(ch).GetInfo(context.Background())
	fmt.Println(info.Versions)
}
