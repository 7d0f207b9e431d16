package battery_test

import (
	"context"
	"testing"

	"github.com/tokenlab/tokenlab/ctap/battery"
	"github.com/tokenlab/tokenlab/ctap/ctaphid"
	"github.com/tokenlab/tokenlab/ctap/udp"
	"github.com/tokenlab/tokenlab/emulator"
)

// BenchmarkBatteryUDP is the full non-destructive battery against the
// simulated key over UDP: ns/op is its wall time. "full" includes the
// keepalive, cancel and message-timeout checks, which wait on purpose
// for the key (two KEEPALIVE intervals and its 0.5 s transaction timeout);
// "no-waits" leaves those three out.
func BenchmarkBatteryUDP(b *testing.B) {
	for _, mode := range []string{"full", "no-waits"} {
		b.Run(mode, func(b *testing.B) {
			k := newSimKey(b)
			srv, err := emulator.ListenUDP(k.key, "127.0.0.1:0", "-")
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go srv.Serve(ctx)
			defer srv.Close()
			opts := battery.Options{PIN: battery.DefaultPIN}
			if mode == "no-waits" {
				opts.Only = map[string]bool{}
				for _, c := range battery.Checks() {
					switch c.Name {
					case "hid.keepalive", "hid.cancel", "hid.msg-timeout", "reset":
					default:
						opts.Only[c.Name] = true
					}
				}
			}
			checks := 0
			b.ResetTimer()
			for b.Loop() {
				// A fresh socket per run, as the CLI opens one (the battery
				// closes it at the end).
				conn, err := udp.Dial(srv.Addr().String(), "127.0.0.1:0")
				if err != nil {
					b.Fatal(err)
				}
				target := battery.Target{
					Open:       func(context.Context) (*ctaphid.Device, error) { return ctaphid.NewDevice(conn), nil },
					PowerCycle: func(context.Context) error { return conn.PowerCycle() },
					HoldTouch:  k.holdTouch,
				}
				rep := battery.Run(ctx, target, opts)
				p, f, _ := rep.Counts()
				if f > 0 {
					b.Fatalf("%d checks failed", f)
				}
				checks = p + f
			}
			b.ReportMetric(float64(checks), "checks/op")
		})
	}
}
