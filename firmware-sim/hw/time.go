package hw

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"sync"
	"time"
)

// TimeSource gives the real time a device lives in.
type TimeSource interface {
	Now() time.Time
}

// TimeFunc adapts a function such as time.Now to a TimeSource.
type TimeFunc func() time.Time

// Now calls f.
func (f TimeFunc) Now() time.Time { return f() }

// SystemTime is the wall clock.
var SystemTime TimeSource = TimeFunc(time.Now)

// ManualTime is a TimeSource that moves only when told to. It is safe for
// concurrent use.
type ManualTime struct {
	mu sync.Mutex
	t  time.Time
}

// NewManualTime returns a source stopped at t.
func NewManualTime(t time.Time) *ManualTime { return &ManualTime{t: t} }

// Now returns the current manual time.
func (m *ManualTime) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.t
}

// Set moves the source to t (forwards or backwards).
func (m *ManualTime) Set(t time.Time) {
	m.mu.Lock()
	m.t = t
	m.mu.Unlock()
}

// Advance moves the source by d and returns the new time.
func (m *ManualTime) Advance(d time.Duration) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.t = m.t.Add(d)
	return m.t
}

// RateScale is the resolution of a clock's drift rate: a rate of r means
// the device gains r/RateScale of every real nanosecond (1 ppm = 1e6).
const RateScale = 1_000_000_000_000

// MaxPPM bounds the drift a clock accepts: a crystal off by more than 10%
// is not a clock.
const MaxPPM = 100_000

// ErrClock is matched by errors about a clock's settings or saved state.
var ErrClock = errors.New("hw: invalid clock")

// PPMRate converts a drift in parts per million to a rate in units of
// 1/[RateScale], rounding to the nearest unit.
func PPMRate(ppm float64) int64 { return int64(math.Round(ppm * 1e6)) }

// ClockState is the whole state of a drifting clock as a value, so a fleet
// of a million clocks can be stored compactly and evaluated without locks.
// The device time at real instant r is
//
//	r + Offset + floor((r - Epoch) * Rate / RateScale)
//
// computed exactly in integer nanoseconds (r - Epoch saturates at ±292
// years), so the instant a device crosses a time-step boundary is well
// defined.
type ClockState struct {
	Epoch  time.Time     // real instant the drift is measured from
	Offset time.Duration // how far the device was set ahead of real time at Epoch
	Rate   int64         // drift in 1/RateScale (1 ppm = 1e6)
	Stuck  bool          // the oscillator has stopped
	At     time.Time     // device time the clock stopped at, when Stuck
}

// Delta returns how far the device is ahead of real time at instant r:
// Offset plus the drift accumulated since Epoch.
func (s *ClockState) Delta(r time.Time) time.Duration {
	return s.Offset + time.Duration(DriftNanos(int64(r.Sub(s.Epoch)), s.Rate))
}

// DeviceTime returns the device time at real instant r.
func (s *ClockState) DeviceTime(r time.Time) time.Time {
	if s.Stuck {
		return s.At
	}
	return r.Add(s.Delta(r))
}

// DriftNanos returns floor(e * rate / RateScale), the drift in ns gained
// over e real ns at rate, without overflow.
func DriftNanos(e, rate int64) int64 {
	if e == 0 || rate == 0 {
		return 0
	}
	neg := (e < 0) != (rate < 0)
	ue, ur := abs64(e), abs64(rate)
	hi, lo := bits.Mul64(ue, ur)
	if hi >= RateScale { // quotient would not fit; saturate (clock is nonsense anyway)
		if neg {
			return math.MinInt64 / 2
		}
		return math.MaxInt64 / 2
	}
	q, rem := bits.Div64(hi, lo, RateScale)
	if q > math.MaxInt64/2 {
		q = math.MaxInt64 / 2
	}
	if neg {
		if rem != 0 {
			q++ // floor towards minus infinity
		}
		return -int64(q)
	}
	return int64(q)
}

func abs64(v int64) uint64 {
	if v < 0 {
		return uint64(-v)
	}
	return uint64(v)
}

const clockStateLen = 8 + 4 + 8 + 8 + 1 + 8 + 4

func appendTime(b []byte, t time.Time) []byte {
	b = binary.BigEndian.AppendUint64(b, uint64(t.Unix()))
	return binary.BigEndian.AppendUint32(b, uint32(t.Nanosecond()))
}

func readTime(b []byte) (time.Time, bool) {
	ns := binary.BigEndian.Uint32(b[8:])
	if ns >= 1e9 {
		return time.Time{}, false
	}
	return time.Unix(int64(binary.BigEndian.Uint64(b)), int64(ns)).UTC(), true
}

// MarshalBinary encodes the state in 41 bytes.
func (s ClockState) MarshalBinary() ([]byte, error) {
	b := make([]byte, 0, clockStateLen)
	b = appendTime(b, s.Epoch)
	b = binary.BigEndian.AppendUint64(b, uint64(s.Offset))
	b = binary.BigEndian.AppendUint64(b, uint64(s.Rate))
	if s.Stuck {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	return appendTime(b, s.At), nil
}

// UnmarshalBinary decodes what MarshalBinary wrote.
func (s *ClockState) UnmarshalBinary(b []byte) error {
	if len(b) != clockStateLen || b[28] > 1 {
		return fmt.Errorf("%w: bad clock state encoding", ErrClock)
	}
	rate := int64(binary.BigEndian.Uint64(b[20:]))
	if rate > PPMRate(MaxPPM) || rate < -PPMRate(MaxPPM) {
		return fmt.Errorf("%w: drift out of range", ErrClock)
	}
	epoch, ok1 := readTime(b[0:])
	at, ok2 := readTime(b[29:])
	if !ok1 || !ok2 {
		return fmt.Errorf("%w: bad clock state encoding", ErrClock)
	}
	*s = ClockState{
		Epoch:  epoch,
		Offset: time.Duration(binary.BigEndian.Uint64(b[12:])),
		Rate:   rate,
		Stuck:  b[28] == 1,
		At:     at,
	}
	return nil
}

// Clock is a device's real-time clock: it advances 1 + ppm/1e6 times as
// fast as its TimeSource, from an offset that can be set. It is safe for
// concurrent use.
type Clock struct {
	mu  sync.Mutex
	src TimeSource
	st  ClockState
}

// NewClock returns a clock reading the same as src now, drifting by ppm
// parts per million (positive runs fast). ppm outside ±[MaxPPM] is clamped.
func NewClock(src TimeSource, ppm float64) *Clock {
	if src == nil {
		src = SystemTime
	}
	ppm = max(-MaxPPM, min(MaxPPM, ppm))
	if math.IsNaN(ppm) {
		ppm = 0
	}
	return &Clock{src: src, st: ClockState{Epoch: src.Now(), Rate: PPMRate(ppm)}}
}

// RestoreClock returns a clock with a saved state on src.
func RestoreClock(src TimeSource, st ClockState) *Clock {
	if src == nil {
		src = SystemTime
	}
	return &Clock{src: src, st: st}
}

// Source returns the clock's real time source.
func (c *Clock) Source() TimeSource { return c.src }

// Now returns the device time.
func (c *Clock) Now() time.Time {
	return c.At(c.src.Now())
}

// At returns the device time at real instant r.
func (c *Clock) At(r time.Time) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.DeviceTime(r)
}

// State returns a copy of the clock's state.
func (c *Clock) State() ClockState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st
}

// PPM returns the drift in parts per million.
func (c *Clock) PPM() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return float64(c.st.Rate) / 1e6
}

// Offset returns how far the clock was set ahead of real time at its epoch.
func (c *Clock) Offset() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.Offset
}

// SetOffset sets the clock's offset, keeping its drift epoch. A stuck clock
// ignores it.
func (c *Clock) SetOffset(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.st.Stuck {
		c.st.Offset = d
	}
}

// Adjust moves the clock by d (the offset grows by d). A stuck clock ignores it.
func (c *Clock) Adjust(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.st.Stuck {
		c.st.Offset += d
	}
}

// Set sets the device time to t now and restarts drift from this instant,
// as setting a real RTC does. The offset is a time.Duration, so a t more
// than 292 years from the source's time saturates. A stuck clock ignores it.
func (c *Clock) Set(t time.Time) {
	now := c.src.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st.Stuck {
		return
	}
	c.st.Epoch = now
	c.st.Offset = t.Sub(now)
}

// SetStuck injects (or clears) the stuck-oscillator fault: the clock stops
// at its current reading and ignores Set until cleared.
func (c *Clock) SetStuck(stuck bool) {
	now := c.src.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if stuck == c.st.Stuck {
		return
	}
	if stuck {
		c.st.At = c.st.DeviceTime(now)
		c.st.Stuck = true
		return
	}
	// Restart from where it stopped.
	c.st.Stuck = false
	c.st.Epoch = now
	c.st.Offset = c.st.At.Sub(now)
	c.st.At = time.Time{}
}

// Stopped reports the oscillator-stop flag real RTCs carry (the DS3231's
// OSF bit): true while the stuck fault is injected.
func (c *Clock) Stopped() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.Stuck
}
