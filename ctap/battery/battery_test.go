package battery_test

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"

	"github.com/tokenlab/tokenlab/ctap/battery"
	"github.com/tokenlab/tokenlab/ctap/ctaphid"
	"github.com/tokenlab/tokenlab/emulator"
	"github.com/tokenlab/tokenlab/firmware-sim/fidofw"
)

// simKey is an in-process emulator.SecurityKey seen through wrap (nil: as it is).
type simKey struct {
	key     *emulator.SecurityKey
	mu      sync.Mutex
	release chan struct{}
}

func newSimKey(t testing.TB) *simKey {
	t.Helper()
	k, err := emulator.NewSecurityKey(emulator.SecurityKeyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return &simKey{key: k}
}

// holdTouch withholds touches (true) until released (false); a request
// waiting meanwhile is approved on release, as if touched then.
func (k *simKey) holdTouch(hold bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if !hold {
		if k.release != nil {
			close(k.release)
			k.release = nil
		}
		k.key.SetPresence(fidofw.Approve())
		return
	}
	if k.release != nil {
		return
	}
	release := make(chan struct{})
	k.release = release
	k.key.SetPresence(fidofw.PresenceFunc(func(ctx context.Context, _ fidofw.PresenceRequest) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}))
}

// target returns an in-process Target; wrap, if not nil, sits between host and key.
func (k *simKey) target(wrap func(io.ReadWriteCloser) io.ReadWriteCloser) battery.Target {
	return battery.Target{
		Open: func(context.Context) (*ctaphid.Device, error) {
			var rw io.ReadWriteCloser = k.key.Open()
			if wrap != nil {
				rw = wrap(rw)
			}
			return ctaphid.NewDevice(rw), nil
		},
		PowerCycle: func(context.Context) error { return k.key.PowerCycle() },
		HoldTouch:  k.holdTouch,
	}
}

func requireAllPass(t *testing.T, rep *battery.Report) {
	t.Helper()
	var buf bytes.Buffer
	rep.WriteTable(&buf)
	p, f, s := rep.Counts()
	if f != 0 || s != 0 {
		t.Fatalf("%d passed, %d failed, %d skipped:\n%s", p, f, s, buf.String())
	}
	if p < 30 {
		t.Fatalf("only %d checks ran", p)
	}
	t.Logf("\n%s", buf.String())
}

func TestBatteryInProcess(t *testing.T) {
	k := newSimKey(t)
	rep := battery.Run(context.Background(), k.target(nil), battery.Options{Destructive: true})
	requireAllPass(t, rep)
}
