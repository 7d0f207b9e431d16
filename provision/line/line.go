// Package line is the simulated production line: stations that take seed
// records one by one, connect each to a token in factory state through its
// factory port (otpfw's line protocol), set serial, seed, spec and time,
// check the token's self-test code against the seed, and lock it. Units
// that fail — a stuck clock, a bad flash write, injected at a chosen
// defect rate — are reported with the reason and left unlocked; locked
// units are handed to a [Store] (the emulator's home directory), where
// "tokenlab fob press SERIAL" finds them.
//
//	sum, err := line.Run(ctx, line.Config{Stations: 4, Store: home}, r.Next, func(res line.Result) error {
//		return report.Write(res)
//	})
package line

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/tokenlab/tokenlab/emulator"
	"github.com/tokenlab/tokenlab/firmware-sim/hw"
	"github.com/tokenlab/tokenlab/firmware-sim/otpfw"
	"github.com/tokenlab/tokenlab/provision"
	"github.com/tokenlab/tokenlab/token"
)

// Store receives the tokens the line locks. *emulator.Home is one.
type Store interface {
	Create(*emulator.Token) error
}

// Config is a line's set-up.
type Config struct {
	// Stations working at once (default 1).
	Stations int
	// DefectRate is the share of units (0 to 1) built with a defect: half
	// of them with a stuck clock, half with a bad flash write.
	DefectRate float64
	// DefectSeed makes the choice of defective units repeatable.
	DefectSeed uint64
	// Time is the real time the tokens live in (default the system clock);
	// each token's clock is set to it.
	Time hw.TimeSource
	// Store receives locked tokens; nil discards them.
	Store Store
	// Model is used for records that name none (default key fob).
	Model token.Model
}

// Outcome is how a unit left the line.
type Outcome string

const (
	Locked Outcome = "locked" // provisioned, self-test passed, locked
	Failed Outcome = "failed" // left unlocked; Reason says why
)

// Result is one unit's line in the report.
type Result struct {
	Serial  token.Serial `json:"serial"`
	Station int          `json:"station"`
	Outcome Outcome      `json:"outcome"`
	Reason  string       `json:"reason,omitempty"`
}

// Summary counts a run.
type Summary struct {
	Total  int `json:"total"`
	Locked int `json:"locked"`
	Failed int `json:"failed"`
}

// Defects the line can inject, named as the report shows them.
const (
	DefectStuckClock = "stuck clock"
	DefectBadFlash   = "bad flash write"
)

type job struct {
	n   int
	rec provision.Record
}

type done struct {
	n   int
	res Result
	err error // a failure of the line itself (the store), not of the unit
}

// Run feeds the records next returns (until io.EOF) through the stations
// and calls report once per unit, in the order of the records. It returns
// the first error of next, report or the store, or ctx's; unit failures
// are results, not errors.
func Run(ctx context.Context, cfg Config, next func() (provision.Record, error), report func(Result) error) (Summary, error) {
	if cfg.Stations <= 0 {
		cfg.Stations = 1
	}
	if cfg.DefectRate < 0 || cfg.DefectRate > 1 {
		return Summary{}, fmt.Errorf("line: defect rate %g is not between 0 and 1", cfg.DefectRate)
	}
	if cfg.Time == nil {
		cfg.Time = hw.SystemTime
	}
	if cfg.Model == 0 {
		cfg.Model = token.KeyFob
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan job, cfg.Stations)
	results := make(chan done, cfg.Stations)
	var wg sync.WaitGroup
	for st := 1; st <= cfg.Stations; st++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				res, err := cfg.station(st, j.n, j.rec)
				j.rec.Seed.Wipe()
				select {
				case results <- done{n: j.n, res: res, err: err}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	feedErr := make(chan error, 1)
	go func() {
		defer close(jobs)
		for n := 0; ; n++ {
			rec, err := next()
			if err == io.EOF {
				feedErr <- nil
				return
			}
			if err != nil {
				feedErr <- err
				return
			}
			select {
			case jobs <- job{n: n, rec: rec}:
			case <-ctx.Done():
				feedErr <- ctx.Err()
				return
			}
		}
	}()
	go func() {
		wg.Wait()
		close(results)
	}()

	var sum Summary
	var firstErr error
	pending := map[int]Result{}
	want := 0
	for d := range results {
		if firstErr != nil {
			continue
		}
		if d.err != nil {
			firstErr = d.err
			cancel()
			continue
		}
		pending[d.n] = d.res
		for {
			r, ok := pending[want]
			if !ok {
				break
			}
			delete(pending, want)
			want++
			sum.Total++
			if r.Outcome == Locked {
				sum.Locked++
			} else {
				sum.Failed++
			}
			if err := report(r); err != nil {
				firstErr = err
				cancel()
				break
			}
		}
	}
	if err := <-feedErr; firstErr == nil && err != nil {
		firstErr = err
	}
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	return sum, firstErr
}

// defect picks unit n's defect, repeatably.
func (cfg *Config) defect(n int) otpfw.Faults {
	if cfg.DefectRate == 0 {
		return otpfw.Faults{}
	}
	r := rand.New(rand.NewPCG(cfg.DefectSeed, uint64(n)))
	if r.Float64() >= cfg.DefectRate {
		return otpfw.Faults{}
	}
	if r.IntN(2) == 0 {
		return otpfw.Faults{StuckClock: true}
	}
	return otpfw.Faults{BadFlashWrite: true}
}

// station provisions one unit. A unit's failure is a Failed result; an
// error is returned only when the store cannot take a locked unit.
func (cfg *Config) station(st, n int, rec provision.Record) (Result, error) {
	res := Result{Serial: rec.Serial, Station: st, Outcome: Failed}
	model := rec.Model
	if model == 0 {
		model = cfg.Model
	}
	if !model.Hardware() {
		res.Reason = fmt.Sprintf("model %v is not a hardware token", model)
		return res, nil
	}
	if rec.Type == token.HOTP {
		res.Reason = "HOTP tokens are not made on this line"
		return res, nil
	}
	tok, err := emulator.NewFactory(model, emulator.Options{Time: cfg.Time, Spec: rec.Spec, Faults: cfg.defect(n)})
	if err != nil {
		res.Reason = "building the unit: " + err.Error()
		return res, nil
	}
	port := tok.FactoryPort()
	defer port.Close()
	if reason := provisionUnit(otpfw.NewFactoryClient(port), rec, cfg.Time.Now()); reason != "" {
		res.Reason = reason
		return res, nil
	}
	if cfg.Store != nil {
		if err := cfg.Store.Create(tok); err != nil {
			if errors.Is(err, emulator.ErrExists) {
				res.Reason = "a token with this serial is already in the store"
				return res, nil
			}
			return res, fmt.Errorf("line: storing %s: %w", rec.Serial, err)
		}
	}
	res.Outcome, res.Reason = Locked, ""
	return res, nil
}

// provisionUnit runs the factory-port dialogue and returns why the unit
// failed, or "" once it is locked.
func provisionUnit(c *otpfw.FactoryClient, rec provision.Record, now time.Time) string {
	id, err := c.Identify()
	if err != nil {
		return "identify: " + why(err)
	}
	if id.State != otpfw.Factory {
		return fmt.Sprintf("unit is %v, not in factory state", id.State)
	}
	steps := []struct {
		name string
		do   func() error
	}{
		{"set serial", func() error { return c.SetSerial(rec.Serial) }},
		{"set seed", func() error { return c.SetSeed(rec.Seed) }},
		{"set spec", func() error { return c.SetSpec(rec.Spec) }},
		{"set time", func() error { return c.SetTime(now) }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			return s.name + ": " + why(err)
		}
	}
	code, devTime, err := c.SelfTest()
	if err != nil {
		return "self-test: " + why(err)
	}
	if d := devTime.Sub(now); d < -time.Minute || d > time.Minute {
		return fmt.Sprintf("self-test: device clock is off by %v", d.Round(time.Second))
	}
	if want := rec.Spec.TOTP(rec.Seed, devTime); code != want {
		return "self-test: the code does not match the seed"
	}
	if err := c.Lock(); err != nil {
		return "lock: " + why(err)
	}
	st, err := c.Status()
	if err != nil {
		return "status after lock: " + why(err)
	}
	if st.State != otpfw.Provisioned {
		return fmt.Sprintf("unit is %v after lock", st.State)
	}
	return ""
}

// why names a firmware error the way a line operator reads it.
func why(err error) string {
	switch {
	case errors.Is(err, otpfw.ErrClock):
		return DefectStuckClock + " (" + err.Error() + ")"
	case errors.Is(err, otpfw.ErrFlash):
		return DefectBadFlash + " (" + err.Error() + ")"
	}
	return err.Error()
}
