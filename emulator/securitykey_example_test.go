package emulator_test

import (
	"context"
	"fmt"

	"github.com/tokenlab/tokenlab/ctap/ctaphid"
	"github.com/tokenlab/tokenlab/emulator"
	"github.com/tokenlab/tokenlab/firmware-sim/fidofw"
)

// A SecurityKey is an io.ReadWriter of 64-byte HID reports: write a
// CTAPHID request, read the answer. Any CTAPHID host (package ctap's
// client, or python-fido2 over UDP) drives it the same way.
func ExampleSecurityKey() {
	key, err := emulator.NewSecurityKey(emulator.SecurityKeyOptions{Presence: fidofw.Approve()})
	if err != nil {
		panic(err)
	}
	defer key.Close()
	req := ctaphid.InitPacket(ctaphid.BroadcastCID, ctaphid.CmdInit, 8, []byte("12345678"))
	key.Write(req[:])
	buf := make([]byte, ctaphid.ReportLen)
	key.Read(buf)
	var p ctaphid.Packet
	copy(p[:], buf)
	fmt.Println(p.Cmd(), string(buf[7:15]))
	// Output: INIT 12345678
}

// Expose a key over UDP in the simulation convention (127.0.0.1:8111,
// answering to 127.0.0.1:7112 and to every sender). Tests pass port 0.
func ExampleListenUDP() {
	key, _ := emulator.NewSecurityKey(emulator.SecurityKeyOptions{})
	defer key.Close()
	srv, err := emulator.ListenUDP(key, "127.0.0.1:0", "-")
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go srv.Serve(ctx)
	fmt.Println(srv.Addr().IP)
	cancel()
	// Output: 127.0.0.1
}
