package battery_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/tokenlab/tokenlab/ctap/battery"
	"github.com/tokenlab/tokenlab/ctap/ctaphid"
	"github.com/tokenlab/tokenlab/ctap/udp"
	"github.com/tokenlab/tokenlab/emulator"
)

func TestBatteryOverUDP(t *testing.T) {
	k := newSimKey(t)
	srv, err := emulator.ListenUDP(k.key, "127.0.0.1:0", "-")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go srv.Serve(ctx)
	defer srv.Close()
	conn, err := udp.Dial(srv.Addr().String(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := battery.Target{
		Open:       func(context.Context) (*ctaphid.Device, error) { return ctaphid.NewDevice(conn), nil },
		PowerCycle: func(context.Context) error { return conn.PowerCycle() },
		HoldTouch:  k.holdTouch,
	}
	rep := battery.Run(ctx, target, battery.Options{Destructive: true})
	requireAllPass(t, rep)
	var junit bytes.Buffer
	rep.WriteJUnit(&junit)
	if !strings.Contains(junit.String(), `<testcase name="hid.ping-7609"`) {
		t.Fatal("JUnit lacks a test case")
	}
}
