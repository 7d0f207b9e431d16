// Package battery is the FIDO conformance battery: named checks of a
// security key's CTAPHID transport, authenticatorGetInfo, MakeCredential,
// GetAssertion, ClientPIN, CredentialManagement and Reset, run the same way
// against a key in-process (a pipe), over UDP (a simulation) and over USB
// HID (a real key).
//
// A [Target] says how to reach the key and how to power-cycle it; on a real
// key the battery asks the operator (Target.Prompt) to touch or replug it.
//
//	rep := battery.Run(ctx, battery.Target{Open: open, PowerCycle: cycle}, battery.Options{})
//	rep.WriteTable(os.Stdout)
//	if rep.Failed() { ... }
package battery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/tokenlab/tokenlab/ctap"
	"github.com/tokenlab/tokenlab/ctap/ctaphid"
	"github.com/tokenlab/tokenlab/ctap/pinuv"
	"github.com/tokenlab/tokenlab/ctap/u2f"
)

// Target is the key under test.
type Target struct {
	// Open returns the key's CTAPHID device. The battery calls it once,
	// and again after a power cycle of a real key (a replug changes the
	// device); the Device it returns is closed by the battery.
	Open func(ctx context.Context) (*ctaphid.Device, error)
	// PowerCycle power-cycles a simulated key (UDP: the magic reboot
	// datagram; in-process: a hook). Nil means a real key: the battery
	// asks the operator to unplug and replug it and waits.
	PowerCycle func(ctx context.Context) error
	// HoldTouch, on a simulated key, makes the user not touch the key
	// (true) until released (false): the cancel and keepalive checks need
	// a request that waits. Nil on a simulation skips those checks; on a
	// real key the operator is asked not to touch.
	HoldTouch func(hold bool)
	// Prompt shows the operator an instruction ("touch your key"). Nil
	// for simulations; required for real keys.
	Prompt func(msg string)
}

func (t *Target) simulated() bool { return t.PowerCycle != nil }

// Options tune a run.
type Options struct {
	// Destructive enables checks that erase the key (reset).
	Destructive bool
	// PIN is the key's PIN, or the PIN to set on a key without one. Empty:
	// a simulation gets DefaultPIN; on a real key without a PIN the PIN
	// checks are skipped rather than leave a PIN the owner does not know.
	PIN string
	// Timeout bounds each check (0: 10 s on a simulation, 60 s on a real
	// key, which waits for touches and replugs).
	Timeout time.Duration
	// Only, when set, runs just the checks whose names it lists
	// (prerequisites, and hid.init, info.get and pin.set, still run but
	// are not reported).
	Only map[string]bool
	// Log, if set, receives a line as each check ends.
	Log io.Writer
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// DefaultPIN is set on a simulated key that has none when Options.PIN is empty.
const DefaultPIN = "1234"

// RPID is the relying party the battery's credentials belong to.
const RPID = "battery.tokenlab.test"

// Outcome of a check.
type Outcome string

const (
	Pass Outcome = "pass"
	Fail Outcome = "fail"
	Skip Outcome = "skip"
)

// Result is one check's outcome.
type Result struct {
	Name     string        `json:"name"`
	Family   string        `json:"family"`
	Summary  string        `json:"summary"`
	Outcome  Outcome       `json:"outcome"`
	Detail   string        `json:"detail,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// Report is a run's outcome.
type Report struct {
	Key      KeyInfo       `json:"key"`
	Results  []Result      `json:"results"`
	Started  time.Time     `json:"started"`
	Duration time.Duration `json:"duration_ns"`
}

// KeyInfo identifies the key tested.
type KeyInfo struct {
	AAGUID    string   `json:"aaguid,omitempty"`
	Versions  []string `json:"versions,omitempty"`
	Simulated bool     `json:"simulated"`
}

// Failed reports whether any check failed.
func (r *Report) Failed() bool {
	for _, x := range r.Results {
		if x.Outcome == Fail {
			return true
		}
	}
	return false
}

// Counts returns the number of passed, failed and skipped checks.
func (r *Report) Counts() (pass, fail, skip int) {
	for _, x := range r.Results {
		switch x.Outcome {
		case Pass:
			pass++
		case Fail:
			fail++
		default:
			skip++
		}
	}
	return
}

// Get returns the result of the named check.
func (r *Report) Get(name string) (Result, bool) {
	for _, x := range r.Results {
		if x.Name == name {
			return x, true
		}
	}
	return Result{}, false
}

// skipError marks a check as skipped, with the reason.
type skipError struct{ reason string }

func (e *skipError) Error() string { return e.reason }

func skipf(format string, a ...any) error { return &skipError{fmt.Sprintf(format, a...)} }

// check is one named check.
type check struct {
	name        string
	family      string
	summary     string
	needs       []string // checks that must have passed
	destructive bool
	run         func(ctx context.Context, s *session) error
}

// Checks returns the names and summaries of all checks, in run order.
func Checks() []Result {
	var out []Result
	for _, c := range allChecks() {
		out = append(out, Result{Name: c.name, Family: c.family, Summary: c.summary})
	}
	return out
}

// Run runs the battery. It never panics on a misbehaving key: each check
// fails with a reason instead.
func Run(ctx context.Context, t Target, opts Options) *Report {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	rep := &Report{Started: now()}
	s := &session{t: t, opts: opts, passed: map[string]bool{}}
	defer s.close()
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
		if !t.simulated() {
			timeout = 60 * time.Second
		}
	}
	rep.Key.Simulated = t.simulated()
	checks := allChecks()
	wanted := map[string]bool{}
	if opts.Only != nil {
		var mark func(string)
		byName := map[string]*check{}
		for i := range checks {
			byName[checks[i].name] = &checks[i]
		}
		mark = func(n string) {
			if wanted[n] {
				return
			}
			wanted[n] = true
			if c := byName[n]; c != nil {
				for _, d := range c.needs {
					mark(d)
				}
			}
		}
		// The channel, getInfo and the PIN are every check's groundwork.
		for _, n := range []string{"hid.init", "info.get", "pin.set"} {
			mark(n)
		}
		for n := range opts.Only {
			mark(n)
		}
	}
	for _, c := range checks {
		if opts.Only != nil && !wanted[c.name] {
			continue
		}
		res := Result{Name: c.name, Family: c.family, Summary: c.summary}
		start := now()
		err := func() (err error) {
			if c.destructive && !opts.Destructive {
				return skipf("destructive: run with --destructive")
			}
			for _, d := range c.needs {
				if !s.passed[d] {
					return skipf("needs %s", d)
				}
			}
			if c.name != "hid.init" && s.ch == nil {
				return skipf("no channel to the key")
			}
			cctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("check panicked: %v", r)
				}
			}()
			return c.run(cctx, s)
		}()
		res.Duration = now().Sub(start)
		var se *skipError
		switch {
		case err == nil:
			res.Outcome = Pass
			s.passed[c.name] = true
		case errors.As(err, &se):
			res.Outcome, res.Detail = Skip, se.reason
		default:
			res.Outcome, res.Detail = Fail, err.Error()
		}
		if opts.Only == nil || opts.Only[c.name] {
			rep.Results = append(rep.Results, res)
			if opts.Log != nil {
				fmt.Fprintf(opts.Log, "%-4s %-28s %s\n", res.Outcome, res.Name, res.Detail)
			}
		}
		if c.name == "info.get" && s.info != nil {
			rep.Key.AAGUID = fmt.Sprintf("%x", s.info.AAGUID)
			rep.Key.Versions = s.info.Versions
		}
		if ctx.Err() != nil {
			break
		}
	}
	rep.Duration = now().Sub(rep.Started)
	return rep
}

// session is the state shared by the checks of one run.
type session struct {
	t      Target
	opts   Options
	passed map[string]bool

	dev    *ctaphid.Device
	ch     *ctaphid.Channel
	client *ctap.Client
	info   *ctap.GetInfoResponse
	proto  pinuv.Protocol
	pin    string // the key's PIN once known

	// Credentials made by the battery.
	cred     *madeCred   // non-discoverable ES256
	rk       []*madeCred // discoverable, same RP
	prompted bool

	mcResp  *ctap.MakeCredentialResponse
	mcCDH   []byte
	seen    map[string]bool
	gaCDH   []byte
	gaLeft  int
	u2f     *u2f.RegisterResponse
	cmCount int
}

type madeCred struct {
	id   []byte
	pub  *ctap.COSEKey
	user ctap.UserEntity
}

func (s *session) close() {
	if s.dev != nil {
		s.dev.Close()
	}
}

func (s *session) prompt(msg string) {
	if s.t.Prompt != nil {
		s.t.Prompt(msg)
	}
}

// attach opens a channel on s.dev and wires the client.
func (s *session) attach(ctx context.Context) error {
	ch, err := s.dev.Open(ctx)
	if err != nil {
		return err
	}
	ch.OnKeepalive = func(st ctaphid.KeepaliveStatus) {
		if st == ctaphid.StatusUPNeeded && !s.prompted {
			s.prompted = true
			s.prompt("touch your key")
		}
	}
	s.ch = ch
	s.client = ctap.NewClient(ch)
	s.client.OnUserPresence = func() { s.prompt("touch your key") }
	return nil
}

// powerCycle power-cycles the key and opens a new channel.
func (s *session) powerCycle(ctx context.Context) error {
	if s.t.simulated() {
		if err := s.t.PowerCycle(ctx); err != nil {
			return fmt.Errorf("power cycle: %w", err)
		}
		var err error
		for range 20 { // the key reboots; INIT may be lost meanwhile
			if err = s.attach(ctx); err == nil {
				return nil
			}
			if ctx.Err() != nil {
				break
			}
		}
		return fmt.Errorf("no channel after power cycle: %w", err)
	}
	s.prompt("unplug your key and plug it back in")
	if s.dev != nil {
		s.dev.Close()
		s.dev, s.ch = nil, nil
	}
	// Wait for the key to go away and come back: Open fails meanwhile.
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	time.Sleep(time.Second)
	for {
		d, err := s.t.Open(ctx)
		if err == nil {
			s.dev = d
			if err = s.attach(ctx); err == nil {
				return nil
			}
			d.Close()
			s.dev = nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("key not back after replug: %w", ctx.Err())
		case <-tick.C:
		}
	}
}

// touch runs f once a touch is expected: it resets the prompt so the
// KEEPALIVE callback asks again.
func (s *session) touch(f func() error) error {
	s.prompted = false
	return f()
}
