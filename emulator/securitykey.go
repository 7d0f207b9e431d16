package emulator

import (
	"errors"
	"io"
	"sync"
	"time"

	"github.com/tokenlab/tokenlab/ctap/ctaphid"
	"github.com/tokenlab/tokenlab/firmware-sim/fidofw"
	"github.com/tokenlab/tokenlab/firmware-sim/hw"
)

// SecurityKeyOptions configure a [SecurityKey]. The zero value is a new key
// kept in memory whose user approves every touch.
type SecurityKeyOptions struct {
	// Image is the flash image file; it is created on first use and
	// written after every change, so the key keeps its credentials across
	// runs. "" keeps the key in memory.
	Image string
	// Presence is the user-presence policy (nil: approve at once).
	Presence fidofw.Presence
	// Time is the key's time source (nil: the system clock).
	Time hw.TimeSource
	// RNG is the key's random source (nil: crypto/rand).
	RNG io.Reader
	// Manufacturer signs a new key's attestation certificate (nil: a
	// manufacturer CA of the key's own).
	Manufacturer *fidofw.Manufacturer
	// TransactionTimeout overrides fidofw.DefaultTransactionTimeout.
	TransactionTimeout time.Duration
}

// ErrClosed is returned by reads and writes on a closed [SecurityKey] or
// [HIDPort].
var ErrClosed = errors.New("emulator: security key closed")

// portQueue is how many output reports a port holds for a slow reader;
// beyond it reports are dropped, as a HID driver's buffer drops them.
const portQueue = 4096

// SecurityKey is a simulated FIDO2 security key: fidofw firmware on
// simulated hardware, seen by the host as a HID device. It is itself an
// io.ReadWriter of 64-byte HID reports (Write sends an output report to
// the key, Read returns the next input report from it); [SecurityKey.Open]
// gives more host-side handles, each seeing every report the key sends,
// as each open hidraw file does.
type SecurityKey struct {
	auth  *fidofw.Authenticator
	hid   *fidofw.HID
	flash *fidofw.HWFlash
	def   *HIDPort

	mu     sync.Mutex
	ports  map[*HIDPort]struct{}
	subs   map[*func(ctaphid.Packet)]struct{}
	closed bool
}

// NewSecurityKey powers up a key, making it on first use.
func NewSecurityKey(opts SecurityKeyOptions) (*SecurityKey, error) {
	var fl *fidofw.HWFlash
	var err error
	if opts.Image != "" {
		if fl, err = fidofw.OpenHWFlash(opts.Image); err != nil {
			return nil, err
		}
	} else {
		fl = fidofw.NewHWFlash()
	}
	cfg := fidofw.Config{Flash: fl, RNG: opts.RNG, Presence: opts.Presence, Manufacturer: opts.Manufacturer}
	if opts.Time != nil {
		cfg.Clock = opts.Time
	}
	a, err := fidofw.New(cfg)
	if err != nil {
		return nil, err
	}
	k := &SecurityKey{auth: a, flash: fl, ports: map[*HIDPort]struct{}{}, subs: map[*func(ctaphid.Packet)]struct{}{}}
	k.hid = fidofw.NewHID(a, k.broadcast)
	k.hid.TransactionTimeout = opts.TransactionTimeout
	k.def = k.Open()
	return k, nil
}

// Authenticator returns the key's firmware, for tests that look inside.
func (k *SecurityKey) Authenticator() *fidofw.Authenticator { return k.auth }

// HID returns the key's CTAPHID device side.
func (k *SecurityKey) HID() *fidofw.HID { return k.hid }

// Flash returns the key's flash memory.
func (k *SecurityKey) Flash() *hw.Flash { return k.flash.F }

// SetPresence switches the user-presence policy at run time.
func (k *SecurityKey) SetPresence(p fidofw.Presence) { k.auth.SetPresence(p) }

// PowerCycle unplugs the key and plugs it back: the running request is
// dropped, channels are forgotten, and the firmware reboots from flash.
// Open ports stay open (the host re-initialises its channel).
func (k *SecurityKey) PowerCycle() error { return k.hid.PowerCycle() }

// Read returns the next 64-byte report from the key (see [HIDPort.Read]).
func (k *SecurityKey) Read(p []byte) (int, error) { return k.def.Read(p) }

// Write sends one report to the key (see [HIDPort.Write]).
func (k *SecurityKey) Write(p []byte) (int, error) { return k.def.Write(p) }

// SetReadDeadline bounds Read on the default port.
func (k *SecurityKey) SetReadDeadline(t time.Time) error { return k.def.SetReadDeadline(t) }

// Close unplugs the key for good: ports return ErrClosed. The flash image
// was saved at every change.
func (k *SecurityKey) Close() error {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return nil
	}
	k.closed = true
	ports := k.ports
	k.ports = nil
	k.mu.Unlock()
	k.hid.Close()
	for p := range ports {
		p.close()
	}
	return nil
}

// Open returns another host-side handle on the key.
func (k *SecurityKey) Open() *HIDPort {
	p := &HIDPort{key: k, in: make(chan ctaphid.Packet, portQueue), done: make(chan struct{})}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		p.close()
		return p
	}
	k.ports[p] = struct{}{}
	return p
}

// Subscribe calls f with every report the key sends, in order, until the
// returned function is called. f runs on the key's own goroutine and must
// not block or call back into the key; transports that forward reports
// elsewhere (UDP) use it instead of a port to save a goroutine handoff.
// Input reports still go in through a port's Write.
func (k *SecurityKey) Subscribe(f func(ctaphid.Packet)) (cancel func()) {
	k.mu.Lock()
	defer k.mu.Unlock()
	fp := &f
	k.subs[fp] = struct{}{}
	return func() {
		k.mu.Lock()
		delete(k.subs, fp)
		k.mu.Unlock()
	}
}

func (k *SecurityKey) broadcast(pkt ctaphid.Packet) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for f := range k.subs {
		(*f)(pkt)
	}
	for p := range k.ports {
		select {
		case p.in <- pkt:
		default: // nobody reading: dropped
		}
	}
}

// HIDPort is a host-side handle on a [SecurityKey]: an io.ReadWriteCloser
// of 64-byte reports.
type HIDPort struct {
	key  *SecurityKey
	in   chan ctaphid.Packet
	done chan struct{}
	once sync.Once

	dmu      sync.Mutex
	deadline time.Time
}

func (p *HIDPort) close() { p.once.Do(func() { close(p.done) }) }

// Write sends one report to the key. A report is 64 bytes; a 65-byte
// write starting with report ID 0 (hidapi's form) is accepted too, and a
// shorter one is padded with zeros.
func (p *HIDPort) Write(b []byte) (int, error) {
	select {
	case <-p.done:
		return 0, ErrClosed
	default:
	}
	r := b
	if len(r) == ctaphid.ReportLen+1 && r[0] == 0 {
		r = r[1:]
	}
	if len(r) > ctaphid.ReportLen {
		return 0, errors.New("emulator: HID report longer than 64 bytes")
	}
	p.key.hid.Receive(r)
	return len(b), nil
}

// ErrDeadline is returned by Read when the read deadline passes; it is a
// timeout in the net.Error sense.
var ErrDeadline error = deadlineError{}

type deadlineError struct{}

func (deadlineError) Error() string   { return "emulator: read deadline exceeded" }
func (deadlineError) Timeout() bool   { return true }
func (deadlineError) Temporary() bool { return true }

// SetReadDeadline makes Read fail with [ErrDeadline] after t; the zero
// time waits forever.
func (p *HIDPort) SetReadDeadline(t time.Time) error {
	p.dmu.Lock()
	p.deadline = t
	p.dmu.Unlock()
	return nil
}

// Read copies the next report from the key into b (64 bytes; a shorter b
// gets the report's start) and returns its length.
func (p *HIDPort) Read(b []byte) (int, error) {
	select {
	case pkt := <-p.in:
		return copy(b, pkt[:]), nil
	default:
	}
	p.dmu.Lock()
	dl := p.deadline
	p.dmu.Unlock()
	var timeout <-chan time.Time
	if !dl.IsZero() {
		d := time.Until(dl)
		if d <= 0 {
			return 0, ErrDeadline
		}
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case pkt := <-p.in:
		return copy(b, pkt[:]), nil
	case <-p.done:
		return 0, ErrClosed
	case <-timeout:
		return 0, ErrDeadline
	}
}

// detach stops the port receiving the key's reports; it can still write.
func (p *HIDPort) detach() {
	p.key.mu.Lock()
	delete(p.key.ports, p)
	p.key.mu.Unlock()
}

// Close detaches the port from the key.
func (p *HIDPort) Close() error {
	p.key.mu.Lock()
	delete(p.key.ports, p)
	p.key.mu.Unlock()
	p.close()
	return nil
}
