package emulator

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"time"

	"github.com/tokenlab/tokenlab/firmware-sim/hw"
	"github.com/tokenlab/tokenlab/firmware-sim/otpfw"
	"github.com/tokenlab/tokenlab/token"
)

// ManualClock is a time source that moves only when a test says so.
type ManualClock = hw.ManualTime

// NewManualClock returns a manual clock stopped at t.
func NewManualClock(t time.Time) *ManualClock { return hw.NewManualTime(t) }

// Default battery budgets: presses, and press-equivalents lost per day in
// standby. A key fob lasts about five years at a few presses a day.
const (
	KeyFobPresses            = 15000
	KeyFobStandbyPerDay      = 2.0
	DisplayCardPresses       = 10000
	DisplayCardStandbyPerDay = 1.5
)

// SerialPrefix is the prefix of the serials the emulator makes up when
// none is given.
const SerialPrefix = "TLEM"

// Options configure a new emulated token. The zero value gives a key fob
// with a fresh random seed, the default spec, no drift, on the system clock.
type Options struct {
	// Serial of a KeyFob or DisplayCard; default a random TLEM serial.
	Serial token.Serial
	// ARN of a VirtualMFA; default arn:aws:iam::123456789012:mfa/virtual-NNNNNN.
	ARN token.MFAARN
	// Seed; default a fresh one from Rand, sized for Spec.Algorithm.
	Seed token.Seed
	// Spec; zero means token.DefaultSpec.
	Spec token.Spec
	// DriftPPM is how fast the device clock runs, in parts per million.
	DriftPPM float64
	// Offset is how far the device clock is set ahead of real time.
	Offset time.Duration
	// Time is real time; default hw.SystemTime.
	Time hw.TimeSource
	// Rand is the random source for seeds and serials; default crypto/rand.
	Rand io.Reader
	// DisplayTime is how long a code stays shown; zero means the model's
	// (key fob 15 s, display card 20 s, virtual: always).
	DisplayTime time.Duration
	// BatteryPresses is the battery budget in presses; zero means the
	// model's default, negative means no battery (the virtual MFA has none).
	BatteryPresses int
	// StandbyPerDay is the standby drain in presses a day; zero means the
	// model's default.
	StandbyPerDay float64
	// Faults are manufacturing defects (factory-state tokens).
	Faults otpfw.Faults
}

// ErrOptions is matched by errors about bad Options.
var ErrOptions = errors.New("emulator: invalid options")

// Token is one emulated TOTP device of any model. It is safe for
// concurrent use.
type Token struct {
	fw   *otpfw.Firmware
	arn  token.MFAARN // Virtual only
	time hw.TimeSource
}

// KeyFob is a hardware TOTP key fob: press the button, read the code for
// 15 s.
type KeyFob struct{ *Token }

// DisplayCard is an ID-1 card with a button and an e-paper display that
// keeps the code shown for its display time (20 s by default).
type DisplayCard struct{ *Token }

// VirtualMFA is an authenticator app, identified by its IAM ARN.
type VirtualMFA struct{ *Token }

// NewKeyFob returns a provisioned, locked key fob.
func NewKeyFob(o Options) (*KeyFob, error) {
	t, err := New(token.KeyFob, o)
	if err != nil {
		return nil, err
	}
	return &KeyFob{t}, nil
}

// NewDisplayCard returns a provisioned, locked display card.
func NewDisplayCard(o Options) (*DisplayCard, error) {
	t, err := New(token.DisplayCard, o)
	if err != nil {
		return nil, err
	}
	return &DisplayCard{t}, nil
}

// NewVirtualMFA returns a virtual MFA device.
func NewVirtualMFA(o Options) (*VirtualMFA, error) {
	t, err := New(token.Virtual, o)
	if err != nil {
		return nil, err
	}
	return &VirtualMFA{t}, nil
}

// New returns a provisioned, locked token of model m: its firmware was
// given serial, seed, spec and time and then locked, as the production line
// does.
func New(m token.Model, o Options) (*Token, error) {
	t, seed, err := build(m, &o)
	if err != nil {
		return nil, err
	}
	defer seed.Wipe()
	fw := t.fw
	if err := fw.SetSerial(serialOf(m, o)); err != nil {
		return nil, err
	}
	if err := fw.SetSeed(seed); err != nil {
		return nil, err
	}
	if err := fw.SetSpec(o.Spec); err != nil {
		return nil, err
	}
	if err := fw.Lock(); err != nil {
		return nil, err
	}
	return t, nil
}

// NewFactory returns a token of model m in factory state, blank but for
// its hardware, to be provisioned through [Token.FactoryPort]. Seed and
// Serial in o are ignored; Faults are injected.
func NewFactory(m token.Model, o Options) (*Token, error) {
	o.Seed = make(token.Seed, token.MinSeedBytes) // not used; skips generation
	if o.Serial == "" {
		o.Serial = "FACTORY00"
	}
	t, seed, err := build(m, &o)
	seed.Wipe()
	return t, err
}

func serialOf(m token.Model, o Options) token.Serial {
	if m == token.Virtual {
		return token.Serial(o.ARN.String())
	}
	return o.Serial
}

// build checks o, fills its defaults and makes the hardware and firmware.
func build(m token.Model, o *Options) (*Token, token.Seed, error) {
	if !m.TOTP() {
		return nil, nil, fmt.Errorf("%w: model %v is not a TOTP device", ErrOptions, m)
	}
	if o.Time == nil {
		o.Time = hw.SystemTime
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if o.Spec == (token.Spec{}) {
		o.Spec = token.DefaultSpec
	}
	if err := o.Spec.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrOptions, err)
	}
	if math.IsNaN(o.DriftPPM) || math.Abs(o.DriftPPM) > hw.MaxPPM {
		return nil, nil, fmt.Errorf("%w: drift %v ppm out of range ±%d", ErrOptions, o.DriftPPM, hw.MaxPPM)
	}
	if o.DisplayTime < 0 {
		return nil, nil, fmt.Errorf("%w: negative display time", ErrOptions)
	}
	var t Token
	t.time = o.Time
	switch m {
	case token.Virtual:
		if o.ARN == (token.MFAARN{}) {
			var b [4]byte
			if _, err := io.ReadFull(o.Rand, b[:]); err != nil {
				return nil, nil, fmt.Errorf("emulator: %w", err)
			}
			o.ARN = token.MFAARN{Account: token.DefaultAccount, Path: "/", Name: fmt.Sprintf("virtual-%06d", binary.BigEndian.Uint32(b[:])%1000000)}
		}
		a, err := token.ParseMFAARN(o.ARN.String())
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrOptions, err)
		}
		if _, err := token.ParseSerial(a.String()); err != nil {
			return nil, nil, fmt.Errorf("%w: ARN too long to serve as a serial: %v", ErrOptions, err)
		}
		t.arn = a
	default:
		if o.Serial == "" {
			var b [8]byte
			if _, err := io.ReadFull(o.Rand, b[:]); err != nil {
				return nil, nil, fmt.Errorf("emulator: %w", err)
			}
			s, err := token.NewSerial(SerialPrefix, binary.BigEndian.Uint64(b[:])%(token.MaxSerialNumber+1))
			if err != nil {
				return nil, nil, err
			}
			o.Serial = s
		}
		if _, err := token.ParseSerial(string(o.Serial)); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrOptions, err)
		}
	}
	seed := o.Seed
	if seed == nil {
		var err error
		if seed, err = token.GenerateSeed(o.Rand, o.Spec.Algorithm); err != nil {
			return nil, nil, err
		}
	} else {
		if _, err := token.NewSeed(seed); err != nil {
			return nil, nil, fmt.Errorf("%w: %v", ErrOptions, err)
		}
		seed = append(token.Seed(nil), seed...)
	}
	clk := hw.NewClock(o.Time, o.DriftPPM)
	clk.SetOffset(o.Offset)
	now := o.Time.Now()
	dt := o.DisplayTime
	if dt == 0 {
		dt = m.DisplayTime()
	}
	var bat *hw.Battery
	presses, standby := o.BatteryPresses, o.StandbyPerDay
	switch m {
	case token.KeyFob:
		presses, standby = orInt(presses, KeyFobPresses), orFloat(standby, KeyFobStandbyPerDay)
	case token.DisplayCard:
		presses, standby = orInt(presses, DisplayCardPresses), orFloat(standby, DisplayCardStandbyPerDay)
	default:
		presses = -1
	}
	if presses > 0 {
		bat = hw.NewBattery(presses, standby, now)
	}
	fw, err := otpfw.New(otpfw.Config{
		Model: m, Clock: clk, Display: hw.NewDisplay(dt), Battery: bat, Faults: o.Faults,
		Flash: hw.NewFlash(otpfw.FlashKind, otpfw.FlashVersion),
	})
	if err != nil {
		return nil, nil, err
	}
	t.fw = fw
	return &t, seed, nil
}

func orInt(v, d int) int {
	if v == 0 {
		return d
	}
	return v
}

func orFloat(v, d float64) float64 {
	if v == 0 {
		return d
	}
	return v
}

// Model returns the token's model.
func (t *Token) Model() token.Model { return t.fw.Model() }

// Serial returns the token's serial (a virtual MFA's is its ARN).
func (t *Token) Serial() token.Serial { return t.fw.Serial() }

// ARN returns a virtual MFA's ARN (zero for hardware).
func (t *Token) ARN() token.MFAARN { return t.arn }

// ID is how IAM names the device: its serial, or a virtual MFA's ARN.
func (t *Token) ID() string {
	if t.Model() == token.Virtual {
		return t.arn.String()
	}
	return string(t.Serial())
}

// Spec returns the token's spec.
func (t *Token) Spec() token.Spec {
	s, _ := t.fw.Spec()
	return s
}

// Firmware returns the token's firmware.
func (t *Token) Firmware() *otpfw.Firmware { return t.fw }

// Clock returns the device's own (drifting) clock.
func (t *Token) Clock() *hw.Clock { return t.fw.Clock() }

// State returns the firmware's life-cycle state.
func (t *Token) State() otpfw.State { return t.fw.State() }

// Press presses the button and returns what the display shows. A virtual
// MFA "press" is opening the app.
func (t *Token) Press() (otpfw.Reading, error) { return t.fw.Press() }

// Display returns what the display shows now, and false when it is blank.
// A virtual MFA always shows its current code.
func (t *Token) Display() (string, bool) {
	if t.Model() == token.Virtual && t.State() == otpfw.Provisioned {
		r, err := t.fw.Press()
		return r.Code, err == nil
	}
	return t.fw.Shown()
}

// Advance moves the device's own clock by d (the offset grows), as if its
// crystal had gained d.
func (t *Token) Advance(d time.Duration) { t.fw.Clock().Adjust(d) }

// Tamper opens the case: the seed is wiped and the token is dead.
func (t *Token) Tamper() { t.fw.Tamper() }

// Seed returns the token's seed, as the owner of the emulated device (the
// party that provisioned it) knows it. The firmware itself gives no seed out
// after lock.
func (t *Token) Seed() (token.Seed, error) { return otpfw.ExtractSeed(t.fw.Flash()) }

// Key returns the token's otpauth key. Virtual MFA devices carry the issuer
// and account the IAM console uses ("Amazon Web Services", NAME@ACCOUNT);
// hardware tokens issuer "tokenlab" and their serial.
func (t *Token) Key() (token.Key, error) {
	seed, err := t.Seed()
	if err != nil {
		return token.Key{}, err
	}
	k := token.Key{Type: token.TOTP, Seed: seed, Spec: t.Spec(), Issuer: "tokenlab", Account: string(t.Serial())}
	if t.Model() == token.Virtual {
		k.Issuer, k.Account = "Amazon Web Services", t.arn.Name+"@"+t.arn.Account
	}
	return k, nil
}

// FactoryPort connects to the token's factory port: the returned end is the
// host's; close it to stop the firmware's side. Use it with
// otpfw.NewFactoryClient.
func (t *Token) FactoryPort() io.ReadWriteCloser {
	host, dev := net.Pipe()
	go func() {
		t.fw.ServeFactoryPort(context.Background(), dev)
		dev.Close()
	}()
	return host
}
