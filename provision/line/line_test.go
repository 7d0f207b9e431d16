package line

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tokenlab/tokenlab/emulator"
	"github.com/tokenlab/tokenlab/firmware-sim/otpfw"
	"github.com/tokenlab/tokenlab/provision"
	"github.com/tokenlab/tokenlab/token"
)

func batch(t *testing.T, n int) []provision.Record {
	t.Helper()
	b, err := provision.NewBatch(provision.BatchConfig{Model: token.KeyFob, Prefix: "LINE", Start: 1, Count: n})
	if err != nil {
		t.Fatal(err)
	}
	var recs []provision.Record
	for {
		r, err := b.Next()
		if err == io.EOF {
			return recs
		}
		recs = append(recs, r)
	}
}

// feed hands out copies, since the line wipes the seeds it has used.
func feed(recs []provision.Record) func() (provision.Record, error) {
	i := 0
	return func() (provision.Record, error) {
		if i == len(recs) {
			return provision.Record{}, io.EOF
		}
		r := recs[i]
		r.Seed = append(token.Seed(nil), r.Seed...)
		i++
		return r, nil
	}
}

func TestLine(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := emulator.NewManualClock(now)
	home, err := emulator.OpenHome(t.TempDir(), clock)
	if err != nil {
		t.Fatal(err)
	}
	recs := batch(t, 40)
	var got []Result
	sum, err := Run(context.Background(), Config{Stations: 3, DefectRate: 0.3, DefectSeed: 7, Time: clock, Store: home}, feed(recs), func(r Result) error {
		got = append(got, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Total != 40 || sum.Locked+sum.Failed != 40 || sum.Failed == 0 || sum.Locked == 0 {
		t.Fatalf("summary %+v", sum)
	}
	stations := map[int]bool{}
	reasons := map[string]int{}
	for i, r := range got {
		if r.Serial != recs[i].Serial {
			t.Fatalf("result %d is for %s, want %s (report out of order)", i, r.Serial, recs[i].Serial)
		}
		stations[r.Station] = true
		tok, err := home.Load(string(r.Serial))
		switch r.Outcome {
		case Locked:
			if err != nil {
				t.Fatalf("%s locked but not in the home: %v", r.Serial, err)
			}
			if tok.State() != otpfw.Provisioned {
				t.Errorf("%s is %v", r.Serial, tok.State())
			}
			rd, err := tok.Press()
			if err != nil {
				t.Fatal(err)
			}
			if want := recs[i].Spec.TOTP(recs[i].Seed, now); rd.Code != want {
				t.Errorf("%s shows %s, want %s", r.Serial, rd.Code, want)
			}
		case Failed:
			if !errors.Is(err, emulator.ErrNotFound) {
				t.Errorf("failed unit %s is in the home (%v)", r.Serial, err)
			}
			switch {
			case strings.Contains(r.Reason, DefectStuckClock):
				reasons[DefectStuckClock]++
			case strings.Contains(r.Reason, DefectBadFlash):
				reasons[DefectBadFlash]++
			default:
				t.Errorf("%s failed for %q", r.Serial, r.Reason)
			}
		}
	}
	if len(stations) < 2 {
		t.Errorf("only stations %v worked", stations)
	}
	if reasons[DefectStuckClock] == 0 || reasons[DefectBadFlash] == 0 {
		t.Errorf("defects seen: %v", reasons)
	}
	// Running the same serials again: the home refuses duplicates.
	sum2, err := Run(context.Background(), Config{Stations: 2, Time: clock, Store: home}, feed(recs[:3]), func(r Result) error { return nil })
	if err != nil || sum2.Locked != 3-countLocked(got[:3]) {
		t.Fatalf("second run: %+v, %v", sum2, err)
	}
}

func countLocked(rs []Result) int {
	n := 0
	for _, r := range rs {
		if r.Outcome == Locked {
			n++
		}
	}
	return n
}

func TestLineStopsOnReportError(t *testing.T) {
	boom := errors.New("disk full")
	_, err := Run(context.Background(), Config{Stations: 2}, feed(batch(t, 10)), func(Result) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if _, err := Run(context.Background(), Config{DefectRate: 2}, feed(nil), nil); err == nil {
		t.Error("defect rate 2 accepted")
	}
}
