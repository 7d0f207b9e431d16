package otpfw

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sync"
	"time"

	"github.com/tokenlab/tokenlab/firmware-sim/hw"
	"github.com/tokenlab/tokenlab/token"
)

// FlashKind is the kind tag of an OTP token's flash image.
const FlashKind = "otp"

// FlashVersion is the version of the flash layout this firmware writes.
const FlashVersion = 1

// Version names the firmware in IDENTIFY answers.
const Version = "tokenlab-otpfw/1"

// State is the firmware's life-cycle state.
type State uint8

const (
	// Factory: fresh from the line; the factory port accepts a serial, seed,
	// spec and time, and the seed can be read back for checking.
	Factory State = iota + 1
	// Provisioned: locked; the seed slot can neither be read nor rewritten.
	Provisioned
	// Tampered: the case was opened; the seed is wiped and the token is dead.
	Tampered
)

func (s State) String() string {
	switch s {
	case Factory:
		return "factory"
	case Provisioned:
		return "provisioned"
	case Tampered:
		return "tampered"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// ParseState reads a state name as String writes it.
func ParseState(s string) (State, error) {
	for _, st := range []State{Factory, Provisioned, Tampered} {
		if st.String() == s {
			return st, nil
		}
	}
	return 0, fmt.Errorf("otpfw: unknown state %q", s)
}

// Errors the firmware returns; the factory port carries each as an ERR
// code (in parentheses) and [FactoryClient] maps the code back, so
// errors.Is works on both sides of the port.
var (
	ErrLocked         = errors.New("otpfw: token is locked")                   // LOCKED
	ErrTampered       = errors.New("otpfw: token was tampered with and wiped") // TAMPERED
	ErrNotProvisioned = errors.New("otpfw: token is not provisioned")          // STATE
	ErrClock          = errors.New("otpfw: clock oscillator stopped")          // CLOCK
	ErrFlash          = errors.New("otpfw: flash verify failed")               // FLASH
	ErrBrownOut       = hw.ErrBrownOut                                         // BATTERY
	ErrArgument       = errors.New("otpfw: bad argument")                      // ARG
	ErrSyntax         = errors.New("otpfw: bad command")                       // SYNTAX, UNKNOWN, TOOLONG
)

// Faults are manufacturing defects to inject, so a simulated production
// line sees units fail self-test or lock.
type Faults struct {
	// StuckClock stops the RTC oscillator: SELFTEST and LOCK answer ERR CLOCK.
	StuckClock bool
	// BadFlashWrite corrupts every flash write: SELFTEST and LOCK, which
	// verify the flash, answer ERR FLASH and the unit stays unlocked.
	BadFlashWrite bool
}

// Config is the hardware a firmware runs on. Clock is required; the rest
// default to a fresh part.
type Config struct {
	Model   token.Model // KeyFob, DisplayCard or Virtual; default KeyFob
	Clock   *hw.Clock
	Flash   *hw.Flash   // default: empty flash (a factory-state token)
	Button  *hw.Button  // default: a new button
	Display *hw.Display // default: one that blanks after Model.DisplayTime()
	Battery *hw.Battery // nil: mains or phone power
	Faults  Faults
}

// Firmware is the TOTP token firmware. It is safe for concurrent use.
type Firmware struct {
	pressMu sync.Mutex // one Press at a time, so each gets its own reading
	mu      sync.Mutex
	model   token.Model
	clock   *hw.Clock
	flash   *hw.Flash
	button  *hw.Button
	display *hw.Display
	battery *hw.Battery
	state   State
	last    Reading
	lastErr error
}

// Reading is what one button press produced.
type Reading struct {
	Code       string    // the code shown
	DeviceTime time.Time // the device's own (drifting) time it was computed at
	At         time.Time // the real instant of the press
}

// Flash sections. Every section the firmware writes ends in a CRC-32C of
// its name and data, checked on SELFTEST, LOCK and every read.
const (
	secModel  = "model"  // 1 byte
	secState  = "state"  // 1 byte; absent means Factory
	secSerial = "serial" // the serial
	secSpec   = "spec"   // algorithm, digits, period in seconds (uint16)
	secSeed   = "seed"   // the seed
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func sectionSum(name string, data []byte) uint32 {
	c := crc32.Update(0, castagnoli, []byte(name))
	return crc32.Update(c, castagnoli, data)
}

// New boots the firmware from cfg.Flash. An empty flash is a factory-state
// token; a flash of another kind or version, or one whose sections fail
// their checks, is refused.
func New(cfg Config) (*Firmware, error) {
	if cfg.Clock == nil {
		return nil, errors.New("otpfw: Config.Clock is required")
	}
	f := &Firmware{clock: cfg.Clock, flash: cfg.Flash, button: cfg.Button, display: cfg.Display, battery: cfg.Battery, model: cfg.Model}
	if f.flash == nil {
		f.flash = hw.NewFlash(FlashKind, FlashVersion)
	}
	if f.flash.Kind() != FlashKind {
		return nil, fmt.Errorf("%w: image kind %q, want %q", hw.ErrForeign, f.flash.Kind(), FlashKind)
	}
	if v := f.flash.Version(); v != FlashVersion {
		return nil, fmt.Errorf("%w: otp image version %d, this firmware reads %d", hw.ErrVersion, v, FlashVersion)
	}
	if b, ok, err := f.get(secModel); err != nil {
		return nil, err
	} else if ok {
		if len(b) != 1 || !token.Model(b[0]).TOTP() {
			return nil, fmt.Errorf("%w: bad model section", hw.ErrCorrupt)
		}
		if f.model != 0 && f.model != token.Model(b[0]) {
			return nil, fmt.Errorf("otpfw: flash holds a %v, not a %v", token.Model(b[0]), f.model)
		}
		f.model = token.Model(b[0])
	} else {
		if f.model == 0 {
			f.model = token.KeyFob
		}
		if !f.model.TOTP() {
			return nil, fmt.Errorf("otpfw: model %v has no TOTP firmware", f.model)
		}
		if err := f.put(secModel, []byte{byte(f.model)}); err != nil {
			return nil, err
		}
	}
	f.state = Factory
	if b, ok, err := f.get(secState); err != nil {
		return nil, err
	} else if ok {
		if len(b) != 1 || b[0] < byte(Factory) || b[0] > byte(Tampered) {
			return nil, fmt.Errorf("%w: bad state section", hw.ErrCorrupt)
		}
		f.state = State(b[0])
	}
	if f.state == Provisioned {
		// A locked token must have everything it needs, intact.
		if err := f.verify(true); err != nil {
			return nil, fmt.Errorf("%w: %v", hw.ErrCorrupt, err)
		}
	}
	if f.button == nil {
		f.button = new(hw.Button)
	}
	if f.display == nil {
		f.display = hw.NewDisplay(f.model.DisplayTime())
	}
	if cfg.Faults.StuckClock {
		f.clock.SetStuck(true)
	}
	if cfg.Faults.BadFlashWrite {
		f.flash.SetBadWrite(true)
	}
	f.button.OnPress(func() { f.press() })
	return f, nil
}

// put writes a section with its check.
func (f *Firmware) put(name string, data []byte) error {
	b := binary.BigEndian.AppendUint32(bytes.Clone(data), sectionSum(name, data))
	if err := f.flash.Put(name, b); err != nil {
		return fmt.Errorf("%w: %v", ErrFlash, err)
	}
	return nil
}

// get reads a section and checks it.
func (f *Firmware) get(name string) ([]byte, bool, error) {
	b, ok := f.flash.Get(name)
	if !ok {
		return nil, false, nil
	}
	if len(b) < 4 || binary.BigEndian.Uint32(b[len(b)-4:]) != sectionSum(name, b[:len(b)-4]) {
		clear(b)
		return nil, true, fmt.Errorf("%w: section %q fails its check", ErrFlash, name)
	}
	return b[:len(b)-4], true, nil
}

// verify checks every firmware section (other sections belong to whoever
// owns the device image); with complete it also requires serial, spec
// and seed.
func (f *Firmware) verify(complete bool) error {
	for _, n := range []string{secModel, secState, secSerial, secSpec, secSeed} {
		b, _, err := f.get(n)
		clear(b)
		if err != nil {
			return err
		}
	}
	if complete {
		for _, n := range []string{secSerial, secSpec, secSeed} {
			if _, ok := f.flash.Get(n); !ok {
				return fmt.Errorf("%w: no %s set", ErrNotProvisioned, n)
			}
		}
	}
	return nil
}

// Model returns the token model.
func (f *Firmware) Model() token.Model { return f.model }

// Clock returns the device's clock.
func (f *Firmware) Clock() *hw.Clock { return f.clock }

// Flash returns the device's flash memory (to save its image).
func (f *Firmware) Flash() *hw.Flash { return f.flash }

// Button returns the device's button.
func (f *Firmware) Button() *hw.Button { return f.button }

// Display returns the device's display.
func (f *Firmware) Display() *hw.Display { return f.display }

// Battery returns the device's battery, nil for mains power.
func (f *Firmware) Battery() *hw.Battery { return f.battery }

// State returns the life-cycle state.
func (f *Firmware) State() State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state
}

func (f *Firmware) writable() error {
	switch f.state {
	case Provisioned:
		return ErrLocked
	case Tampered:
		return ErrTampered
	}
	return nil
}

// Serial returns the serial set on the token, or "".
func (f *Firmware) Serial() token.Serial {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, _, err := f.get(secSerial)
	if err != nil {
		return ""
	}
	return token.Serial(b)
}

// Spec returns the token's spec, or false if none is set (or it is damaged).
func (f *Firmware) Spec() (token.Spec, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.spec()
}

func (f *Firmware) spec() (token.Spec, bool) {
	b, ok, err := f.get(secSpec)
	if !ok || err != nil || len(b) != 4 {
		return token.Spec{}, false
	}
	s := token.Spec{Algorithm: token.Algorithm(b[0]), Digits: int(b[1]), Period: time.Duration(binary.BigEndian.Uint16(b[2:])) * time.Second}
	if s.Validate() != nil {
		return token.Spec{}, false
	}
	return s, true
}

// SetSerial sets the serial (factory state only).
func (f *Firmware) SetSerial(s token.Serial) error {
	if _, err := token.ParseSerial(string(s)); err != nil {
		return fmt.Errorf("%w: %v", ErrArgument, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.writable(); err != nil {
		return err
	}
	return f.put(secSerial, []byte(s))
}

// SetSeed writes the seed slot (factory state only). After lock it answers
// ErrLocked: the seed is write-once.
func (f *Firmware) SetSeed(seed token.Seed) error {
	if _, err := token.NewSeed(seed); err != nil {
		return fmt.Errorf("%w: %v", ErrArgument, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.writable(); err != nil {
		return err
	}
	return f.put(secSeed, seed)
}

// ReadSeed reads the seed back (factory state only, to check a burn). A
// locked token answers ErrLocked.
func (f *Firmware) ReadSeed() (token.Seed, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.writable(); err != nil {
		return nil, err
	}
	b, ok, err := f.get(secSeed)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: no seed set", ErrNotProvisioned)
	}
	return token.Seed(b), nil
}

// SetSpec sets the algorithm, digits and period (factory state only).
func (f *Firmware) SetSpec(s token.Spec) error {
	if err := s.Validate(); err != nil {
		return fmt.Errorf("%w: %v", ErrArgument, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.writable(); err != nil {
		return err
	}
	b := []byte{byte(s.Algorithm), byte(s.Digits), 0, 0}
	binary.BigEndian.PutUint16(b[2:], uint16(s.Period/time.Second))
	return f.put(secSpec, b)
}

// SetTime sets the device clock to t (factory state only).
func (f *Firmware) SetTime(t time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.writable(); err != nil {
		return err
	}
	f.clock.Set(t)
	return nil
}

// SelfTest checks the clock and the flash and computes the code at the
// device's current time, which the line compares with its own.
func (f *Firmware) SelfTest() (code string, deviceTime time.Time, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.state == Tampered {
		return "", time.Time{}, ErrTampered
	}
	if f.clock.Stopped() {
		return "", time.Time{}, ErrClock
	}
	if err := f.verify(true); err != nil {
		return "", time.Time{}, err
	}
	return f.code()
}

// code computes the code at the device's time; f.mu is held.
func (f *Firmware) code() (string, time.Time, error) {
	spec, ok := f.spec()
	if !ok {
		return "", time.Time{}, fmt.Errorf("%w: no spec set", ErrNotProvisioned)
	}
	seed, ok, err := f.get(secSeed)
	if err != nil {
		return "", time.Time{}, err
	}
	if !ok {
		return "", time.Time{}, fmt.Errorf("%w: no seed set", ErrNotProvisioned)
	}
	defer clear(seed)
	t := f.clock.Now()
	return spec.TOTP(token.Seed(seed), t), t, nil
}

// Lock ends provisioning: after the same checks as SelfTest it marks the
// token provisioned, after which the seed, serial, spec and time are fixed.
// A failed check leaves the token unlocked.
func (f *Firmware) Lock() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.writable(); err != nil {
		return err
	}
	if f.clock.Stopped() {
		return ErrClock
	}
	if err := f.verify(true); err != nil {
		return err
	}
	if err := f.put(secState, []byte{byte(Provisioned)}); err != nil {
		return err
	}
	if b, _, err := f.get(secState); err != nil || len(b) != 1 || b[0] != byte(Provisioned) {
		f.flash.Erase(secState) // stays a factory-state unit
		return fmt.Errorf("%w: state write did not verify", ErrFlash)
	}
	f.state = Provisioned
	return nil
}

// Tamper is what opening the case does: the seed is wiped and the token
// shows nothing ever after.
func (f *Firmware) Tamper() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.flash.Erase(secSeed)
	f.flash.Erase(secState)
	f.put(secState, []byte{byte(Tampered)}) // best effort; the RAM state rules until reboot
	f.state = Tampered
	f.display.Clear()
}

// Press is one press of the button: the firmware computes the code at the
// device's own time and shows it. A factory-state or tampered token and a
// browned-out battery show nothing.
func (f *Firmware) Press() (Reading, error) {
	f.pressMu.Lock()
	defer f.pressMu.Unlock()
	if !f.button.Press() {
		return Reading{}, errors.New("otpfw: button jammed")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last, f.lastErr
}

// press runs on every button press.
func (f *Firmware) press() {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.clock.Source().Now()
	f.last, f.lastErr = Reading{}, nil
	switch f.state {
	case Tampered:
		f.lastErr = ErrTampered
		return
	case Factory:
		f.lastErr = ErrNotProvisioned
		return
	}
	if err := f.battery.Use(now); err != nil {
		f.display.Clear()
		f.lastErr = err
		return
	}
	code, t, err := f.code()
	if err != nil {
		f.display.Clear()
		f.lastErr = err
		return
	}
	f.display.Show(code, now)
	f.last = Reading{Code: code, DeviceTime: t, At: now}
}

// Shown returns what the display shows now, and false when blank.
func (f *Firmware) Shown() (string, bool) {
	return f.display.Read(f.clock.Source().Now())
}

// Status is the token's state as the STATUS command reports it.
type Status struct {
	State      State
	Model      token.Model
	Serial     token.Serial // "" if unset
	Spec       token.Spec   // zero if unset
	SeedSet    bool
	DeviceTime time.Time
	Battery    float64 // 0 to 1; 1 on mains power
	ClockOK    bool
}

// Status reports the token's state. It never includes the seed.
func (f *Firmware) Status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := Status{State: f.state, Model: f.model, ClockOK: !f.clock.Stopped()}
	if b, _, err := f.get(secSerial); err == nil {
		st.Serial = token.Serial(b)
	}
	st.Spec, _ = f.spec()
	_, st.SeedSet = f.flash.Get(secSeed)
	now := f.clock.Source().Now()
	st.DeviceTime = f.clock.At(now)
	st.Battery = f.battery.Level(now)
	return st
}

// ExtractSeed reads the seed straight out of a token's flash image, as a
// debug probe does on a development unit. The firmware itself never gives a
// locked seed out; this is for the owner of an emulated device (exporting
// it, building a fleet) and for tests. A damaged seed section is refused.
func ExtractSeed(fl *hw.Flash) (token.Seed, error) {
	b, ok := fl.Get(secSeed)
	if !ok {
		return nil, fmt.Errorf("%w: no seed in flash", ErrNotProvisioned)
	}
	if len(b) < 4 || binary.BigEndian.Uint32(b[len(b)-4:]) != sectionSum(secSeed, b[:len(b)-4]) {
		clear(b)
		return nil, fmt.Errorf("%w: seed section fails its check", ErrFlash)
	}
	return token.NewSeed(b[:len(b)-4])
}
