package hw

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// Button is a push button. Firmware registers what a press does with
// [Button.OnPress], or waits for one with [Button.Wait] (user presence).
// It is safe for concurrent use.
type Button struct {
	mu      sync.Mutex
	count   uint64
	jammed  bool
	handler func()
	waiters []chan struct{}
}

// OnPress sets the function called (synchronously) on every press.
func (b *Button) OnPress(f func()) {
	b.mu.Lock()
	b.handler = f
	b.mu.Unlock()
}

// Press presses the button once. It reports false, doing nothing, while the
// button is jammed.
func (b *Button) Press() bool {
	b.mu.Lock()
	if b.jammed {
		b.mu.Unlock()
		return false
	}
	b.count++
	h := b.handler
	ws := b.waiters
	b.waiters = nil
	b.mu.Unlock()
	for _, w := range ws {
		close(w)
	}
	if h != nil {
		h()
	}
	return true
}

// Wait blocks until the next press or until ctx is done.
func (b *Button) Wait(ctx context.Context) error {
	w := make(chan struct{})
	b.mu.Lock()
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()
	select {
	case <-w:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Presses returns how many presses the button has registered.
func (b *Button) Presses() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.count
}

// SetJammed injects (or clears) a jammed-button fault.
func (b *Button) SetJammed(j bool) {
	b.mu.Lock()
	b.jammed = j
	b.mu.Unlock()
}

// Display is a small segment or e-paper display that blanks Timeout after
// it was last written (a zero Timeout never blanks). Times are the caller's
// (real) time. It is safe for concurrent use.
type Display struct {
	mu      sync.Mutex
	timeout time.Duration
	text    string
	shown   time.Time
}

// NewDisplay returns a blank display that blanks timeout after each Show.
func NewDisplay(timeout time.Duration) *Display { return &Display{timeout: timeout} }

// Timeout returns how long the display keeps what it shows.
func (d *Display) Timeout() time.Duration { return d.timeout }

// Show puts text on the display at instant now.
func (d *Display) Show(text string, now time.Time) {
	d.mu.Lock()
	d.text, d.shown = text, now
	d.mu.Unlock()
}

// Clear blanks the display.
func (d *Display) Clear() {
	d.mu.Lock()
	d.text = ""
	d.mu.Unlock()
}

// Snapshot returns the last text written and when, to save a device's
// state; Restore puts it back.
func (d *Display) Snapshot() (text string, shown time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.text, d.shown
}

// Restore sets the display's last text and when it was written.
func (d *Display) Restore(text string, shown time.Time) {
	d.mu.Lock()
	d.text, d.shown = text, shown
	d.mu.Unlock()
}

// Read returns what the display shows at instant now, and false when it is
// blank (never written, cleared, or timed out: shown at s, blank from
// s+Timeout on).
func (d *Display) Read(now time.Time) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.text == "" {
		return "", false
	}
	if d.timeout > 0 && (!now.Before(d.shown.Add(d.timeout)) || now.Before(d.shown)) {
		return "", false
	}
	return d.text, true
}

// ErrBrownOut is returned by [Battery.Use] when the battery is too weak for
// the operation: the device resets before showing anything.
var ErrBrownOut = errors.New("hw: battery brown-out")

// Battery is a coin cell with a budget of presses that also drains in
// standby. A nil *Battery is mains (or phone) power: never low, never out.
// It is safe for concurrent use.
type Battery struct {
	mu            sync.Mutex
	capacity      float64 // press-equivalents when new
	level         float64 // press-equivalents left at last
	standbyPerDay float64 // press-equivalents drained per day
	last          int64   // Unix ns of the last drain
}

// NewBattery returns a full battery good for presses presses, losing
// standbyPerDay press-equivalents a day, installed at now.
func NewBattery(presses int, standbyPerDay float64, now time.Time) *Battery {
	c := float64(max(presses, 0))
	return &Battery{capacity: c, level: c, standbyPerDay: max(standbyPerDay, 0), last: now.UnixNano()}
}

func (b *Battery) drain(now time.Time) {
	n := now.UnixNano()
	if n > b.last {
		b.level -= b.standbyPerDay * float64(n-b.last) / float64(24*time.Hour)
		b.last = n
	}
	if b.level < 0 {
		b.level = 0
	}
}

// Use takes one press from the battery at now, or returns ErrBrownOut when
// less than one is left.
func (b *Battery) Use(now time.Time) error {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.drain(now)
	if b.level < 1 {
		return ErrBrownOut
	}
	b.level--
	return nil
}

// Level returns the charge left at now, from 0 (empty) to 1 (new).
func (b *Battery) Level(now time.Time) float64 {
	if b == nil {
		return 1
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.drain(now)
	if b.capacity == 0 {
		return 0
	}
	return b.level / b.capacity
}

// Low reports whether less than a tenth of the charge is left at now.
func (b *Battery) Low(now time.Time) bool { return b.Level(now) < 0.1 }

// Drain empties the battery by presses press-equivalents (fault injection).
func (b *Battery) Drain(presses float64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.level = max(0, b.level-presses)
	b.mu.Unlock()
}

// MarshalBinary encodes the battery's state.
func (b *Battery) MarshalBinary() ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := make([]byte, 0, 32)
	p = binary.BigEndian.AppendUint64(p, math.Float64bits(b.capacity))
	p = binary.BigEndian.AppendUint64(p, math.Float64bits(b.level))
	p = binary.BigEndian.AppendUint64(p, math.Float64bits(b.standbyPerDay))
	p = binary.BigEndian.AppendUint64(p, uint64(b.last))
	return p, nil
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (b *Battery) UnmarshalBinary(p []byte) error {
	if len(p) != 32 {
		return errors.New("hw: invalid battery state encoding")
	}
	c := math.Float64frombits(binary.BigEndian.Uint64(p))
	l := math.Float64frombits(binary.BigEndian.Uint64(p[8:]))
	s := math.Float64frombits(binary.BigEndian.Uint64(p[16:]))
	for _, v := range []float64{c, l, s} {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return errors.New("hw: invalid battery state values")
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.capacity, b.level, b.standbyPerDay = c, min(l, c), s
	b.last = int64(binary.BigEndian.Uint64(p[24:]))
	return nil
}

// RNG is a device's random number generator: crypto/rand.Reader on real
// runs, [SeededRNG] in tests.
type RNG = io.Reader

// SeededRNG returns a deterministic random stream (ChaCha8) for tests and
// reproducible simulations. Never use it for real secrets.
func SeededRNG(seed uint64) io.Reader {
	var s [32]byte
	binary.BigEndian.PutUint64(s[:], seed)
	return rand.NewChaCha8(s)
}
