package battery_test

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/ctap/battery"
	"github.com/tokenlab/tokenlab/ctap/ctaphid"
)

// operator plays the person at a real key: it replugs the key when asked
// (the key is gone until then: Open fails), and keeps its hands off when
// told not to touch.
type operator struct {
	k       *simKey
	mu      sync.Mutex
	prompts []string
	gone    bool
}

func (o *operator) prompt(msg string) {
	o.mu.Lock()
	o.prompts = append(o.prompts, msg)
	o.mu.Unlock()
	switch {
	case strings.Contains(msg, "unplug"):
		o.mu.Lock()
		o.gone = true
		o.mu.Unlock()
		go func() {
			time.Sleep(300 * time.Millisecond)
			o.k.key.PowerCycle()
			o.mu.Lock()
			o.gone = false
			o.mu.Unlock()
		}()
	case strings.Contains(msg, "do NOT touch"):
		o.k.holdTouch(true)
		time.AfterFunc(1500*time.Millisecond, func() { o.k.holdTouch(false) })
	}
}

func (o *operator) open(context.Context) (*ctaphid.Device, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.gone {
		return nil, io.ErrClosedPipe
	}
	return ctaphid.NewDevice(o.k.key.Open()), nil
}

// TestBatteryRealKeyFlow runs the battery the way it runs on hardware —
// no PowerCycle or HoldTouch hooks, prompts to an operator — against the
// simulated key with a simulated operator.
func TestBatteryRealKeyFlow(t *testing.T) {
	if testing.Short() {
		t.Skip("replugs take seconds")
	}
	k := newSimKey(t)
	op := &operator{k: k}
	target := battery.Target{Open: op.open, Prompt: op.prompt}
	rep := battery.Run(context.Background(), target, battery.Options{PIN: "24682468", Destructive: true})
	requireAllPass(t, rep)
	joined := strings.Join(op.prompts, "\n")
	for _, want := range []string{"unplug your key", "do NOT touch"} {
		if !strings.Contains(joined, want) {
			t.Errorf("no %q prompt in:\n%s", want, joined)
		}
	}
}
